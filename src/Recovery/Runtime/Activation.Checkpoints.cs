using Microsoft.Extensions.Logging;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;

namespace Middleware.Recovery.Runtime;

/// <summary>
/// Checkpoints and the dedup memory: when to write one, what it carries (the request ids and replies since the last
/// one, which the store keeps in its dedup table), and forgetting those ids once it is durable. A checkpoint is written
/// only if the state survives a JSON round trip: a lossy one would silently become the state of every later recovery.
/// </summary>
internal sealed partial class Activation
{
    // Turns since the last checkpoint at the last refused attempt: the next attempt waits for as many turns again.
    private int _refusedAtTurns;
    private bool _refusalLogged;
    private bool _turnLossLogged;
    private Task<AppendStatus>? _firstTurnWrite;
    private bool _longLogAdopted;
    // Whether this activation tried a checkpoint yet: until then, the threshold is spread (MaybeCheckpoint).
    private bool _checkpointTried;

    private void MaybeCheckpoint()
    {
        if (_options.VerifyStateEveryTurn) VerifyTurnState();
        // A checkpoint never hides a turn in doubt: recovery looks for partial records after the latest checkpoint only.
        if (_inDoubt.Count > 0) return;
        // Adopted with more turns since the checkpoint than one checkpoint's worth (a takeover of a long log): not before
        // the first turn of this activation is durable, or that checkpoint and its dedup entries join the first commit.
        if (_longLogAdopted && _firstTurnWrite is { IsCompleted: false }) return;
        var now = _services.Time.GetUtcNow().UtcTicks;
        // The first checkpoint of this activation comes sooner by a fraction fixed by the id (RuntimeOptions.CheckpointSpread).
        var sooner = Sooner();
        var intervalTicks = _options.CheckpointInterval.Ticks;
        intervalTicks -= (long)(intervalTicks * sooner);
        if (_sinceCheckpoint.Count - _refusedAtTurns < CheckpointTurns(sooner) && now - _lastCheckpointTicks < intervalTicks)
            return;
        WriteCheckpoint(now);
    }

    /// <summary>Turns since the last checkpoint that call for the next one: fewer before this activation's first (spread).</summary>
    private int CheckpointTurns(double? sooner = null)
    {
        var every = _options.CheckpointEveryTurns;
        return Math.Max(1, every - (int)(every * (sooner ?? Sooner())));
    }

    // How much sooner the next checkpoint comes: 0 once this activation tried one.
    private double Sooner() => _checkpointTried ? 0 : _options.CheckpointSpread * SpreadFraction(IdText);

    /// <summary>A fraction in [0, 1) fixed by the component id, the same in every process: how much sooner its activations' first checkpoint comes.</summary>
    internal static double SpreadFraction(string idText) => (Rendezvous.Weight(idText, "checkpoint") >> 11) * (1.0 / (1UL << 53));

    /// <summary>
    /// Queues a checkpoint of the current state at the last seq (caller holds the turn lock), or refuses it when the state
    /// does not read back to the same JSON: nothing is written, the log keeps every turn, and recovery replays them from
    /// the last good checkpoint, so the component serves on correctly; the refusal is logged once and counted.
    /// </summary>
    private void WriteCheckpoint(long nowTicks)
    {
        _checkpointTried = true;
        var (state, loss) = StateRoundTrip.Write(_grain.State, Type.StateType, _json);
        if (loss is not null)
        {
            _refusedAtTurns = _sinceCheckpoint.Count;
            _lastCheckpointTicks = nowTicks;
            _services.Counters.CountRefusedCheckpoint();
            if (_refusalLogged) return;
            _refusalLogged = true;
            _services.Logger.LogError(
                EngineLog.CheckpointRefusedId,
                "Refused the checkpoint of {Component} at seq {Seq}: its state ({StateType}) does not survive serialization: {Loss}. Nothing was written and the log keeps every turn, so the component serves on and recovers by replaying its log; fix the state type (public get/set properties of JSON-serializable types). Later refusals of this activation are counted, not logged",
                IdText, _lastSeq, Type.StateType.FullName, loss.Describe());
            return;
        }

        _refusedAtTurns = 0;
        // Replies are encoded for the dedup table only here, not on every turn.
        var dedup = _sinceCheckpoint.ConvertAll(d => new DedupEntry(d.RequestId, d.Seq, d.ArgsHash, RecordCodec.EncodeReply(d.Reply)));
        var checkpoint = new CheckpointRecord(_lastSeq, Epoch, state, StateCodec.Hash(state)) { Dedup = dedup };
        // Sized for as many turns as this checkpoint carried: the list does not grow (and copy) its way up again.
        _sinceCheckpoint = new(_sinceCheckpoint.Count);
        _lastCheckpointTicks = nowTicks;
        var write = _writer.Enqueue(IdText, Epoch, checkpoint, _claimTicket);
        _claimQueued = true;
        EngineTelemetry.Count(EngineTelemetry.Checkpoints, Type.Name);
        _lastWrite = write;
        _pendingCheckpoint = (_lastSeq, write);
    }

    /// <summary>The debugging check after a turn (<see cref="RuntimeOptions.VerifyStateEveryTurn"/>): log and count, never fail the turn.</summary>
    private void VerifyTurnState()
    {
        var (_, loss) = StateRoundTrip.Write(_grain.State, Type.StateType, _json);
        if (loss is null) return;
        _services.Counters.CountStateLoss();
        if (_turnLossLogged) return;
        _turnLossLogged = true;
        _services.Logger.LogError(
            EngineLog.StateLossId,
            "After the turn at seq {Seq} of {Component} (request {RequestId}, {Method}) its state ({StateType}) does not survive serialization: {Loss}. The turn stands; checkpoints of this state will be refused",
            _lastSeq, IdText, _current?.RequestId, _current?.Method, Type.StateType.FullName, loss.Describe());
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

        foreach (var id in stale)
        {
            _recent.Remove(id);
            _knowledge.Record(id);
        }
    }

    /// <summary>Writes a checkpoint now and waits until it is durable (graceful shutdown, admin).</summary>
    public async Task CheckpointAsync()
    {
        Task<AppendStatus> write;
        await _turnLock.WaitAsync().ConfigureAwait(false);
        try
        {
            // In doubt: the log after the last checkpoint must keep showing the partial record; no checkpoint until it is final.
            if (!IsActive || _lastSeq == _checkpointSeq || _inDoubt.Count > 0) return;
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
    /// The store's dedup entry of <paramref name="requestId"/>, or null. One whose checksum fails is reported (logged at
    /// error, counted as a <see cref="FailureCause.Corrupt"/> turn failure) and refused with
    /// <see cref="CorruptRecordException"/>: its reply is never served, and the request is not run again either (it did
    /// run once: exactly-once holds even when the reply it got is lost).
    /// </summary>
    private async Task<DedupEntry?> FindRecordedAsync(string requestId, CancellationToken cancellationToken)
    {
        try
        {
            return await _store.FindRequestAsync(IdText, requestId, cancellationToken).ConfigureAwait(false);
        }
        catch (CorruptRecordException e)
        {
            ReportCorrupt(requestId, e);
            throw;
        }
    }

    /// <summary>
    /// The request id the activation read found missing from the store's dedup table (it asked for the id of the request
    /// that activated it), with the log position it was adopted at. Good for one look-up (<see cref="FindInStoreAsync"/>),
    /// and only while this activation has written nothing: then the dedup table is what the read saw, plus entries of
    /// checkpoints a previous owner committed before the claim, which carry only turns of the read's tail (in
    /// <see cref="_recent"/>, which is asked first and not pruned before this activation's own checkpoint).
    /// </summary>
    internal (string RequestId, long AtSeq, long AtCheckpointSeq)? UnrecordedRequest { get; private set; }

    /// <summary>
    /// Uses up <see cref="UnrecordedRequest"/> (caller holds the turn lock): true when it proves <paramref name="requestId"/>
    /// absent from the store's dedup table, i.e. it names that request and nothing was written since the read.
    /// </summary>
    private bool TakeUnrecorded(string requestId)
    {
        if (UnrecordedRequest is not { } unrecorded) return false;
        UnrecordedRequest = null;
        return unrecorded.RequestId == requestId && unrecorded.AtSeq == _lastSeq && unrecorded.AtCheckpointSeq == _checkpointSeq && _pendingCheckpoint is null;
    }

    /// <summary>
    /// Lists up to <see cref="RequestIdKnowledge.MaxBackgroundLoad"/> recorded ids of this component outside the turn lock
    /// (one such listing at a time per runtime: a failover activates many components at once) and merges them into
    /// <paramref name="knowledge"/> under the turn lock, if it is still this activation's. Sound because the list is read
    /// after <paramref name="knowledge"/> started: every id the store held then is in it, and every id recorded since went
    /// through <see cref="RequestIdKnowledge.Record"/> when its checkpoint pruned it. A failure leaves the knowledge
    /// incomplete (the store is asked per id, as before).
    /// </summary>
    private async Task LoadKnowledgeInBackgroundAsync(RequestIdKnowledge knowledge)
    {
        RequestIdKnowledge loaded;
        var gate = _services.KnowledgeLoads;
        try
        {
            await gate.WaitAsync(_services.Stopping).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        try
        {
            if (!IsActive || !ReferenceEquals(knowledge, _knowledge)) return;
            var listed = await _store.ListRequestIdsAsync(IdText, RequestIdKnowledge.MaxBackgroundLoad, _services.Stopping).ConfigureAwait(false);
            if (listed is null) return;
            loaded = RequestIdKnowledge.Unknown();
            loaded.Load(listed);
        }
        catch (Exception)
        {
            return; // stays incomplete: every new id is looked up as before
        }
        finally
        {
            gate.Release();
        }

        await _turnLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (IsActive && ReferenceEquals(knowledge, _knowledge)) knowledge.Merge(loaded);
        }
        finally
        {
            _turnLock.Release();
        }
    }

    /// <summary>A request id recorded with a checkpoint (so no longer in memory), or null.</summary>
    private async Task<ComponentReply?> FindInStoreAsync(Invocation inv, long argsHash)
    {
        // No checkpoint yet: every turn of this component is still in _recent. Or the knowledge proves the id new.
        if (_checkpointSeq == 0 || _knowledge.IsCertainlyNew(inv.RequestId) || TakeUnrecorded(inv.RequestId)) return null;

        if (!_knowledge.LoadTried)
        {
            // Once per activation: the store's list of recorded ids (small histories), so later new ids need no read.
            _knowledge.Load(await _store.ListRequestIdsAsync(IdText, RequestIdKnowledge.MaxLoad, CancellationToken.None).ConfigureAwait(false));
            if (_knowledge.IsCertainlyNew(inv.RequestId)) return null;
            // A longer history is listed in the background, one component at a time per runtime; until it is merged
            // every new id is looked up as before.
            if (!_knowledge.Complete) _ = LoadKnowledgeInBackgroundAsync(_knowledge);
        }

        var entry = await FindRecordedAsync(inv.RequestId, CancellationToken.None).ConfigureAwait(false);
        if (entry is null) return null;
        CheckSameRequest(entry.ArgsHash, argsHash, inv);
        return RecordCodec.DecodeReply(entry.Reply);
    }
}
