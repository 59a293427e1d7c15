using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.Json;

namespace Middleware.Tests.Crash;

/// <summary>
/// One request the client process printed as acknowledged: what it sent (raw JSON arguments) and what it was told (the
/// raw JSON result, or the recorded error's type and message).
/// </summary>
internal sealed record ClientAck(string RequestId, string Component, string Method, string Args, string? Ok, string? ErrorType, string? ErrorMessage)
{
    /// <summary>Parses an <c>ack {json}</c> line of the test host; null for any other line (or a line cut by a SIGKILL).</summary>
    public static ClientAck? TryParse(string line)
    {
        if (!line.StartsWith("ack {", StringComparison.Ordinal)) return null;
        try
        {
            using var doc = JsonDocument.Parse(line.AsMemory(4));
            var root = doc.RootElement;
            return new ClientAck(
                root.GetProperty("id").GetString()!,
                root.GetProperty("component").GetString()!,
                root.GetProperty("method").GetString()!,
                root.GetProperty("args").GetRawText(),
                root.TryGetProperty("ok", out var ok) ? ok.GetRawText() : null,
                root.TryGetProperty("error", out var error) ? error.GetString() : null,
                root.TryGetProperty("message", out var message) ? message.GetString() : null);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>
/// The test host's <c>client</c> mode as a child process (<c>dotnet Middleware.TestHost.dll client ...</c>, its own build
/// output): a bank client of the real SDK that the tests SIGKILL together with silos. It keeps every line, parses the
/// acknowledged requests, and lets a test await a number of acknowledgments.
/// </summary>
internal sealed class ClientProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<string> _lines = [];
    private readonly List<ClientAck> _acks = [];
    private readonly List<(int Count, TaskCompletionSource Reached)> _waiters = [];
    private readonly TaskCompletionSource _stdoutClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ClientProcess(Process process) => _process = process;

    /// <summary>The session the client uses (from its first line), or null before it connected.</summary>
    public string? SessionId { get; private set; }

    /// <summary>Requests acknowledged so far.</summary>
    public int AckCount
    {
        get
        {
            lock (_lines) return _acks.Count;
        }
    }

    /// <summary>Every acknowledged request the client printed.</summary>
    public IReadOnlyList<ClientAck> Acks
    {
        get
        {
            lock (_lines) return [.. _acks];
        }
    }

    /// <summary>The lines that are not acknowledgments (session, unresolved and unexpected calls, errors).</summary>
    public IReadOnlyList<string> OtherLines
    {
        get
        {
            lock (_lines) return [.. _lines.Where(l => !l.StartsWith("ack ", StringComparison.Ordinal))];
        }
    }

    /// <summary>Starts a client on <paramref name="gateways"/> over the given accounts and tellers.</summary>
    public static ClientProcess Start(IEnumerable<string> gateways, IReadOnlyList<string> accounts, IReadOnlyList<string> tellers, int workers, int seed)
    {
        var info = new ProcessStartInfo(Bank.Cluster.SiloBuild.LocateDotnet())
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[]
                 {
                     LocateDll(), "client", "--gateways", string.Join(',', gateways), "--accounts", string.Join(',', accounts),
                     "--tellers", string.Join(',', tellers), "--workers", workers.ToString(CultureInfo.InvariantCulture),
                     "--seed", seed.ToString(CultureInfo.InvariantCulture),
                 })
        {
            info.ArgumentList.Add(arg);
        }

        // Like the silos, the client sees only what the test gives it.
        foreach (var name in info.Environment.Keys.Where(k => k.StartsWith("MIDDLEWARE_", StringComparison.Ordinal)).ToList())
            info.Environment.Remove(name);
        var process = new Process { StartInfo = info };
        var client = new ClientProcess(process);
        process.OutputDataReceived += (_, e) => client.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => client.OnLine(e.Data is null ? null : "stderr: " + e.Data, stderr: true);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return client;
    }

    /// <summary>Waits until the client acknowledged <paramref name="count"/> requests in all; throws naming its last lines if it exits or the time runs out.</summary>
    public async Task WaitForAcksAsync(int count, TimeSpan patience)
    {
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lines)
        {
            if (_acks.Count >= count) return;
            _waiters.Add((count, reached));
        }

        var first = await Task.WhenAny(reached.Task, _stdoutClosed.Task, Task.Delay(patience));
        if (first == reached.Task) return;
        throw new TimeoutException($"The client process {(first == _stdoutClosed.Task ? "ended" : "did not get there")} before {count} acknowledgments " +
                                   $"(it has {AckCount} after {patience.TotalSeconds:0} s at most). Its other lines:\n{Tail()}");
    }

    /// <summary>SIGKILL: the client dies mid-request, and the requests it had in flight are nobody's to retry.</summary>
    public void Kill()
    {
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    /// <summary>Waits for the exit and the end of its output (so <see cref="Acks"/> holds every line it printed).</summary>
    public async Task WaitForExitAsync(TimeSpan patience)
    {
        using var limit = new CancellationTokenSource(patience);
        await _process.WaitForExitAsync(limit.Token);
        await _stdoutClosed.Task.WaitAsync(limit.Token);
    }

    /// <summary>Asks the client to stop (stdin ends), waits until the calls in flight finished and it exited; returns the exit code.</summary>
    public async Task<int> StopAsync(TimeSpan patience)
    {
        _process.StandardInput.Close();
        await WaitForExitAsync(patience);
        return _process.ExitCode;
    }

    /// <summary>The last lines that are not acknowledgments, for messages.</summary>
    public string Tail(int lines = 20) => string.Join('\n', OtherLines.TakeLast(lines));

    public async ValueTask DisposeAsync()
    {
        Kill();
        try
        {
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (TimeoutException)
        {
            Trace.WriteLine($"client process {_process.Id} not confirmed dead");
        }

        _process.Dispose();
    }

    private void OnLine(string? line, bool stderr = false)
    {
        if (line is null)
        {
            if (!stderr) _stdoutClosed.TrySetResult();
            return;
        }

        lock (_lines)
        {
            _lines.Add(line);
            if (line.StartsWith("session ", StringComparison.Ordinal)) SessionId = line["session ".Length..];
            if (ClientAck.TryParse(line) is not { } ack) return;
            _acks.Add(ack);
            foreach (var waiter in _waiters.Where(w => _acks.Count >= w.Count).ToList())
            {
                _waiters.Remove(waiter);
                waiter.Reached.TrySetResult();
            }
        }
    }

    /// <summary>The test host's build output beside this test build: tests/Middleware.TestHost/bin/CONFIGURATION/TFM.</summary>
    private static string LocateDll()
    {
        var root = Bank.Cluster.SiloBuild.RepositoryRoot()
                   ?? throw new FileNotFoundException($"No Middleware.sln above {AppContext.BaseDirectory}: cannot find the test host's build output.");
        var configuration = typeof(ClientProcess).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
        var framework = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Name;
        var dll = Path.Combine(root, "tests", "Middleware.TestHost", "bin", configuration, framework, "Middleware.TestHost.dll");
        return File.Exists(dll) && File.Exists(Path.ChangeExtension(dll, ".runtimeconfig.json"))
            ? dll
            : throw new FileNotFoundException($"The test host is not built at {dll}; run 'dotnet build tests/Middleware.TestHost -c {configuration}'.", dll);
    }
}

/// <summary>Text helpers shared by the crash tests' messages.</summary>
internal static class Text
{
    /// <summary>UTF-8 bytes as text.</summary>
    public static string Of(ReadOnlyMemory<byte> bytes) => Encoding.UTF8.GetString(bytes.Span);
}
