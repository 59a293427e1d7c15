using Middleware.Core;
using Middleware.Grains;
using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;

namespace Middleware.Recovery.Runtime;

/// <summary>Outcome queries: answered from the log, completed when in doubt, or settled "not committed" by a durable fence.</summary>
internal sealed partial class Activation
{
    /// <summary>
    /// Whether <paramref name="requestId"/> committed here. A recorded id (in memory, in flight: awaited, or in the
    /// store's dedup table) is committed with its reply, unless it is a fence. An in-doubt turn (a partial record
    /// without its final one) is completed first, exactly as a retry of it would be: its outbound calls may already have
    /// taken effect, so it is never declared uncommitted. Any other id gets a durable fence record and is "not
    /// committed" from then on (a late arrival of it is refused with the fence reply), but only once no turn is in
    /// doubt: until then the query is refused with <see cref="ComponentInDoubtException"/> (retryable).
    /// </summary>
    public async Task<RequestOutcome> GetOutcomeAsync(string requestId, CancellationToken cancellationToken)
    {
        Task<ComponentReply> reply;
        TurnRecord? inDoubt = null;
        // Behind a turn that waits on a call, the id is decided aside (Activation.Deadlines.cs): a deadline must not wait on it.
        if (await WaitTurnOrDecideAsideAsync(requestId, cancellationToken).ConfigureAwait(false) is { } aside) return aside;
        try
        {
            ThrowIfNotServing(requestId);
            PrunePastCheckpoint();
            if (_recent.TryGetValue(requestId, out var seen))
            {
                reply = seen.Reply;
            }
            else if (_checkpointSeq != 0 && await FindRecordedAsync(requestId, cancellationToken).ConfigureAwait(false) is { } entry)
            {
                return RequestOutcome.Of(RecordCodec.DecodeReply(entry.Reply));
            }
            else if (_inDoubt.TryGetValue(requestId, out var partial))
            {
                inDoubt = partial;
                reply = Task.FromResult(ComponentReply.Void);
            }
            else
            {
                // Never fence while a turn is in doubt: nothing is appended ahead of it, and it may be this id's caller.
                ThrowIfAnotherInDoubt(requestId);
                reply = AppendFence(requestId);
            }
        }
        finally
        {
            _turnLock.Release();
        }

        if (inDoubt is not null)
        {
            if (!Type.Methods.TryGetValue(inDoubt.Method, out var method))
                throw new InvalidOperationException($"Request '{requestId}' on {Id} is in doubt (its turn started but did not finish) and cannot be resumed: {Type.InterfaceType.Name} has no method '{inDoubt.Method}' any more.");
            var resumed = new Invocation(Id, inDoubt.RequestId, inDoubt.Method, inDoubt.Args, inDoubt.SessionId, inDoubt.Caller);
            return RequestOutcome.Of(await ExecuteAsync(resumed, method).ConfigureAwait(false));
        }

        return RequestOutcome.Of(await reply.ConfigureAwait(false));
    }

    /// <summary>Appends a fence for an unrecorded request id (caller holds the turn lock); completes when it is durable.</summary>
    private Task<ComponentReply> AppendFence(string requestId)
    {
        var (seq, write) = Append(RecordKind.Fence, RecordCodec.EncodeFence(new FenceRecord(requestId)));
        var fenced = RequestOutcome.FencedReply(Id, requestId);
        var durable = AwaitDurableAsync(write, fenced, requestId);
        _recent[requestId] = new DedupSlot(DedupEntry.AnyArgs, seq, durable);
        _sinceCheckpoint.Add((requestId, seq, DedupEntry.AnyArgs, fenced));
        MaybeCheckpoint();
        return durable;
    }
}
