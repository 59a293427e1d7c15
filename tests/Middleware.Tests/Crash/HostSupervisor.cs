using System.Diagnostics;
using Bank.Demo;

namespace Middleware.Tests.Crash;

/// <summary>What a kill-and-restart took.</summary>
/// <param name="KilledPid">The host that got SIGKILL.</param>
/// <param name="NewPid">The host started in its place.</param>
/// <param name="InFlightAtKill">Requests waiting for a reply when it was killed (they are retried).</param>
/// <param name="ReadyAfter">From the kill until the new host printed READY.</param>
/// <param name="FirstReplyAfter">From the kill until the new host acknowledged its first request.</param>
public sealed record RestartInfo(int KilledPid, int NewPid, int InFlightAtKill, TimeSpan ReadyAfter, Task<TimeSpan> FirstReplyAfter);

/// <summary>
/// The client side of a crashing host: sends requests to whichever host process is current, and when that
/// host is killed by <see cref="KillAndRestartAsync"/> resends every unanswered request with its SAME id to
/// the restarted host. A host that dies without being killed is an error (with its stderr), never retried.
/// </summary>
public sealed class HostSupervisor : IAsyncDisposable
{
    private const int MaxFailRetries = 5;
    private readonly HostLaunch _launch;
    private readonly string _dbPath;
    private readonly TimeSpan _readyTimeout;
    private readonly SemaphoreSlim _restartLock = new(1, 1);
    private volatile Task<HostProcess> _current;
    private volatile TaskCompletionSource<TimeSpan>? _firstReply;
    private Stopwatch _sinceKill = new();
    private int _kills;
    private long _resent;
    private long _failReplies;

    /// <summary>A supervisor that has not started a host yet; call <see cref="StartAsync"/>.</summary>
    public HostSupervisor(HostLaunch launch, string dbPath, TimeSpan readyTimeout)
    {
        _launch = launch;
        _dbPath = dbPath;
        _readyTimeout = readyTimeout;
        _current = Task.FromException<HostProcess>(new InvalidOperationException("The supervisor has not started a host yet; call StartAsync first."));
    }

    /// <summary>How many times a host was killed.</summary>
    public int Kills => _kills;

    /// <summary>How many requests were resent (same id) to a restarted host.</summary>
    public long Resent => Interlocked.Read(ref _resent);

    /// <summary>How many FAIL replies (not durable, retried) were received.</summary>
    public long FailReplies => Interlocked.Read(ref _failReplies);

    /// <summary>The current host's pid, or 0 while it is restarting.</summary>
    public int CurrentPid => _current.IsCompletedSuccessfully ? _current.Result.Pid : 0;

    /// <summary>Starts the first host and waits until it is ready.</summary>
    public async Task StartAsync()
    {
        var host = await HostProcess.StartAsync(_launch, _dbPath, _readyTimeout).ConfigureAwait(false);
        _current = Task.FromResult(host);
    }

    /// <summary>
    /// Sends a request and returns its acknowledged reply (OK or ERR), resending the same request to the next
    /// host when the current one is killed, and after a FAIL reply (the turn was not made durable).
    /// </summary>
    /// <exception cref="HostDiedException">The host died without being killed by this supervisor.</exception>
    public async Task<HostReply> SendAsync(HostRequest request, CancellationToken cancellationToken)
    {
        var fails = 0;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var host = await _current.WaitAsync(cancellationToken).ConfigureAwait(false);
            HostReply reply;
            try
            {
                reply = await host.SendAsync(request).WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (HostDiedException e) when (e.KilledByDriver)
            {
                // KillAndRestartAsync replaced _current before killing, so the next loop waits for the new host.
                Interlocked.Increment(ref _resent);
                continue;
            }

            if (reply.Kind == ReplyKind.Fail)
            {
                Interlocked.Increment(ref _failReplies);
                if (++fails > MaxFailRetries)
                    throw new InvalidOperationException($"Request {request.RequestId} failed {fails} times in a row: {reply.Message}");
                await Task.Delay(TimeSpan.FromMilliseconds(20 * fails), cancellationToken).ConfigureAwait(false);
                continue;
            }

            _firstReply?.TrySetResult(_sinceKill.Elapsed);
            return reply;
        }
    }

    /// <summary>
    /// SIGKILLs the current host, starts a new one on the same database and waits until it is ready. Requests
    /// that were waiting are resent by their <see cref="SendAsync"/> calls.
    /// </summary>
    public async Task<RestartInfo> KillAndRestartAsync()
    {
        await _restartLock.WaitAsync().ConfigureAwait(false);
        try
        {
            var old = await _current.ConfigureAwait(false);
            var next = new TaskCompletionSource<HostProcess>(TaskCreationOptions.RunContinuationsAsynchronously);
            var firstReply = new TaskCompletionSource<TimeSpan>(TaskCreationOptions.RunContinuationsAsynchronously);
            // Swap before killing: a sender that sees the old host die must already find the next one pending.
            _current = next.Task;
            var inFlight = old.PendingCount;
            _sinceKill = Stopwatch.StartNew();
            await old.KillAsync().ConfigureAwait(false);
            Interlocked.Increment(ref _kills);
            await old.DisposeAsync().ConfigureAwait(false);
            HostProcess host;
            try
            {
                host = await HostProcess.StartAsync(_launch, _dbPath, _readyTimeout).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                next.TrySetException(e);
                throw;
            }

            var ready = _sinceKill.Elapsed;
            _firstReply = firstReply;
            next.TrySetResult(host);
            return new RestartInfo(old.Pid, host.Pid, inFlight, ready, firstReply.Task);
        }
        finally
        {
            _restartLock.Release();
        }
    }

    /// <summary>Stops the current host cleanly (it finishes its requests and closes the store).</summary>
    public async Task StopAsync(TimeSpan timeout)
    {
        var host = await _current.ConfigureAwait(false);
        var code = await host.StopAsync(timeout).ConfigureAwait(false);
        if (code != 0)
            throw new InvalidOperationException($"The host (pid {host.Pid}) exited with code {code} when stopped. Its stderr:{Environment.NewLine}{host.StandardError}");
    }

    /// <summary>Kills any host still running, including one a restart in progress is starting.</summary>
    public async ValueTask DisposeAsync()
    {
        // A restart holds the lock until its new host is ready or has failed (bounded by the ready timeout).
        var locked = await _restartLock.WaitAsync(_readyTimeout + TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        try
        {
            if (_current.IsCompletedSuccessfully) await _current.Result.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            if (locked) _restartLock.Release();
        }
    }
}
