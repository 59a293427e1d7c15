using Middleware.Core;
using Middleware.Grains;
using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;

namespace Middleware.Recovery.Runtime;

/// <summary>What <see cref="LocalRuntime.ResetAsync"/> or <see cref="LocalRuntime.AcceptAsync"/> recorded.</summary>
/// <param name="Component">The component.</param>
/// <param name="Action">Reset or accept.</param>
/// <param name="RecordSeq">The seq of the control record (and of the checkpoint written with it).</param>
/// <param name="FromSeq">Reset: the seq the state went back to. Accept: the first seq adopted.</param>
/// <param name="Turns">Reset: turns superseded. Accept: turns re-executed with the current code.</param>
/// <param name="ChangedReplies">Accept: turns whose reply the current code changes (0 for a reset).</param>
public sealed record HistoryDecision(ComponentId Component, ControlAction Action, long RecordSeq, long FromSeq, int Turns, int ChangedReplies);

/// <summary>
/// The way out of a divergence, in the spirit of Temporal's workflow reset: a <em>reset</em> rebuilds the state from the
/// log up to a seq with the current code and supersedes every later record; an <em>accept</em> adopts what the current
/// code produces from a seq on, after an intended change of behaviour. Either appends a <see cref="RecordKind.Control"/>
/// record that says who decided what and why, with a checkpoint at the same seq holding the state from then on, so the
/// next activation starts there and audits can explain the history. Superseded records stay readable; their request
/// ids keep their recorded replies (a retry of one is answered, never run again): a reset changes the state going
/// forward, not what callers were told.
/// </summary>
internal static class HistoryDecisions
{
    public static async Task<HistoryDecision> ResetAsync(RuntimeServices services, ComponentTypeInfo type, ComponentId id, long toSeq, string by, string reason, CancellationToken cancellationToken)
    {
        var head = await ClaimAsync(services, id, cancellationToken).ConfigureAwait(false);
        if (toSeq < 0 || toSeq > head.LastSeq)
            throw new ArgumentOutOfRangeException(nameof(toSeq), toSeq, $"{id} has records up to seq {head.LastSeq}; reset to a seq from 0 to {head.LastSeq}.");
        // The state at toSeq, rebuilt with the current code: replay up to it must reproduce the log (else reset earlier).
        var loaded = await Replayer.LoadAsync(services.Store, type, id, toSeq, services.Registry.Json, cancellationToken).ConfigureAwait(false);
        var turns = await CountTurnsAsync(services.Store, id, toSeq + 1, head.LastSeq, cancellationToken).ConfigureAwait(false);
        var control = new ControlRecord(ControlAction.Reset, by, reason, services.Time.GetUtcNow().UtcTicks, type.CodeVersion, toSeq);
        var seq = await RecordAsync(services, type, id, head, control, ((IRecoverableGrain)loaded.Grain).State, cancellationToken).ConfigureAwait(false);
        return new HistoryDecision(id, ControlAction.Reset, seq, toSeq, turns, 0);
    }

    public static async Task<HistoryDecision> AcceptAsync(RuntimeServices services, ComponentTypeInfo type, ComponentId id, long fromSeq, string by, string reason, CancellationToken cancellationToken)
    {
        var head = await ClaimAsync(services, id, cancellationToken).ConfigureAwait(false);
        if (fromSeq < 1 || fromSeq > head.LastSeq)
            throw new ArgumentOutOfRangeException(nameof(fromSeq), fromSeq, $"{id} has records up to seq {head.LastSeq}; accept from a seq from 1 to {head.LastSeq}.");
        var json = services.Registry.Json;
        var loaded = await Replayer.LoadAsync(services.Store, type, id, fromSeq - 1, json, cancellationToken).ConfigureAwait(false);
        var grain = loaded.Grain;
        int turns = 0, changed = 0;
        foreach (var record in await services.Store.ReadAsync(id.ToString(), fromSeq, head.LastSeq, cancellationToken).ConfigureAwait(false))
        {
            if (record.Kind != RecordKind.Turn) continue;
            var (_, replyChanged) = await Replayer.ApplyAsync(grain, type, id, record, json, acceptChangedReply: true).ConfigureAwait(false);
            turns++;
            if (replyChanged) changed++;
        }

        var control = new ControlRecord(ControlAction.Accept, by, $"{reason} ({changed} of {turns} replies changed)", services.Time.GetUtcNow().UtcTicks, type.CodeVersion, fromSeq);
        var seq = await RecordAsync(services, type, id, head, control, ((IRecoverableGrain)grain).State, cancellationToken).ConfigureAwait(false);
        return new HistoryDecision(id, ControlAction.Accept, seq, fromSeq, turns, changed);
    }

    /// <summary>Claims the component through the runtime's ownership policy (epoch + 1), which fences any earlier owner.</summary>
    private static async Task<ComponentHead> ClaimAsync(RuntimeServices services, ComponentId id, CancellationToken cancellationToken)
    {
        var idText = id.ToString();
        for (var attempt = 0; ; attempt++)
        {
            var head = await services.Store.GetHeadAsync(idText, cancellationToken).ConfigureAwait(false)
                ?? throw new UnknownComponentException($"{id} has no log in {services.Store.Name}; there is nothing to reset or accept.");
            var result = await services.Ownership.ClaimAsync(idText, head.Epoch, cancellationToken).ConfigureAwait(false);
            if (result.Claimed is { } claimed) return claimed;
            if (result.LiveOwner is { } owner) throw new ComponentOwnedElsewhereException(id, owner, result.LiveOwnerAddress);
            if (attempt >= 10) throw new InvalidOperationException($"Could not claim {id}: its epoch kept changing under concurrent claims.");
        }
    }

    private static async Task<int> CountTurnsAsync(ILogStore store, ComponentId id, long from, long to, CancellationToken cancellationToken) =>
        from > to ? 0 : (await store.ReadCheckedAsync(id.ToString(), from, to, cancellationToken).ConfigureAwait(false)).Count(r => r.Kind == RecordKind.Turn);

    /// <summary>
    /// Appends the control record at head + 1 and a checkpoint of <paramref name="state"/> at the same seq, carrying the
    /// request ids recorded since the previous checkpoint (superseded ones too) for the dedup table.
    /// </summary>
    private static async Task<long> RecordAsync(RuntimeServices services, ComponentTypeInfo type, ComponentId id, ComponentHead head, ControlRecord control, object state, CancellationToken cancellationToken)
    {
        var idText = id.ToString();
        var seq = head.LastSeq + 1;
        var dedup = new List<DedupEntry>();
        var from = head.CheckpointSeq + 1;
        if (from <= head.LastSeq)
        {
            // A reset is the way back from a corrupt record (it supersedes it): corrupt records are skipped here, and their
            // request ids, which cannot be read, are not kept (the backup is the way to keep them).
            foreach (var record in await services.Store.ReadCheckedAsync(idText, from, head.LastSeq, cancellationToken).ConfigureAwait(false))
            {
                if (record.Checksum == ChecksumStatus.Corrupt) continue;
                if (record.Kind == RecordKind.Turn)
                {
                    var turn = RecordCodec.DecodeTurn(record.Payload);
                    dedup.Add(new DedupEntry(turn.RequestId, record.Seq, turn.ArgsHash, RecordCodec.EncodeReply(turn.Reply)));
                }
                else if (record.Kind == RecordKind.Fence)
                {
                    var fence = RecordCodec.DecodeFence(record.Payload);
                    dedup.Add(new DedupEntry(fence.RequestId, record.Seq, DedupEntry.AnyArgs, RecordCodec.EncodeReply(RequestOutcome.FencedReply(id, fence.RequestId))));
                }
            }
        }

        var bytes = StateCodec.Serialize(state, type.StateType, services.Registry.Json);
        var checkpoint = new CheckpointRecord(seq, head.Epoch, bytes, StateCodec.Hash(bytes)) { Dedup = dedup };
        var recordWrite = services.Writer.Enqueue(idText, head.Epoch, new LogRecord(seq, head.Epoch, RecordKind.Control, RecordCodec.EncodeControl(control)));
        var checkpointWrite = services.Writer.Enqueue(idText, head.Epoch, checkpoint);
        foreach (var status in await Task.WhenAll(recordWrite, checkpointWrite).ConfigureAwait(false))
        {
            if (status != AppendStatus.Ok)
                throw new InvalidOperationException($"The {control.Action} of {id} was refused by the store ({status}): another owner took the component meanwhile; run it again.");
        }

        return seq;
    }
}
