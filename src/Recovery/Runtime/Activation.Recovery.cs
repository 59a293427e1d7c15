using Middleware.Grains;
using Middleware.Recovery.Log;

namespace Middleware.Recovery.Runtime;

/// <summary>Undo, checkpoints and the dedup memory of an activation.</summary>
internal sealed partial class Activation
{
    /// <summary>
    /// Restores the state as it was before a turn that threw, by rebuilding from checkpoint and log once
    /// every earlier record is durable. Exceptions are rare, so the hot path pays no copy of the state.
    /// </summary>
    private async Task UndoAsync(Invocation inv)
    {
        try
        {
            if (await _lastWrite.ConfigureAwait(false) != AppendStatus.Ok)
            {
                MarkBroken("an earlier write was refused");
            }
            else
            {
                var loaded = await Replayer.LoadAsync(_store, Type, Id, _lastSeq, _json).ConfigureAwait(false);
                _grain = (IRecoverableGrain)loaded.Grain;
                return;
            }
        }
        catch (Exception e)
        {
            MarkBroken($"undo failed: {e.Message}");
        }

        throw new TurnNotDurableException(Id, inv.RequestId, $"the state could not be restored after the turn failed ({_brokenReason})");
    }

    /// <summary>A request id recorded with a checkpoint (so no longer in memory), or null.</summary>
    private async Task<TurnReply?> FindInStoreAsync(Invocation inv, long argsHash)
    {
        if (_checkpointSeq == 0) return null; // every turn of this component is still in _recent
        var entry = await _store.FindRequestAsync(IdText, inv.RequestId).ConfigureAwait(false);
        if (entry is null) return null;
        CheckSameRequest(entry.ArgsHash, argsHash, inv);
        return RecordCodec.DecodeReply(entry.Reply);
    }

    private void MaybeCheckpoint()
    {
        var now = _options.TimeProvider.GetUtcNow().UtcTicks;
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
            if (IsBroken || _lastSeq == _checkpointSeq) return;
            WriteCheckpoint(_options.TimeProvider.GetUtcNow().UtcTicks);
            write = _lastWrite;
        }
        finally
        {
            _turnLock.Release();
        }

        await write.ConfigureAwait(false);
    }
}
