using Middleware.Core;
using Middleware.Grains;
using Middleware.Recovery.Log;

namespace Middleware.Recovery.Runtime;

/// <summary>Undo, checkpoints, the dedup memory, outcome queries with their fences, and deactivation of an activation.</summary>
internal sealed partial class Activation
{
    /// <summary>
    /// Restores the state as it was before a turn that threw, by rebuilding from checkpoint and log once
    /// every earlier record is durable. Exceptions are rare, so the hot path pays no copy of the state.
    /// </summary>
    private async Task UndoAsync(Invocation inv)
    {
        if (!await RestoreAsync("undo failed").ConfigureAwait(false))
            throw new TurnNotDurableException(Id, inv.RequestId, $"the state could not be restored after the turn failed ({_brokenReason})");
    }

    /// <summary>A request id recorded with a checkpoint (so no longer in memory), or null.</summary>
    private async Task<ComponentReply?> FindInStoreAsync(Invocation inv, long argsHash)
    {
        if (_checkpointSeq == 0) return null; // every turn of this component is still in _recent
        var entry = await _store.FindRequestAsync(IdText, inv.RequestId).ConfigureAwait(false);
        if (entry is null) return null;
        CheckSameRequest(entry.ArgsHash, argsHash, inv);
        return RecordCodec.DecodeReply(entry.Reply);
    }

    private void MaybeCheckpoint()
    {
        // A checkpoint never hides a turn in doubt: recovery looks for partial records after the latest checkpoint only.
        if (_inDoubt.Count > 0) return;
        var now = _services.Time.GetUtcNow().UtcTicks;
        if (_sinceCheckpoint.Count < _options.CheckpointEveryTurns && now - _lastCheckpointTicks < _options.CheckpointInterval.Ticks)
            return;
        WriteCheckpoint(now);
    }

    /// <summary>Queues a checkpoint of the current state at the last seq (caller holds the turn lock).</summary>
    private void WriteCheckpoint(long nowTicks)
    {
        var state = StateCodec.Serialize(_grain.State, Type.StateType, _json);
        // Replies are encoded for the dedup table only here, not on every turn.
        var dedup = _sinceCheckpoint.ConvertAll(d => new DedupEntry(d.RequestId, d.Seq, d.ArgsHash, RecordCodec.EncodeReply(d.Reply)));
        var checkpoint = new CheckpointRecord(_lastSeq, Epoch, state, StateCodec.Hash(state)) { Dedup = dedup };
        _sinceCheckpoint = [];
        _lastCheckpointTicks = nowTicks;
        var write = _writer.Enqueue(IdText, Epoch, checkpoint);
        _lastWrite = write;
        _pendingCheckpoint = (_lastSeq, write);
    }

    /// <summary>Once a checkpoint is durable, its request ids live in the store's dedup table: drop them here.</summary>
    private void PrunePastCheckpoint()
    {
        if (_pendingCheckpoint is not { } pending || !pending.Write.IsCompleted) return;
        _pendingCheckpoint = null;
        if (!pending.Write.IsCompletedSuccessfully || pending.Write.Result != AppendStatus.Ok) return;
        _checkpointSeq = pending.Seq;
        var stale = new List<string>();
        foreach (var (id, slot) in _recent)
        {
            if (slot.Seq <= pending.Seq) stale.Add(id);
        }

        foreach (var id in stale) _recent.Remove(id);
    }

    /// <summary>Writes a checkpoint now and waits until it is durable (graceful shutdown, admin).</summary>
    public async Task CheckpointAsync()
    {
        Task<AppendStatus> write;
        await _turnLock.WaitAsync().ConfigureAwait(false);
        try
        {
            // In doubt: the log after the last checkpoint must keep showing the partial record; no checkpoint until it is final.
            if (IsBroken || _lastSeq == _checkpointSeq || _inDoubt.Count > 0) return;
            WriteCheckpoint(_services.Time.GetUtcNow().UtcTicks);
            write = _lastWrite;
        }
        finally
        {
            _turnLock.Release();
        }

        await write.ConfigureAwait(false);
    }

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
        await _turnLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ThrowIfBroken(requestId);
            PrunePastCheckpoint();
            if (_recent.TryGetValue(requestId, out var seen))
            {
                reply = seen.Reply;
            }
            else if (_checkpointSeq != 0 && await _store.FindRequestAsync(IdText, requestId, cancellationToken).ConfigureAwait(false) is { } entry)
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
        var seq = _lastSeq + 1;
        var write = _writer.Enqueue(IdText, Epoch, new LogRecord(seq, Epoch, RecordKind.Fence, RecordCodec.EncodeFence(new FenceRecord(requestId))));
        _lastSeq = seq;
        _lastWrite = write;
        var fenced = RequestOutcome.FencedReply(Id, requestId);
        var durable = AwaitDurableAsync(write, fenced, requestId);
        _recent[requestId] = new Slot(DedupEntry.AnyArgs, seq, durable);
        _sinceCheckpoint.Add((requestId, seq, DedupEntry.AnyArgs, fenced));
        MaybeCheckpoint();
        return durable;
    }

    /// <summary>
    /// Ends this activation: waits for the turn in progress (under the turn lock), writes a checkpoint when the log
    /// moved past the last one, waits until everything is durable, and stops serving (later callers get
    /// <see cref="ActivationBrokenException"/>, and the runtime activates the component again). Returns the epoch.
    /// </summary>
    public async Task<long> DeactivateAsync(CancellationToken cancellationToken)
    {
        Task<AppendStatus> write;
        await _turnLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (IsBroken) return Epoch; // nothing trustworthy to checkpoint; the log has everything durable
            if (_lastSeq != _checkpointSeq && _pendingCheckpoint?.Seq != _lastSeq && _inDoubt.Count == 0)
                WriteCheckpoint(_services.Time.GetUtcNow().UtcTicks);
            write = _lastWrite;
            MarkBroken("deactivated");
        }
        finally
        {
            _turnLock.Release();
        }

        try
        {
            await write.ConfigureAwait(false);
        }
        catch (Exception)
        {
            // The final checkpoint did not make it: the next activation replays the log instead. Nothing is lost.
        }

        return Epoch;
    }
}
