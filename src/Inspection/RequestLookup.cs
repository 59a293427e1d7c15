using Middleware.Core;
using Middleware.Recovery.Log;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;

namespace Middleware.Inspection;

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
public static class RequestLookup
{
    /// <summary>The outcome shapes' <c>outcome</c> values.</summary>
    public const string Committed = "committed", Fenced = "fenced", InDoubt = "inDoubt", NotCommitted = "notCommitted";

    /// <summary>
    /// The outcome when the answer is in a record that fails its checksum (the request's dedup entry, or a log record
    /// that might be the request's): unknown, and never answered from the damaged bytes.
    /// </summary>
    public const string Corrupt = "corrupt";

    public static async Task<OutcomeShape> FindAsync(ILogStore store, ComponentHead head, string requestId, CancellationToken cancellationToken)
    {
        var component = head.ComponentId;
        DedupEntry? entry;
        try
        {
            entry = await store.FindRequestAsync(component, requestId, cancellationToken).ConfigureAwait(false);
        }
        catch (CorruptRecordException e)
        {
            return new OutcomeShape(component, requestId, Corrupt, false, "dedup", e.Seq, null, null, new ErrorShape(Corrupt, e.Message), null);
        }

        if (entry is not null)
        {
            var reply = RecordCodec.DecodeReply(entry.Reply);
            var at = await CommitTimeAsync(store, component, entry.Seq, cancellationToken).ConfigureAwait(false);
            return RequestOutcome.IsFenced(reply)
                ? new OutcomeShape(component, requestId, Fenced, false, "dedup", entry.Seq, at, null, null, null)
                : Commit(component, requestId, "dedup", entry.Seq, at, reply);
        }

        long? partial = null;
        var corrupt = new List<long>();
        if (head.LastSeq > 0)
        {
            foreach (var record in await store.ReadCheckedAsync(component, 1, head.LastSeq, cancellationToken).ConfigureAwait(false))
            {
                var at = RecordShapes.Time(record.CommittedAtTicks);
                if (record.Checksum == ChecksumStatus.Corrupt)
                {
                    corrupt.Add(record.Seq); // it may be this request's: never decoded, and the answer is not "not committed"
                    continue;
                }

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

        if (corrupt.Count > 0 && partial is null)
        {
            return new OutcomeShape(component, requestId, Corrupt, false, "log", corrupt[0], null, null,
                new ErrorShape(Corrupt, $"{requestId} is not in the intact records of {component}, but its log has {corrupt.Count} corrupt record(s) (seq {string.Join(", ", corrupt)}) that may hold it; " +
                                        $"inspect them with mw log {component} --from {corrupt[0]} --to {corrupt[^1]}"), null);
        }

        return new OutcomeShape(component, requestId, partial is null ? NotCommitted : InDoubt, false, partial is null ? null : "log", null, null, null, null, partial);
    }

    /// <summary>
    /// Looks for <paramref name="requestId"/> in every component's dedup table and log (slow on a big store); the hits are
    /// what is not plainly "not committed". <paramref name="advance"/> is called after each component.
    /// </summary>
    public static async Task<OutcomeScanShape> ScanAsync(ILogStore store, IReadOnlyList<ComponentHead> heads, string requestId, Action? advance, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(heads);
        var found = new List<OutcomeShape>();
        foreach (var head in heads)
        {
            var shape = await FindAsync(store, head, requestId, cancellationToken).ConfigureAwait(false);
            if (shape.Outcome != NotCommitted || shape.PartialSeq is not null) found.Add(shape);
            advance?.Invoke();
        }

        return new OutcomeScanShape(requestId, heads.Count, found);
    }

    /// <summary>A committed outcome with its recorded reply (result JSON, or the recorded error).</summary>
    public static OutcomeShape Commit(string component, string requestId, string source, long? seq, DateTime? at, ComponentReply reply) =>
        new(component, requestId, Committed, true, source, seq, at,
            reply.IsError || reply.Result.Length == 0 ? null : RecordShapes.Json(reply.Result),
            reply.IsError ? new ErrorShape(reply.ErrorType!, reply.ErrorMessage ?? "") : null,
            null);

    /// <summary>One line for people.</summary>
    public static string Describe(OutcomeShape o)
    {
        var where = o.Seq is { } seq ? $" at seq {seq}{(o.CommittedAt is { } t ? $" ({RecordShapes.Text(t)})" : "")}" : "";
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
            Corrupt => $"{o.RequestId} on {o.Component}: unknown, a record that holds the answer is corrupt: {o.Error?.Message}",
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
        var records = await store.ReadCheckedAsync(component, seq, seq, cancellationToken).ConfigureAwait(false);
        return records.Count == 0 ? null : RecordShapes.Time(records[0].CommittedAtTicks);
    }
}
