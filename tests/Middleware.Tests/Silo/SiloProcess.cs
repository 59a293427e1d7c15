using System.Diagnostics;
using System.Net;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;
using Middleware.Protocol;

namespace Middleware.Tests.Silo;

/// <summary>
/// The silo host (<c>dotnet Middleware.Silo.dll ...</c>) as a child process: started with the given options, ready
/// once it printed its listening line (parsed for the bound ports), killed on dispose.
/// </summary>
internal sealed partial class SiloProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private static readonly HttpClient MetricsHttp = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly TaskCompletionSource<Match> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _stdoutClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _stderrClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private SiloProcess(Process process) => _process = process;

    public IPEndPoint Protocol { get; private set; } = new(IPAddress.Loopback, 0);

    public IPEndPoint Http { get; private set; } = new(IPAddress.Loopback, 0);

    public string SiloId { get; private set; } = "";

    /// <summary>The process id.</summary>
    public int Pid => _process.Id;

    /// <summary>The process's resident memory now, in MiB (Linux /proc), for tests that bound it.</summary>
    public double ResidentMiB()
    {
        var line = File.ReadLines($"/proc/{_process.Id}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) / 1024.0;
    }

    public string ListeningLine { get; private set; } = "";

    public string Stdout { get { lock (_stdout) return _stdout.ToString(); } }

    public string Stderr { get { lock (_stderr) return _stderr.ToString(); } }

    /// <summary>A ledger for silos of tests that do not look at it: one SQLite file per test process (it creates no table).</summary>
    public static string DefaultLedger { get; } = $"sqlite:{Path.Combine(Path.GetTempPath(), $"mw-test-ledger-{Environment.ProcessId}.db")}";

    /// <summary>The path of a sample component assembly the silo can load (the test's copy of Bank.dll).</summary>
    public static string BankAssembly => typeof(Bank.Account).Assembly.Location;

    /// <summary>
    /// Starts the silo with <c>--port 0 --http-port 0</c> on <paramref name="store"/> and waits for its listening line. The
    /// sample's Account declares the "ledger" back end, so unless <paramref name="extra"/> configures it, the silo gets
    /// <see cref="DefaultLedger"/>.
    /// </summary>
    public static Task<SiloProcess> StartAsync(string store, params string[] extra) => StartAsync(store, null, extra);

    /// <summary>As <see cref="StartAsync(string, string[])"/>, with environment variables for the child (key files, say).</summary>
    public static async Task<SiloProcess> StartAsync(string store, IDictionary<string, string>? environment, params string[] extra)
    {
        string[] ledger = extra.Contains("--Silo:Backends:ledger") ? [] : ["--Silo:Backends:ledger", DefaultLedger];
        var silo = Launch(["--store", store, "--port", "0", "--http-port", "0", "--components", BankAssembly, .. ledger, .. extra], environment);
        await silo.WaitListeningAsync();
        return silo;
    }

    /// <summary>Starts the silo with exactly <paramref name="args"/>; does not wait for anything.</summary>
    public static SiloProcess Launch(IEnumerable<string> args, IDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo(Bank.Cluster.SiloBuild.LocateDotnet())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(Bank.Cluster.SiloBuild.LocateDll());
        foreach (var arg in args) info.ArgumentList.Add(arg);
        // The child must see only the settings a test gives it, not the developer's.
        foreach (var name in info.Environment.Keys.Where(k => k.StartsWith("MIDDLEWARE_", StringComparison.Ordinal)).ToList())
            info.Environment.Remove(name);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) info.Environment[name] = value;

        var process = new Process { StartInfo = info };
        var silo = new SiloProcess(process);
        process.OutputDataReceived += (_, e) => silo.OnStdout(e.Data);
        process.ErrorDataReceived += (_, e) => silo.OnStderr(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return silo;
    }

    /// <summary>Waits for the exit (and the end of both pipes) and returns the exit code.</summary>
    public async Task<int> WaitForExitAsync()
    {
        using var timeout = new CancellationTokenSource(StartTimeout);
        await _process.WaitForExitAsync(timeout.Token);
        await Task.WhenAll(_stdoutClosed.Task, _stderrClosed.Task).WaitAsync(timeout.Token);
        return _process.ExitCode;
    }

    public Task<MiddlewareConnection> ConnectAsync(TimeSpan? requestTimeout = null) =>
        MiddlewareConnection.ConnectAsync(Protocol, new ConnectionOptions
        {
            SenderId = "silo-test-client",
            RequestTimeout = requestTimeout ?? TimeSpan.FromSeconds(30),
        });

    /// <summary>The first sample (labels or not) of <paramref name="name"/> in the silo's <c>/metrics</c>; throws when the silo does not answer or lacks it.</summary>
    public async Task<double> ReadMetricAsync(string name)
    {
        var text = await MetricsHttp.GetStringAsync(new Uri($"http://{Http}/metrics"));
        var line = text.Split('\n').FirstOrDefault(l => l.StartsWith(name + " ", StringComparison.Ordinal) || l.StartsWith(name + "{", StringComparison.Ordinal))
            ?? throw new InvalidOperationException($"{SiloId}'s /metrics has no sample of {name}:\n{text}");
        return double.Parse(line.AsSpan(line.LastIndexOf(' ') + 1), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Polls <paramref name="name"/> in <c>/metrics</c> until it is at least <paramref name="atLeast"/>; throws after <paramref name="patience"/>.</summary>
    public async Task WaitForMetricAsync(string name, double atLeast, TimeSpan patience)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        double value;
        while ((value = await ReadMetricAsync(name)) < atLeast)
        {
            if (started.Elapsed > patience) throw new TimeoutException($"{SiloId}'s {name} stayed at {value} (< {atLeast}) for {patience.TotalSeconds:0} s.");
            await Task.Delay(20);
        }
    }

    /// <summary>SIGTERM, as a service manager stops a silo: the host shuts down gracefully (checkpoints, closes the store).</summary>
    public void Terminate()
    {
        if (kill(_process.Id, SigTerm) != 0)
            throw new InvalidOperationException($"kill({_process.Id}, SIGTERM) failed with errno {Marshal.GetLastPInvokeError()}.");
    }

    private const int SigTerm = 15;
    private const int SigStop = 19;
    private const int SigCont = 18;

    /// <summary>SIGSTOP: the process freezes with its sockets open, like a long GC pause or a VM stall.</summary>
    public void Pause() => Signal(SigStop, "SIGSTOP");

    /// <summary>SIGCONT: the paused process runs on, unaware of the time it lost.</summary>
    public void Resume() => Signal(SigCont, "SIGCONT");

    /// <summary>The protocol address as the silo announces it (<c>host:port</c>).</summary>
    public string Address => $"{Protocol.Address}:{Protocol.Port}";

    private void Signal(int signal, string name)
    {
        if (kill(_process.Id, signal) != 0)
            throw new InvalidOperationException($"kill({_process.Id}, {name}) failed with errno {Marshal.GetLastPInvokeError()}.");
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);

    /// <summary>SIGKILL: no shutdown code runs, like a crash or a power cut.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await KillAsync();
        }
        catch (InvalidOperationException e)
        {
            // The process never started (Start threw): nothing to kill, but say so in the test output.
            Trace.WriteLine($"silo process not killed: {e.Message}");
        }

        _process.Dispose();
    }

    public async Task WaitListeningAsync()
    {
        var exited = _process.WaitForExitAsync();
        var first = await Task.WhenAny(_listening.Task, exited).WaitAsync(StartTimeout);
        if (first != _listening.Task)
            throw new InvalidOperationException($"The silo exited with {_process.ExitCode} before listening.\nstdout:\n{Stdout}\nstderr:\n{Stderr}");
        var match = await _listening.Task;
        SiloId = match.Groups["id"].Value;
        Protocol = IPEndPoint.Parse(match.Groups["protocol"].Value);
        Http = IPEndPoint.Parse(match.Groups["http"].Value);
        ListeningLine = match.Value;
    }

    private void OnStdout(string? line)
    {
        if (line is null)
        {
            _stdoutClosed.TrySetResult();
            return;
        }

        lock (_stdout) _stdout.AppendLine(line);
        var match = ListeningPattern().Match(line);
        if (match.Success) _listening.TrySetResult(match);
    }

    private void OnStderr(string? line)
    {
        if (line is null)
        {
            _stderrClosed.TrySetResult();
            return;
        }

        lock (_stderr) _stderr.AppendLine(line);
    }

    [GeneratedRegex(@"^silo (?<id>\S+) listening: protocol (?<protocol>[^,]+), http (?<http>[^,]+), store (?<store>.+), components (?<components>.+)$")]
    private static partial Regex ListeningPattern();
}
