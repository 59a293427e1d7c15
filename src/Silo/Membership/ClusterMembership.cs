using Microsoft.Extensions.Logging;
using Middleware.Recovery.Storage;

namespace Middleware.Silo;

/// <summary>
/// This silo's place in the cluster: it joins the silos table once the listeners are bound, heartbeats every
/// <see cref="SiloOptions.HeartbeatInterval"/>, and keeps a view of the live silos (as judged by the store's clock) for
/// placement and forwarding. When a heartbeat finds the silo declared dead (it was paused or cut off for longer than
/// its window while other silos kept reaching the store, and they may have taken its components), it drops every
/// activation before rejoining: their writes would be fenced anyway, and the next request activates afresh from the
/// log. A span in which the store served nobody gets no silo declared dead (<see cref="IClusterStore"/>, rule 2).
/// </summary>
public sealed class ClusterMembership(IClusterStore store, SiloOptions options, string address, string? httpAddress, Action<string> dropAll, Func<int> activations, ILogger logger, TimeProvider? time = null) : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _refreshGate = new(1, 1);
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private volatile View _view = new([], DateTimeOffset.MinValue);
    private Task? _loop;
    private long _rejoins;
    private long _rounds;

    /// <summary>This silo's id.</summary>
    public string SiloId => options.SiloId;

    /// <summary>The address other silos and clients reach this silo at.</summary>
    public string Address => address;

    /// <summary>The live silos as of the last refresh, this one included once joined.</summary>
    public IReadOnlyList<SiloEntry> Live => _view.Live;

    /// <summary>Heartbeat rounds completed (heartbeat and view refresh, successful or not): tests and metrics.</summary>
    public long Rounds => Interlocked.Read(ref _rounds);

    /// <summary>How often this silo found itself declared dead and rejoined.</summary>
    public long Rejoins => Interlocked.Read(ref _rejoins);

    /// <summary>Raised after a refresh removed silos from the view (they died or left), with their ids.</summary>
    public event Action<IReadOnlyCollection<string>>? SilosGone;

    /// <summary>Raised after a refresh changed the set of live silos (joins or departures), after <see cref="SilosGone"/>.</summary>
    public event Action? ViewChanged;

    /// <summary>Joins the cluster, reads the view, and starts the heartbeat loop.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await store.JoinAsync(options.SiloId, address, httpAddress, options.DeadAfter, cancellationToken).ConfigureAwait(false);
        await RefreshAsync(cancellationToken).ConfigureAwait(false);
        // The timer starts now, not when the loop's task first runs: its ticks count from the join.
        var timer = new PeriodicTimer(options.HeartbeatInterval, _time);
        _loop = Task.Run(() => LoopAsync(timer), CancellationToken.None);
        logger.LogInformation("Silo {SiloId} joined the cluster at {Address}; live silos: {Live}", options.SiloId, address, string.Join(", ", Live.Select(s => s.SiloId)));
    }

    /// <summary>The live silo with this id, or null.</summary>
    public SiloEntry? Find(string siloId)
    {
        foreach (var silo in _view.Live)
        {
            if (silo.SiloId == siloId) return silo;
        }

        return null;
    }

    /// <summary>
    /// Re-reads the silos table now unless another refresh ran within the last <paramref name="notOlderThan"/>; callers
    /// that just failed to reach a silo use it so the view catches up without every request hitting the store.
    /// </summary>
    public async Task RefreshAsync(CancellationToken cancellationToken, TimeSpan? notOlderThan = null)
    {
        var startedWaiting = _time.GetUtcNow();
        await _refreshGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Someone refreshed while we waited (or recently enough): their view is as fresh as ours would be.
            if (_view.ReadAt >= startedWaiting || (notOlderThan is { } limit && _time.GetUtcNow() - _view.ReadAt < limit)) return;
            var silos = await store.ListSilosAsync(cancellationToken).ConfigureAwait(false);
            var live = silos.Where(s => s.IsLive).ToArray();
            var before = _view.Live;
            _view = new View(live, _time.GetUtcNow());
            var gone = before.Select(s => s.SiloId).Except(live.Select(s => s.SiloId)).ToArray();
            if (gone.Length > 0)
            {
                logger.LogInformation("Silo {SiloId}: silos gone from the cluster: {Gone}", options.SiloId, string.Join(", ", gone));
                SilosGone?.Invoke(gone);
            }

            if (gone.Length > 0 || live.Any(s => !before.Any(b => b.SiloId == s.SiloId))) ViewChanged?.Invoke();
        }
        finally
        {
            _refreshGate.Release();
        }
    }

    /// <summary>Leaves the cluster: marks this silo left and releases its components (graceful shutdown).</summary>
    public async Task LeaveAsync(CancellationToken cancellationToken)
    {
        await StopLoopAsync().ConfigureAwait(false);
        await store.LeaveAsync(options.SiloId, cancellationToken).ConfigureAwait(false);
        logger.LogInformation("Silo {SiloId} left the cluster and released its components", options.SiloId);
    }

    private async Task LoopAsync(PeriodicTimer timer)
    {
        using var owned = timer;
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
            {
                try
                {
                    if (!await store.HeartbeatAsync(options.SiloId, activations(), _stop.Token).ConfigureAwait(false))
                    {
                        // Declared dead while we were away: others may own our components now. Forget them, then rejoin.
                        Interlocked.Increment(ref _rejoins);
                        logger.LogWarning("Silo {SiloId} was declared dead by the cluster (no heartbeat within {Window}); dropping its activations and rejoining", options.SiloId, options.DeadAfter);
                        dropAll("the silo was declared dead by the cluster");
                        await store.JoinAsync(options.SiloId, address, httpAddress, options.DeadAfter, _stop.Token).ConfigureAwait(false);
                    }

                    await RefreshAsync(_stop.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    logger.LogWarning("Silo {SiloId}: heartbeat failed: {Reason}", options.SiloId, e.Message);
                }
                finally
                {
                    Interlocked.Increment(ref _rounds);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    private async Task StopLoopAsync()
    {
        if (!_stop.IsCancellationRequested) await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null) await _loop.ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await StopLoopAsync().ConfigureAwait(false);
        _stop.Dispose();
    }

    private sealed record View(SiloEntry[] Live, DateTimeOffset ReadAt);
}
