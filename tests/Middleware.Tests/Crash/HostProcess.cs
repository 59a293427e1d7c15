using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Threading.Channels;
using Bank.Demo;

namespace Middleware.Tests.Crash;

/// <summary>The host process ended (killed, crashed or exited) while a request was waiting for it.</summary>
public sealed class HostDiedException(string message, bool killedByDriver) : Exception(message)
{
    /// <summary>True when the driver killed it on purpose; false means the host died on its own.</summary>
    public bool KilledByDriver { get; } = killedByDriver;
}

/// <summary>
/// One running host child process and the driver side of the line protocol: send requests, await their
/// replies (matched by request id), kill it with SIGKILL, or stop it cleanly. When the process ends, every
/// request still waiting fails with <see cref="HostDiedException"/>, so no caller hangs on a dead host.
/// </summary>
public sealed class HostProcess : IAsyncDisposable
{
    private const int StderrLinesKept = 200;
    private readonly Process _process;
    private readonly Dictionary<string, TaskCompletionSource<HostReply>> _pending = new(StringComparer.Ordinal);
    private readonly Channel<string> _toHost = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true });
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ConcurrentQueue<string> _stderr = new();
    private readonly Task _readLoop;
    private readonly Task _writeLoop;
    private HostDiedException? _death;
    private volatile bool _killedByDriver;

    private HostProcess(Process process)
    {
        _process = process;
        Pid = process.Id;
        _process.ErrorDataReceived += (_, e) => KeepStderr(e.Data);
        _process.BeginErrorReadLine();
        _readLoop = Task.Run(ReadRepliesAsync);
        _writeLoop = Task.Run(WriteRequestsAsync);
    }

    /// <summary>The child's process id.</summary>
    public int Pid { get; }

    /// <summary>True once the driver killed this host on purpose.</summary>
    public bool KilledByDriver => _killedByDriver;

    /// <summary>Requests sent and not answered yet.</summary>
    public int PendingCount
    {
        get
        {
            lock (_pending) return _pending.Count;
        }
    }

    /// <summary>The last lines the host wrote to stderr (for error messages).</summary>
    public string StandardError => string.Join(Environment.NewLine, _stderr);

    /// <summary>Starts a host on <paramref name="dbPath"/> and waits until it prints READY.</summary>
    /// <exception cref="TimeoutException">It did not get ready in time (it is killed).</exception>
    /// <exception cref="HostDiedException">It exited before getting ready; the message has its stderr.</exception>
    public static async Task<HostProcess> StartAsync(HostLaunch launch, string dbPath, TimeSpan readyTimeout)
    {
        var process = Process.Start(launch.StartInfo(dbPath))
            ?? throw new InvalidOperationException($"Could not start '{launch.DotnetPath} {launch.DllPath} host'.");
        var host = new HostProcess(process);
        try
        {
            await host._ready.Task.WaitAsync(readyTimeout).ConfigureAwait(false);
            return host;
        }
        catch (TimeoutException)
        {
            await host.DisposeAsync().ConfigureAwait(false);
            throw new TimeoutException($"The host (pid {host.Pid}) did not print READY within {readyTimeout.TotalSeconds:0}s. Its stderr:{Environment.NewLine}{host.StandardError}");
        }
        catch
        {
            await host.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Sends one request and returns its reply; fails with <see cref="HostDiedException"/> if the host ends first.</summary>
    public Task<HostReply> SendAsync(HostRequest request)
    {
        var done = new TaskCompletionSource<HostReply>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_pending)
        {
            if (_death is not null) return Task.FromException<HostReply>(_death);
            if (!_pending.TryAdd(request.RequestId, done))
                throw new InvalidOperationException($"Request id '{request.RequestId}' is already waiting for a reply from this host; a driver sends each id once per host.");
        }

        _toHost.Writer.TryWrite(request.ToLine());
        return done.Task;
    }

    /// <summary>
    /// Kills the host abruptly and waits until it is gone. <see cref="Process.Kill()"/> sends SIGKILL on Linux
    /// and macOS (TerminateProcess on Windows): no finally blocks, no flush, no shutdown hooks run in the child.
    /// </summary>
    public async Task KillAsync()
    {
        _killedByDriver = true;
        try
        {
            _process.Kill();
        }
        catch (InvalidOperationException) when (_process.HasExited)
        {
            KeepStderr("[driver] the host had already exited when it was to be killed");
        }

        await _process.WaitForExitAsync().ConfigureAwait(false);
        await _readLoop.ConfigureAwait(false);
    }

    /// <summary>Asks the host to finish its requests and exit; kills it if it does not within <paramref name="timeout"/>.</summary>
    /// <returns>The exit code (137-style codes mean it had to be killed).</returns>
    public async Task<int> StopAsync(TimeSpan timeout)
    {
        _toHost.Writer.TryWrite("Q");
        _toHost.Writer.TryComplete();
        try
        {
            await _process.WaitForExitAsync().WaitAsync(timeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            await KillAsync().ConfigureAwait(false);
            throw new TimeoutException($"The host (pid {Pid}) did not exit within {timeout.TotalSeconds:0}s of being asked to stop; it was killed. Its stderr:{Environment.NewLine}{StandardError}");
        }

        await _readLoop.ConfigureAwait(false);
        return _process.ExitCode;
    }

    /// <summary>Kills the host if it still runs (never leaves a child behind) and releases the process handle.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited) await KillAsync().ConfigureAwait(false);
        }
        finally
        {
            _toHost.Writer.TryComplete();
            await _writeLoop.ConfigureAwait(false);
            await _readLoop.ConfigureAwait(false); // ends at the end of stdout, right after the exit
            _process.Dispose();
        }
    }

    private async Task ReadRepliesAsync()
    {
        var stdout = _process.StandardOutput;
        try
        {
            while (await stdout.ReadLineAsync().ConfigureAwait(false) is { } line)
            {
                if (line == "READY")
                {
                    _ready.TrySetResult();
                }
                else if (HostReply.TryParse(line) is { } reply)
                {
                    Complete(reply);
                }
                else
                {
                    KeepStderr("[stdout] " + line);
                }
            }
        }
        catch (IOException e)
        {
            KeepStderr($"[driver] reading the host's stdout failed: {e.Message}");
        }

        // The pipe closed: the process is gone (or going); nothing more will be answered.
        await _process.WaitForExitAsync().ConfigureAwait(false);
        FailEverything();
    }

    private async Task WriteRequestsAsync()
    {
        var stdin = _process.StandardInput;
        stdin.AutoFlush = false;
        try
        {
            while (await _toHost.Reader.WaitToReadAsync().ConfigureAwait(false))
            {
                while (_toHost.Reader.TryRead(out var line))
                {
                    await stdin.WriteAsync(line + "\n").ConfigureAwait(false);
                }

                await stdin.FlushAsync().ConfigureAwait(false);
            }

            stdin.Close();
        }
        catch (IOException e)
        {
            // A broken pipe means the host is dead; the read loop sees the end of stdout and fails the waiters.
            KeepStderr($"[driver] writing to the host's stdin failed: {e.Message}");
        }
    }

    private void Complete(HostReply reply)
    {
        TaskCompletionSource<HostReply>? waiter;
        lock (_pending)
        {
            if (!_pending.Remove(reply.RequestId, out waiter))
            {
                KeepStderr($"[driver] reply for unknown request id: {reply}");
                return;
            }
        }

        waiter.TrySetResult(reply);
    }

    private void FailEverything()
    {
        var error = Died();
        List<TaskCompletionSource<HostReply>> waiters;
        lock (_pending)
        {
            _death = error;
            waiters = [.. _pending.Values];
            _pending.Clear();
        }

        _ready.TrySetException(error);
        foreach (var w in waiters) w.TrySetException(error);
    }

    private HostDiedException Died()
    {
        var code = _process.ExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var how = _killedByDriver ? "was killed by the driver" : "died unexpectedly";
        var text = new StringBuilder($"The host (pid {Pid}) {how} (exit code {code}).");
        if (!_killedByDriver) text.Append(" Its stderr:").Append(Environment.NewLine).Append(StandardError);
        return new HostDiedException(text.ToString(), _killedByDriver);
    }

    private void KeepStderr(string? line)
    {
        if (line is null) return;
        _stderr.Enqueue(line);
        while (_stderr.Count > StderrLinesKept && _stderr.TryDequeue(out _))
        {
            // Dropping the oldest lines: only the tail matters for a diagnosis.
        }
    }
}
