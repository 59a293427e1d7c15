using Middleware.Admin.Output;
using Middleware.Core;
using Middleware.Recovery.Log;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;

namespace Middleware.Admin.Cluster;

/// <summary>
/// Finds what became of a request id on one component, reading the store only (no claim, nothing written):
/// <list type="number">
/// <item>the dedup table (turns up to the latest checkpoint, kept after the log before it is truncated): a recorded
/// reply is a commit, the fence reply (<see cref="RequestOutcome.FencedErrorType"/>) a fence;</item>
/// <item>else the stored log: a turn record (kind 1) is a commit, a fence record (kind 3) a fence; a partial record
/// (kind 2) with no final record is a turn in doubt: started, its outbound calls possibly taken effect, completed by its
/// owner before anything else (never fenced).</item>
/// </list>
/// Anything else is "not committed, not fenced": the request may still arrive and run, so only the component's owner can
/// settle it (<c>mw outcome --fence</c>).
/// </summary>
internal static class RequestLookup
{
    /// <summary>The outcome shapes' <c>outcome</c> values.</summary>
    public const string Committed = "committed", Fenced = "fenced", InDoubt = "inDoubt", NotCommitted = "notCommitted";

    public static async Task<OutcomeShape> FindAsync(ILogStore store, ComponentHead head, string requestId, CancellationToken cancellationToken)
    {
        var component = head.ComponentId;
        if (await store.FindRequestAsync(component, requestId, cancellationToken).ConfigureAwait(false) is { } entry)
        {
            var reply = RecordCodec.DecodeReply(entry.Reply);
            var at = await CommitTimeAsync(store, component, entry.Seq, cancellationToken).ConfigureAwait(false);
            return RequestOutcome.IsFenced(reply)
                ? new OutcomeShape(component, requestId, Fenced, false, "dedup", entry.Seq, at, null, null, null)
                : Commit(component, requestId, "dedup", entry.Seq, at, reply);
        }

        long? partial = null;
        if (head.LastSeq > 0)
        {
            foreach (var record in await store.ReadAsync(component, 1, head.LastSeq, cancellationToken).ConfigureAwait(false))
            {
                var at = Format.Time(record.CommittedAtTicks);
                switch (record.Kind)
                {
                    case RecordKind.Turn:
                        var turn = RecordCodec.DecodeTurn(record.Payload);
                        if (turn.RequestId == requestId) return Commit(component, requestId, "log", record.Seq, at, turn.Reply);
                        break;
                    case RecordKind.PartialTurn:
                        if (partial is null && RecordCodec.DecodeTurn(record.Payload).RequestId == requestId) partial = record.Seq;
                        break;
                    case RecordKind.Fence:
                        if (RecordCodec.DecodeFence(record.Payload).RequestId == requestId)
                            return new OutcomeShape(component, requestId, Fenced, false, "log", record.Seq, at, null, null, partial);
                        break;
                }
            }
        }

        return new OutcomeShape(component, requestId, partial is null ? NotCommitted : InDoubt, false, partial is null ? null : "log", null, null, null, null, partial);
    }

    /// <summary>A committed outcome with its recorded reply (result JSON, or the recorded error).</summary>
    public static OutcomeShape Commit(string component, string requestId, string source, long? seq, DateTime? at, ComponentReply reply) =>
        new(component, requestId, Committed, true, source, seq, at,
            reply.IsError || reply.Result.Length == 0 ? null : Format.Json(reply.Result),
            reply.IsError ? new ErrorShape(reply.ErrorType!, reply.ErrorMessage ?? "") : null,
            null);

    /// <summary>One line for people.</summary>
    public static string Describe(OutcomeShape o)
    {
        var where = o.Seq is { } seq ? $" at seq {seq}{(o.CommittedAt is { } t ? $" ({Format.Text(t)})" : "")}" : "";
        var from = o.Source switch
        {
            "dedup" => ", from the dedup table",
            "silo" => ", decided by its owner",
            _ => "",
        };
        return o.Outcome switch
        {
            Committed => $"{o.RequestId} on {o.Component}: committed{where}{from}: {ReplyText(o)}",
            Fenced => $"{o.RequestId} on {o.Component}: not committed; fenced{where}{from}: it will never run",
            InDoubt => $"{o.RequestId} on {o.Component}: in doubt: its turn started (partial record at seq {o.PartialSeq}) and has no final record yet; " +
                       "its outbound calls may have taken effect, so it is never fenced: its owner completes it before any other turn (--fence asks the owner to complete it now)",
            _ => $"{o.RequestId} on {o.Component}: not committed (not fenced; only the owner can fence it: use --fence)",
        };
    }

    private static string ReplyText(OutcomeShape o) =>
        o.Error is { } e ? $"error {e.Type}: {e.Message}" : o.Reply is { } r ? "reply " + r.GetRawText() : "reply (void)";

    private static async Task<DateTime?> CommitTimeAsync(ILogStore store, string component, long seq, CancellationToken cancellationToken)
    {
        if (seq <= 0) return null;
        var records = await store.ReadAsync(component, seq, seq, cancellationToken).ConfigureAwait(false);
        return records.Count == 0 ? null : Format.Time(records[0].CommittedAtTicks);
    }
}
