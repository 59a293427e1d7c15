using Microsoft.Extensions.Logging;
using Middleware.Grains;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;

namespace Middleware.Silo;

/// <summary>
/// Moves this silo's components to where rendezvous hashing over the live silos places them, so a silo that joins
/// gets its share of the existing load and a silo that comes back after a failure gets its components back. Every
/// <see cref="ScanInterval"/> it compares each live activation here with <see cref="Rendezvous.Pick"/> over the live
/// view and hands the misplaced ones to their rendezvous owner with the graceful handover of <c>mw move</c>
/// (<see cref="MoveOperation"/>: a checkpoint while it serves, then requests wait for it, the last turn finishes, the
/// ownership handed over without an epoch bump, and the destination told to activate it at once, its claim fencing the
/// old activation), at most
/// <see cref="SiloOptions.RebalancePerSecond"/> a second, a few at a time, so each component pauses only for its own
/// handover and clients see no pause of the cluster. It waits until the view was the same at two scans in a row (a
/// joining silo is seen by every silo within a heartbeat), and skips components with a turn in doubt (their owner
/// completes it first). Idle components that were deactivated move when they next activate here.
/// <see cref="LeaveAsync"/> hands every live activation to its rendezvous owner among the other silos before a graceful
/// stop, bounded by <see cref="SiloOptions.LeaveTimeout"/>.
/// </summary>
internal sealed class Rebalancer : IAsyncDisposable
{
    /// <summary>Handovers run at once (each is mostly store round trips).</summary>
    private const int Parallel = 4;

    /// <summary>A full comparison at least this often even when nothing seems to call for one.</summary>
    private static readonly TimeSpan FullScanEvery = TimeSpan.FromSeconds(30);

    /// <summary>Handovers run at once while leaving (no rate limit then: the silo is going).</summary>
    private const int LeaveParallel = 16;

    private readonly SiloOptions _options;
    private readonly LocalRuntime _runtime;
    private readonly ILogStore _store;
    private readonly IClusterStore _cluster;
    private readonly MoveOperation _move;
    private readonly ClusterMembership _membership;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;
    private string? _lastView;
    private bool _scanDue = true;
    private long _lastFullScan;
    private long _moved;
    private long _failed;
    private long _handedOverOnLeave;
    private int _misplaced;

    /// <summary>
    /// When a handover here last failed, raced a claim or was put off (<see cref="MoveOneAsync"/>), as a timestamp of
    /// <see cref="_time"/>; 0 when never. Such a component stays here, deactivated or still serving, and a request may
    /// activate it here again after the next scan found nothing misplaced: for <see cref="FullScanEvery"/> after it, every
    /// scan compares again, so it is found at the next one instead of at the next full comparison.
    /// </summary>
    private long _lastUnfinished;

    /// <summary>Silo incarnations (id and join time) this one has handed a component to by rebalancing: the first handover to any other goes alone.</summary>
    private readonly HashSet<string> _receivers = new(StringComparer.Ordinal);

    public Rebalancer(SiloOptions options, LocalRuntime runtime, ILogStore store, IClusterStore cluster, MoveOperation move, ClusterMembership membership, ILogger logger, TimeProvider time)
    {
        _options = options;
        _runtime = runtime;
        _store = store;
        _cluster = cluster;
        _move = move;
        _membership = membership;
        _logger = logger;
        _time = time;
    }

    /// <summary>How often the activations are compared with their rendezvous owner: the heartbeat interval, at least 250 ms.</summary>
    public TimeSpan ScanInterval => _options.HeartbeatInterval < TimeSpan.FromMilliseconds(250) ? TimeSpan.FromMilliseconds(250) : _options.HeartbeatInterval;

    /// <summary>Components moved away by rebalancing (not counting the leave).</summary>
    public long Moved => Interlocked.Read(ref _moved);

    /// <summary>Handovers that failed or raced a claim (the component stayed where the store says).</summary>
    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>Components handed over by a graceful leave.</summary>
    public long HandedOverOnLeave => Interlocked.Read(ref _handedOverOnLeave);

    /// <summary>Live activations here whose rendezvous owner is another silo, at the last scan.</summary>
    public int Misplaced => Volatile.Read(ref _misplaced);

    /// <summary>Starts the periodic scan (nothing when <see cref="SiloOptions.RebalancePerSecond"/> is 0).</summary>
    public void Start()
    {
        if (_options.RebalancePerSecond <= 0) return;
        _loop = Task.Run(LoopAsync, CancellationToken.None);
    }

    private async Task LoopAsync()
    {
        using var timer = new PeriodicTimer(ScanInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
            {
                try
                {
                    await ScanAsync(_stop.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException || !_stop.IsCancellationRequested)
                {
                    _logger.LogWarning("Silo {SiloId}: rebalancing scan failed: {Reason}", _options.SiloId, e.Message);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    /// <summary>One scan: the misplaced live activations, moved at the configured rate.</summary>
    internal async Task ScanAsync(CancellationToken cancellationToken)
    {
        var live = _membership.Live;
        var view = string.Join(",", live.Select(s => s.SiloId).Order(StringComparer.Ordinal));
        var settled = view == _lastView;
        if (!settled) _scanDue = true;
        _lastView = view;
        // Comparing every activation costs a hash per silo each: done when the view changed, while the last scan left
        // misplaced ones (or skipped some in doubt), for a while after a handover that did not finish, and every
        // FullScanEvery otherwise (components claimed here while the view was changing).
        if (!_scanDue && Misplaced == 0 && !RecentlyUnfinished && _time.GetElapsedTime(_lastFullScan) < FullScanEvery) return;
        var misplaced = Misplace(live, except: null, out var inDoubt);
        _lastFullScan = _time.GetTimestamp();
        _scanDue = !settled || inDoubt > 0;
        Volatile.Write(ref _misplaced, misplaced.Count);
        if (MoveTrace.On) MoveTrace.Write(System.Diagnostics.Stopwatch.GetTimestamp(), "giver-scan", _options.SiloId, $"misplaced={misplaced.Count} settled={settled} live={live.Count} moved={Moved} failed={Failed}");
        // A view seen for the first time may not be every silo's yet: wait one scan so the destination knows itself live
        // everywhere. A lone silo has nothing to give.
        if (!settled || live.Count < 2 || misplaced.Count == 0) return;
        _logger.LogInformation("Silo {SiloId}: rebalancing {Count} component(s) to their rendezvous owner among {Live} live silos", _options.SiloId, misplaced.Count, live.Count);
        var interval = TimeSpan.FromSeconds(1.0 / _options.RebalancePerSecond);
        await MoveAllAsync(misplaced, Parallel, interval, leaving: false, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Hands every live activation here over to its rendezvous owner among the other live silos, until none is left or
    /// <see cref="SiloOptions.LeaveTimeout"/> passed (graceful stop, before the connections stop reading). Returns how many.
    /// </summary>
    public async Task<int> LeaveAsync()
    {
        await StopLoopAsync().ConfigureAwait(false);
        if (_options.LeaveTimeout <= TimeSpan.Zero) return 0;
        using var timeout = new CancellationTokenSource(_options.LeaveTimeout, _time);
        var before = HandedOverOnLeave;
        var started = _time.GetTimestamp();
        try
        {
            // Several passes: a request may activate a component here while the first pass runs (it was unowned and this
            // silo is still in everyone's view), and a handover that raced a claim is judged again.
            for (var pass = 0; pass < 20 && !timeout.IsCancellationRequested; pass++)
            {
                await _membership.RefreshAsync(timeout.Token).ConfigureAwait(false);
                var others = _membership.Live.Where(s => s.SiloId != _options.SiloId).ToList();
                if (others.Count == 0) break; // the last silo: its components are checkpointed and released as before
                var leaving = Misplace(others, except: _options.SiloId);
                if (leaving.Count == 0) break;
                await MoveAllAsync(leaving, LeaveParallel, TimeSpan.Zero, leaving: true, timeout.Token).ConfigureAwait(false);
                if (pass > 0) await Task.Delay(TimeSpan.FromMilliseconds(50), _time, timeout.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            _logger.LogWarning("Silo {SiloId}: handing components over took longer than {Timeout}; the rest are checkpointed and released", _options.SiloId, _options.LeaveTimeout);
        }

        var count = (int)(HandedOverOnLeave - before);
        _logger.LogInformation("Silo {SiloId}: handed {Count} component(s) over to other silos before leaving ({Ms:0} ms); {Left} live activation(s) left",
            _options.SiloId, count, _time.GetElapsedTime(started).TotalMilliseconds, _runtime.ActivationCount);
        return count;
    }

    /// <summary>Whether a handover here failed, raced or was put off less than <see cref="FullScanEvery"/> ago.</summary>
    private bool RecentlyUnfinished => Volatile.Read(ref _lastUnfinished) is var at && at != 0 && _time.GetElapsedTime(at) < FullScanEvery;

    private void Unfinished() => Volatile.Write(ref _lastUnfinished, Math.Max(1, _time.GetTimestamp()));

    /// <summary>Live activations here, with no turn in doubt, whose rendezvous owner among <paramref name="silos"/> is another silo.</summary>
    private List<(ComponentId Id, SiloEntry To)> Misplace(IReadOnlyList<SiloEntry> silos, string? except) => Misplace(silos, except, out _);

    /// <param name="silos">The silos to place among.</param>
    /// <param name="except">A silo to leave out (this one, when leaving).</param>
    /// <param name="inDoubt">Misplaced ones left out because a turn of theirs is in doubt (a later scan takes them).</param>
    private List<(ComponentId Id, SiloEntry To)> Misplace(IReadOnlyList<SiloEntry> silos, string? except, out int inDoubt)
    {
        var list = new List<(ComponentId, SiloEntry)>();
        inDoubt = 0;
        if (silos.Count == 0) return list;
        foreach (var id in _runtime.ActiveComponents)
        {
            var to = Rendezvous.Pick(id.ToString(), silos, except);
            if (to is null || to.SiloId == _options.SiloId) continue;
            if (_runtime.HasTurnInDoubt(id))
            {
                inDoubt++;
                continue;
            }

            list.Add((id, to));
        }

        return list;
    }

    /// <summary>Moves <paramref name="moves"/>, <paramref name="parallel"/> at a time, starting one every <paramref name="interval"/> at most.</summary>
    private async Task MoveAllAsync(List<(ComponentId Id, SiloEntry To)> moves, int parallel, TimeSpan interval, bool leaving, CancellationToken cancellationToken)
    {
        using var slots = new SemaphoreSlim(parallel, parallel);
        var running = new List<Task>(moves.Count);
        var next = _time.GetTimestamp();
        try
        {
            foreach (var (id, to) in moves)
            {
                if (interval > TimeSpan.Zero)
                {
                    var wait = interval - _time.GetElapsedTime(next);
                    if (wait > TimeSpan.Zero) await Task.Delay(wait, _time, cancellationToken).ConfigureAwait(false);
                    next = _time.GetTimestamp();
                }

                if (!leaving && FirstTo(to))
                {
                    // The first component this silo hands to another (one that just joined, typically) goes alone: the
                    // receiver's first claims and activations are its slowest, and requests for the others would wait on them.
                    for (var i = 0; i < parallel; i++) await slots.WaitAsync(cancellationToken).ConfigureAwait(false);
                    try
                    {
                        // And before it, one round trip to the receiver while no component waits: a new connection to a
                        // process that may have just started took 0.3-0.8 s on a loaded box, inside the first handover's warm-up.
                        await _move.PrepareAsync(to, cancellationToken).ConfigureAwait(false);
                        await MoveOneAsync(id, to, slots, leaving, cancellationToken).ConfigureAwait(false);
                    }
                    finally
                    {
                        slots.Release(parallel - 1);
                    }

                    continue;
                }

                await slots.WaitAsync(cancellationToken).ConfigureAwait(false);
                running.Add(MoveOneAsync(id, to, slots, leaving, cancellationToken));
            }
        }
        finally
        {
            // The semaphore outlives every move that releases it, even when this stops early.
            await Task.WhenAll(running).ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).ConfigureAwait(false);
        }

        cancellationToken.ThrowIfCancellationRequested();
    }

    /// <summary>True the first time <paramref name="to"/> (this incarnation of it: id and join time) is asked for, false after.</summary>
    private bool FirstTo(SiloEntry to)
    {
        lock (_receivers) return _receivers.Add(to.SiloId + "@" + to.JoinedAt.UtcTicks.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    private async Task MoveOneAsync(ComponentId id, SiloEntry to, SemaphoreSlim slots, bool leaving, CancellationToken cancellationToken)
    {
        try
        {
            // Judged again now: it may have been deactivated, moved by `mw move`, or fallen in doubt since the scan.
            if (!_runtime.IsActive(id) || _runtime.HasTurnInDoubt(id) || _membership.Find(to.SiloId) is null) return;
            // A turn parked in a component call may wait up to the call deadline, and the handover (and every request for
            // the component) would wait with it: while rebalancing, such a component is left for a later scan.
            if (!leaving && _runtime.IsWaitingOnCall(id))
            {
                Unfinished();
                return;
            }

            var (outcome, _, _) = await _move.MoveAsync(_runtime, _store, _cluster, _membership, id, to, cancellationToken).ConfigureAwait(false);
            if (outcome == MoveOperation.Outcome.Moved) Interlocked.Increment(ref leaving ? ref _handedOverOnLeave : ref _moved);
            else
            {
                Interlocked.Increment(ref _failed);
                Unfinished();
            }

            if (MoveTrace.On && outcome != MoveOperation.Outcome.Moved) MoveTrace.Write(System.Diagnostics.Stopwatch.GetTimestamp(), "giver-move-failed", id.ToString(), $"outcome={outcome}");
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            Interlocked.Increment(ref _failed);
            Unfinished();
            if (MoveTrace.On) MoveTrace.Write(System.Diagnostics.Stopwatch.GetTimestamp(), "giver-move-failed", id.ToString(), $"error={e.GetType().Name}");
            _logger.LogDebug("Silo {SiloId}: moving {Component} to {To} failed: {Reason}", _options.SiloId, id, to.SiloId, e.Message);
        }
        finally
        {
            slots.Release();
        }
    }

    private async Task StopLoopAsync()
    {
        if (!_stop.IsCancellationRequested) await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is { } loop)
        {
            try
            {
                await loop.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Stopped mid-move.
            }
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await StopLoopAsync().ConfigureAwait(false);
        _stop.Dispose();
    }
}
