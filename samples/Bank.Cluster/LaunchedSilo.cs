using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Bank.Cluster;

/// <summary>
/// One silo child process (<c>dotnet Middleware.Silo.dll ...</c>): ready once it printed its listening line, which gives
/// its id and bound ports. <see cref="Kill"/> is SIGKILL (a crash: no shutdown code runs), <see cref="StopAsync"/> is
/// SIGTERM (graceful: listeners drain, components are checkpointed and released). Disposing kills it.
/// </summary>
public sealed partial class LaunchedSilo : IAsyncDisposable
{
    private const int KeptLines = 400;
    private const int SigTerm = 15;
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(5) };
    private readonly Process _process;
    private readonly Queue<string> _stdout = new();
    private readonly Queue<string> _stderr = new();
    private readonly Action<string, string>? _onOutput;
    private readonly TaskCompletionSource<Match> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _outputClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _errorClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _killed;

    private LaunchedSilo(string id, Process process, Action<string, string>? onOutput)
    {
        Id = id;
        _process = process;
        _onOutput = onOutput;
    }

    /// <summary>The silo id it was started with (<c>--silo-id</c>), also the owner recorded in the store for its components.</summary>
    public string Id { get; }

    /// <summary>The process id.</summary>
    public int Pid { get; private set; }

    /// <summary>The bound protocol endpoint (clients and silos).</summary>
    public IPEndPoint Protocol { get; private set; } = new(IPAddress.Loopback, 0);

    /// <summary>The protocol endpoint as a client gateway (<c>host:port</c>).</summary>
    public string ProtocolAddress => $"{Protocol.Address}:{Protocol.Port.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>The bound HTTP endpoint (<c>/health</c>, <c>/metrics</c>).</summary>
    public IPEndPoint HttpEndpoint { get; private set; } = new(IPAddress.Loopback, 0);

    /// <summary>The line the silo printed when it was ready.</summary>
    public string ListeningLine { get; private set; } = "";

    /// <summary>True once the process ended (killed, stopped or crashed).</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>True when this launcher sent it SIGKILL (so its death is expected).</summary>
    public bool KilledByLauncher => Volatile.Read(ref _killed) != 0;

    /// <summary>The last lines of its stdout.</summary>
    public string Stdout => Tail(_stdout);

    /// <summary>The last lines of its stderr.</summary>
    public string Stderr => Tail(_stderr);

    /// <summary>CPU time the process used so far (user + system); zero once it has exited.</summary>
    public TimeSpan CpuTime
    {
        get
        {
            try
            {
                _process.Refresh();
                return _process.HasExited ? TimeSpan.Zero : _process.TotalProcessorTime;
            }
            catch (Exception e) when (e is InvalidOperationException or Win32Exception or NotSupportedException)
            {
                return TimeSpan.Zero;
            }
        }
    }

    /// <summary>A silo environment entry that starts that silo under <c>nice -n VALUE</c> (not passed to the silo).</summary>
    public const string NiceVariable = "BANK_CLUSTER_NICE";

    /// <summary>Starts <c>dotnet <paramref name="dll"/> <paramref name="args"/></c> without waiting; see <see cref="WaitListeningAsync"/>.</summary>
    internal static LaunchedSilo Start(string id, string dotnet, string dll, IEnumerable<string> args, IReadOnlyDictionary<string, string> environment, Action<string, string>? onOutput)
    {
        // NiceVariable in the silo's environment: started under `nice -n N` (a benchmark measuring what a starting silo's CPU
        // costs the others); the variable itself is not passed on.
        var nice = environment.TryGetValue(NiceVariable, out var n) && int.TryParse(n, out var level) ? level : (int?)null;
        var info = new ProcessStartInfo(nice is null ? dotnet : "nice")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            UseShellExecute = false,
        };
        if (nice is { } niceness)
        {
            info.ArgumentList.Add("-n");
            info.ArgumentList.Add(niceness.ToString(System.Globalization.CultureInfo.InvariantCulture));
            info.ArgumentList.Add(dotnet);
        }

        info.ArgumentList.Add(dll);
        foreach (var arg in args) info.ArgumentList.Add(arg);
        // The silo must see only the settings given to it, not the ones of whoever runs this program.
        foreach (var name in info.Environment.Keys.Where(k => k.StartsWith("MIDDLEWARE_", StringComparison.Ordinal)).ToList())
            info.Environment.Remove(name);
        foreach (var (name, value) in environment.Where(e => e.Key != NiceVariable)) info.Environment[name] = value;

        var process = new Process { StartInfo = info };
        var silo = new LaunchedSilo(id, process, onOutput);
        process.OutputDataReceived += (_, e) => silo.OnLine(e.Data, stdout: true);
        process.ErrorDataReceived += (_, e) => silo.OnLine(e.Data, stdout: false);
        process.Start();
        silo.Pid = process.Id;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return silo;
    }

    /// <summary>
    /// Waits for the listening line; throws <see cref="SiloStartException"/> (with the silo's output) when the process
    /// exits first or <paramref name="timeout"/> passes.
    /// </summary>
    public async Task WaitListeningAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        var exited = _process.WaitForExitAsync(limit.Token);
        try
        {
            var first = await Task.WhenAny(_listening.Task, exited).WaitAsync(limit.Token).ConfigureAwait(false);
            if (first != _listening.Task)
            {
                // Let the pipes drain so the error carries the silo's last words.
                await Task.WhenAll(_outputClosed.Task, _errorClosed.Task).WaitAsync(TimeSpan.FromSeconds(2), CancellationToken.None).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                throw new SiloStartException($"Silo {Id} (pid {Pid}) exited with code {_process.ExitCode} before listening.{Describe()}");
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new SiloStartException($"Silo {Id} (pid {Pid}) did not print its listening line within {timeout.TotalSeconds:0} s.{Describe()}");
        }

        var match = await _listening.Task.ConfigureAwait(false);
        Protocol = IPEndPoint.Parse(match.Groups["protocol"].Value.Trim());
        HttpEndpoint = IPEndPoint.Parse(match.Groups["http"].Value.Trim());
        ListeningLine = match.Value;
        if (match.Groups["id"].Value != Id)
            throw new SiloStartException($"Silo started as {Id} announced itself as {match.Groups["id"].Value}: {ListeningLine}");
    }

    /// <summary>SIGKILL (<see cref="Process.Kill(bool)"/> is SIGKILL on Linux): no shutdown code runs, like a crash or a power cut.</summary>
    public void Kill()
    {
        Interlocked.Exchange(ref _killed, 1);
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // It exited between the check and the kill: nothing left to do.
        }
    }

    /// <summary>Waits until the process has exited (after <see cref="Kill"/> or on its own).</summary>
    public Task WaitForExitAsync(CancellationToken cancellationToken = default) => _process.WaitForExitAsync(cancellationToken);

    /// <summary>
    /// SIGTERM, as a service manager stops a silo, then waits up to <paramref name="timeout"/> (default 20 s) for a graceful
    /// exit; past it the silo is killed. Returns the exit code (137 style codes mean it had to be killed).
    /// </summary>
    public async Task<int> StopAsync(TimeSpan? timeout = null)
    {
        if (_process.HasExited) return _process.ExitCode;
        if (kill(Pid, SigTerm) != 0 && !_process.HasExited)
            throw new InvalidOperationException($"kill({Pid}, SIGTERM) failed with errno {Marshal.GetLastPInvokeError()}.");
        using var limit = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(20));
        try
        {
            await _process.WaitForExitAsync(limit.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            Kill();
            await _process.WaitForExitAsync().ConfigureAwait(false);
            throw new TimeoutException($"Silo {Id} (pid {Pid}) did not stop within {(timeout ?? TimeSpan.FromSeconds(20)).TotalSeconds:0} s of SIGTERM and was killed.{Describe()}");
        }

        return _process.ExitCode;
    }

    /// <summary>The silo ids in this silo's live view (<c>/health</c> <c>liveSilos</c>); empty when it does not answer.</summary>
    public async Task<IReadOnlyList<string>> LiveSilosAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            using var response = await Http.GetAsync(new Uri($"http://{HttpEndpoint}/health"), cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode) return [];
            using var doc = JsonDocument.Parse(await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false));
            return doc.RootElement.TryGetProperty("liveSilos", out var live) && live.ValueKind == JsonValueKind.Array
                ? [.. live.EnumerateArray().Select(e => e.GetString() ?? "")]
                : [];
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException or IOException)
        {
            return [];
        }
    }

    /// <summary>The silo's <c>/metrics</c> as name → value (Prometheus text, samples without labels); empty when it does not answer.</summary>
    public async Task<IReadOnlyDictionary<string, double>> ReadMetricsAsync(CancellationToken cancellationToken = default)
    {
        var metrics = new Dictionary<string, double>(StringComparer.Ordinal);
        try
        {
            var text = await Http.GetStringAsync(new Uri($"http://{HttpEndpoint}/metrics"), cancellationToken).ConfigureAwait(false);
            foreach (var line in text.Split('\n'))
            {
                if (line.Length == 0 || line[0] == '#') continue;
                var space = line.LastIndexOf(' ');
                if (space <= 0) continue;
                if (double.TryParse(line.AsSpan(space + 1), NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
                    metrics[line[..space]] = value;
            }
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
        {
            // A dead or stopping silo has no metrics; the caller sees an empty set.
        }

        return metrics;
    }

    /// <summary>Kills the silo if it still runs (see <see cref="Kill"/>) and releases the process handle.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            Kill();
            if (!_process.HasExited) await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException)
        {
            Trace.WriteLine($"silo {Id} (pid {Pid}) not confirmed dead: {e.Message}");
        }

        _process.Dispose();
    }

    /// <inheritdoc />
    public override string ToString() => $"{Id} (pid {Pid}, {ProtocolAddress})";

    private string Describe()
    {
        var stderr = Stderr;
        var stdout = Stdout;
        return (stderr.Length > 0 ? $"\nstderr:\n{stderr}" : "\n(stderr empty)") + (stdout.Length > 0 ? $"\nstdout:\n{stdout}" : "");
    }

    private void OnLine(string? line, bool stdout)
    {
        if (line is null)
        {
            (stdout ? _outputClosed : _errorClosed).TrySetResult();
            return;
        }

        var lines = stdout ? _stdout : _stderr;
        lock (lines)
        {
            lines.Enqueue(line);
            if (lines.Count > KeptLines) lines.Dequeue();
        }

        _onOutput?.Invoke(Id, line);
        if (stdout && !_listening.Task.IsCompleted && ListeningPattern().Match(line) is { Success: true } match) _listening.TrySetResult(match);
    }

    private static string Tail(Queue<string> lines)
    {
        lock (lines) return string.Join('\n', lines);
    }

    [GeneratedRegex(@"^silo (?<id>\S+) listening: protocol (?<protocol>[^,]+), http (?<http>[^,]+), store (?<store>.+), components (?<components>.+)$")]
    private static partial Regex ListeningPattern();

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);
}

/// <summary>A silo did not start: it exited early or did not get ready in time. The message carries its output.</summary>
public sealed class SiloStartException(string message) : Exception(message);
