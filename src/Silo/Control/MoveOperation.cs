using Microsoft.Extensions.Logging;
using Middleware.Grains;
using Middleware.Protocol;
using Middleware.Protocol.Control;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;

namespace Middleware.Silo;

/// <summary>
/// <c>$move</c>, at the component's owner: a graceful handover. This silo's own later requests are routed to the
/// destination first (so nothing re-activates the component here meanwhile), the activation is deactivated (its last
/// turn finishes, a checkpoint is written), and ownership is handed over without an epoch bump; the destination's claim
/// then raises the epoch and fences anything the old activation might still attempt.
/// </summary>
internal sealed class MoveOperation(SiloOptions options, DirectoryCache directory, ILogger logger)
{
    public async Task<ReplyMessage> HandleAsync(LocalRuntime runtime, ILogStore store, IClusterStore cluster, ClusterMembership? membership, ComponentId target, InvokeMessage request, CancellationToken cancellationToken)
    {
        var to = ControlCodec.DecodeMove(request.Args, request.Method).To;
        // A silo that joined moments ago may not be in the view yet: look again before refusing.
        if (membership is not null && membership.Find(to) is null)
            await membership.RefreshAsync(cancellationToken).ConfigureAwait(false);
        if (membership?.Find(to) is not { } destination)
            return ReplyMessage.BadRequest($"'{to}' is not a live silo; run `mw cluster status` for the live ones");
        var idText = target.ToString();
        var self = options.SiloId;
        var head = await store.GetHeadAsync(idText, cancellationToken).ConfigureAwait(false);
        if (to == self && head?.Owner == self) return Moved(self, to, head.Epoch);

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
            return ReplyMessage.Moved(membership.Find(head.Owner)!.Address);
        }

        if (!moved) return ReplyMessage.Unavailable($"{target} changed hands during the move; run the move again");
        logger.LogInformation("Silo {SiloId}: moved {Component} to {To}", self, target, to);
        return Moved(self, to, head?.Epoch ?? 0);
    }

    private static ReplyMessage Moved(string from, string to, long epoch) => ReplyMessage.Ok(ControlCodec.Encode(new MoveResult(from, to, epoch)));
}
