using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Middleware.Grains;
using Middleware.Protocol;
using Middleware.Protocol.Control;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;

namespace Middleware.Silo;

/// <summary>
/// <c>$move</c>, at the component's owner: a graceful handover, also what the <see cref="Rebalancer"/> does. A checkpoint
/// is written first while the component still serves, so the part where requests wait is short: this silo's own later
/// requests are routed to the destination (so nothing re-activates the component here meanwhile), and requests that
/// reach the router while the handover runs wait for it (<see cref="Pending"/>) instead of bouncing between the two
/// silos; the activation is deactivated (its last turn finishes; a last checkpoint only when turns ran since the first),
/// and ownership is handed over without an epoch bump; the destination's claim then raises the epoch and fences anything
/// the old activation might still attempt. Right after the handover (the waiting requests already released) the
/// destination is told to activate the component (<see cref="ProtocolConstants.MoveWarm"/>), so its next request finds
/// it warm instead of paying the claim and the checkpoint read itself. Before the first handover to a silo incarnation the
/// <see cref="Rebalancer"/> makes one round trip to it (<see cref="PrepareAsync"/>) while no component waits: the connection
/// to a process that just started, and that process's request path, cost their first time there instead of inside a
/// handover that requests wait for.
/// </summary>
internal sealed class MoveOperation(SiloOptions options, DirectoryCache directory, ILogger logger, Func<string, ComponentId, CancellationToken, Task<bool>> warm,
    Func<string, CancellationToken, Task<bool>>? prepare = null)
{
    /// <summary>How long a handover waits for the destination to activate the component (it serves either way).</summary>
    private static readonly TimeSpan WarmTimeout = TimeSpan.FromSeconds(5);

    private readonly ConcurrentDictionary<string, Task> _moving = new(StringComparer.Ordinal);
    private int _active;

    /// <summary>What one handover came to.</summary>
    public enum Outcome
    {
        /// <summary>The destination owns it now (or already did).</summary>
        Moved,

        /// <summary>Another silo owns it: nothing was done here.</summary>
        OwnedElsewhere,

        /// <summary>Its epoch or owner changed during the handover (a claim raced it); it stays where the store says.</summary>
        Raced,
    }

    /// <summary>Whether any handover runs here now (the router's fast path for live activations steps aside then).</summary>
    public bool AnyPending => Volatile.Read(ref _active) != 0;

    /// <summary>The handover of <paramref name="componentId"/> running here now, or null: requests wait for it, then route anew.</summary>
    public Task? Pending(string componentId) =>
        Volatile.Read(ref _active) != 0 && _moving.TryGetValue(componentId, out var moving) ? moving : null; // one read on the hot path when nothing moves

    /// <summary>Handovers running now.</summary>
    public int InProgress => Volatile.Read(ref _active);

    public async Task<ReplyMessage> HandleAsync(LocalRuntime runtime, ILogStore store, IClusterStore cluster, ClusterMembership? membership, ComponentId target, InvokeMessage request, CancellationToken cancellationToken)
    {
        var to = ControlCodec.DecodeMove(request.Args, request.Method).To;
        // A silo that joined moments ago may not be in the view yet: look again before refusing.
        if (membership is not null && membership.Find(to) is null)
            await membership.RefreshAsync(cancellationToken).ConfigureAwait(false);
        if (membership?.Find(to) is not { } destination)
            return ReplyMessage.BadRequest($"'{to}' is not a live silo; run `mw cluster status` for the live ones");
        var (outcome, epoch, owner) = await MoveAsync(runtime, store, cluster, membership, target, destination, cancellationToken).ConfigureAwait(false);
        return outcome switch
        {
            Outcome.Moved => LoggedMoved(target, to, epoch),
            Outcome.OwnedElsewhere => ReplyMessage.Moved(owner!),
            _ => ReplyMessage.Unavailable($"{target} changed hands during the move; run the move again"),
        };
    }

    /// <summary>
    /// Hands <paramref name="target"/> over to <paramref name="destination"/> (see the class summary). Returns the outcome,
    /// the epoch the component had here, and for <see cref="Outcome.OwnedElsewhere"/> the owner's address.
    /// </summary>
    public async Task<(Outcome Outcome, long Epoch, string? OwnerAddress)> MoveAsync(LocalRuntime runtime, ILogStore store, IClusterStore cluster, ClusterMembership membership, ComponentId target, SiloEntry destination, CancellationToken cancellationToken)
    {
        var result = await HandOverAsync(runtime, store, cluster, membership, target, destination, cancellationToken).ConfigureAwait(false);
        if (result.Outcome == Outcome.Moved && destination.SiloId != options.SiloId)
        {
            await MoveFaultPoint.BeforeWarmAsync(target, cancellationToken).ConfigureAwait(false);
            var warmStart = MoveTrace.On ? System.Diagnostics.Stopwatch.GetTimestamp() : 0;
            await WarmAsync(target, destination, cancellationToken).ConfigureAwait(false);
            if (MoveTrace.On) MoveTrace.Write(warmStart, "giver-warm", target.ToString(), $"ms={MoveTrace.F(MoveTrace.Ms(warmStart))} to={destination.SiloId}");
        }
        return result;
    }

    /// <summary>
    /// One round trip to <paramref name="destination"/> that touches no component (the silo list), bounded by
    /// <see cref="WarmTimeout"/>, before the first handover to it: the connection is opened and the other process's
    /// accept, handshake and request path run once while nothing waits for them. Best effort: a failure only logs.
    /// </summary>
    public async Task PrepareAsync(SiloEntry destination, CancellationToken cancellationToken)
    {
        if (prepare is null || destination.SiloId == options.SiloId) return;
        var start = MoveTrace.On ? System.Diagnostics.Stopwatch.GetTimestamp() : 0;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(WarmTimeout);
        var ok = false;
        try
        {
            ok = await prepare(destination.Address, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            logger.LogDebug("Silo {SiloId}: the round trip to {To} before handing it components failed: {Reason}", options.SiloId, destination.SiloId, e.Message);
        }

        if (MoveTrace.On) MoveTrace.Write(start, "giver-prepare", destination.SiloId, $"ms={MoveTrace.F(MoveTrace.Ms(start))} ok={ok}");
    }

    /// <summary>
    /// Asks the destination to activate <paramref name="target"/> now, bounded by <see cref="WarmTimeout"/>. Best effort:
    /// when it fails, the component's next request activates it there as before.
    /// </summary>
    private async Task WarmAsync(ComponentId target, SiloEntry destination, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(WarmTimeout);
        try
        {
            if (!await warm(destination.Address, target, timeout.Token).ConfigureAwait(false))
                logger.LogDebug("Silo {SiloId}: {To} did not activate {Component} after the handover; its next request will", options.SiloId, destination.SiloId, target);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            logger.LogDebug("Silo {SiloId}: asking {To} to activate {Component} after the handover failed: {Reason}", options.SiloId, destination.SiloId, target, e.Message);
        }
    }

    private async Task<(Outcome Outcome, long Epoch, string? OwnerAddress)> HandOverAsync(LocalRuntime runtime, ILogStore store, IClusterStore cluster, ClusterMembership membership, ComponentId target, SiloEntry destination, CancellationToken cancellationToken)
    {
        var idText = target.ToString();
        var self = options.SiloId;
        var to = destination.SiloId;
        long t0 = MoveTrace.On ? System.Diagnostics.Stopwatch.GetTimestamp() : 0, tCheckpoint = 0, tPending = 0, tDeactivated = 0, tHead = 0, tWrite = 0;
        var head = await store.GetHeadAsync(idText, cancellationToken).ConfigureAwait(false);
        if (to == self && head?.Owner == self) return (Outcome.Moved, head.Epoch, null);
        if (head?.Owner == self && runtime.IsActive(target))
        {
            // The checkpoint first, while the component still serves: the deactivation below then has at most the turns
            // since to cover, so the requests that wait for the handover wait for little more than the ownership write.
            try
            {
                await runtime.CheckpointAsync(target, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                logger.LogDebug("Silo {SiloId}: the checkpoint before moving {Component} failed ({Reason}); the deactivation writes one", self, target, e.Message);
            }
        }

        if (MoveTrace.On) tCheckpoint = System.Diagnostics.Stopwatch.GetTimestamp();

        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // Counted before the entry exists, so a request that finds the count 0 cannot miss an entry already added.
        Interlocked.Increment(ref _active);
        try
        {
            // One handover of a component at a time; a second one waits for the first and then judges afresh.
            while (!_moving.TryAdd(idText, done.Task))
            {
                if (_moving.TryGetValue(idText, out var other)) await other.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch
        {
            Interlocked.Decrement(ref _active);
            throw;
        }

        try
        {
            if (MoveTrace.On) tPending = System.Diagnostics.Stopwatch.GetTimestamp();
            directory.Set(idText, destination.Address);
            var epoch = await runtime.DeactivateAsync(target, cancellationToken).ConfigureAwait(false);
            if (MoveTrace.On) tDeactivated = System.Diagnostics.Stopwatch.GetTimestamp();
            head = await store.GetHeadAsync(idText, cancellationToken).ConfigureAwait(false);
            if (MoveTrace.On) tHead = System.Diagnostics.Stopwatch.GetTimestamp();
            bool moved;
            if (head is null || head.Owner is null || membership.Find(head.Owner) is null)
            {
                var claim = new ClaimRequest(idText, head?.Epoch ?? 0, to, ClaimMode.RespectLiveSilo);
                moved = (await cluster.ClaimAsync(claim, cancellationToken).ConfigureAwait(false)).Claimed is not null;
            }
            else if (head.Owner == self)
            {
                moved = await cluster.HandOverAsync(idText, epoch ?? head.Epoch, self, to, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                directory.Forget(idText);
                return (Outcome.OwnedElsewhere, head.Epoch, membership.Find(head.Owner)!.Address);
            }

            if (MoveTrace.On) tWrite = System.Diagnostics.Stopwatch.GetTimestamp();
            if (!moved)
            {
                directory.Forget(idText);
                return (Outcome.Raced, head?.Epoch ?? 0, null);
            }

            logger.LogDebug("Silo {SiloId}: moved {Component} to {To}", self, target, to);
            return (Outcome.Moved, head?.Epoch ?? 0, null);
        }
        catch
        {
            // The handover did not finish: whoever the store names owner serves it; look it up again.
            directory.Forget(idText);
            throw;
        }
        finally
        {
            _moving.TryRemove(new KeyValuePair<string, Task>(idText, done.Task));
            Interlocked.Decrement(ref _active);
            done.TrySetResult();
            if (MoveTrace.On)
            {
                MoveTrace.Write(t0, "giver-handover", idText,
                    $"to={to} checkpoint={MoveTrace.F(MoveTrace.Ms(t0, tCheckpoint))} enter={MoveTrace.F(MoveTrace.Ms(tCheckpoint, tPending))} pendingAt={tPending} " +
                    $"deactivate={MoveTrace.F(MoveTrace.Ms(tPending, tDeactivated))} head={MoveTrace.F(MoveTrace.Ms(tDeactivated, tHead))} write={MoveTrace.F(MoveTrace.Ms(tHead, tWrite))} " +
                    $"waited={MoveTrace.F(MoveTrace.Ms(tPending))} active={InProgress}");
            }
        }
    }

    private ReplyMessage LoggedMoved(ComponentId target, string to, long epoch)
    {
        logger.LogInformation("Silo {SiloId}: moved {Component} to {To}", options.SiloId, target, to);
        return Moved(options.SiloId, to, epoch);
    }

    private static ReplyMessage Moved(string from, string to, long epoch) => ReplyMessage.Ok(ControlCodec.Encode(new MoveResult(from, to, epoch)));
}
