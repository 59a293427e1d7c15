using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Middleware.Grains;
using Middleware.Protocol;
using Middleware.Protocol.Control;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;

namespace Middleware.Silo;

/// <summary>
/// <c>$move</c>, at the component's owner: a graceful handover, also what the <see cref="Rebalancer"/> does. This silo's
/// own later requests are routed to the destination first (so nothing re-activates the component here meanwhile), and
/// requests that reach the router while the handover runs wait for it (<see cref="Pending"/>) instead of bouncing between
/// the two silos; the activation is deactivated (its last turn finishes, a checkpoint is written), and ownership is handed
/// over without an epoch bump; the destination's claim then raises the epoch and fences anything the old activation might
/// still attempt.
/// </summary>
internal sealed class MoveOperation(SiloOptions options, DirectoryCache directory, ILogger logger)
{
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
        var idText = target.ToString();
        var self = options.SiloId;
        var to = destination.SiloId;
        var head = await store.GetHeadAsync(idText, cancellationToken).ConfigureAwait(false);
        if (to == self && head?.Owner == self) return (Outcome.Moved, head.Epoch, null);

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
            directory.Set(idText, destination.Address);
            var epoch = await runtime.DeactivateAsync(target, cancellationToken).ConfigureAwait(false);
            head = await store.GetHeadAsync(idText, cancellationToken).ConfigureAwait(false);
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
        }
    }

    private ReplyMessage LoggedMoved(ComponentId target, string to, long epoch)
    {
        logger.LogInformation("Silo {SiloId}: moved {Component} to {To}", options.SiloId, target, to);
        return Moved(options.SiloId, to, epoch);
    }

    private static ReplyMessage Moved(string from, string to, long epoch) => ReplyMessage.Ok(ControlCodec.Encode(new MoveResult(from, to, epoch)));
}
