using Microsoft.Extensions.Logging;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;

namespace Middleware.Recovery.Runtime;

/// <summary>Where an activation is in its life. Stored in the activation; a reader can switch on it.</summary>
internal enum ActivationState
{
    /// <summary>Created (and placed in the runtime's table), recovery not started.</summary>
    Creating,

    /// <summary>Claiming the component, replaying its log, completing a turn in doubt first.</summary>
    Recovering,

    /// <summary>Serving requests (a turn in doubt that could not complete yet is still being retried; see <see cref="Activation.HasTurnInDoubt"/>).</summary>
    Active,

    /// <summary>Finishing its last turn and writing a final checkpoint; no new request starts.</summary>
    Deactivating,

    /// <summary>Ended gracefully; the runtime activates the component again for its next request.</summary>
    Deactivated,

    /// <summary>
    /// Ended because its memory cannot be trusted (a write failed or was fenced, recovery failed) or it was dropped
    /// (the silo was declared dead); see <see cref="Activation.EndReason"/>. The runtime replaces it.
    /// </summary>
    Broken,
}

/// <summary>
/// The life of an activation: recovery (claim, load, replay, complete what is in doubt), the explicit state every
/// caller checks, graceful deactivation and abandonment.
/// </summary>
internal sealed partial class Activation
{
    // Let go once it completed successfully (Ready is then a completed task): 88 bytes every live activation kept.
    private TaskCompletionSource? _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _state = (int)ActivationState.Creating;
    private volatile string? _endReason;
    private ControlRecord? _decision;
    private string? _previousOwner;
    private string? _activatingRequest;

    /// <summary>The activation's state now.</summary>
    public ActivationState State => (ActivationState)Volatile.Read(ref _state);

    /// <summary>Why it ended (<see cref="ActivationState.Broken"/> or <see cref="ActivationState.Deactivated"/>), else null.</summary>
    public string? EndReason => _endReason;

    /// <summary>True while it serves requests.</summary>
    public bool IsActive => State == ActivationState.Active;

    /// <summary>Completes when the activation serves, or faults with the reason it could not recover.</summary>
    public Task Ready => Volatile.Read(ref _ready)?.Task ?? Task.CompletedTask;

    /// <summary>
    /// Starts recovery once (later calls do nothing): claims the component (epoch + 1), loads its latest checkpoint,
    /// replays the log after it checking every reproduced reply, completes a turn in doubt first, and only then serves.
    /// </summary>
    public void Start() => Start(null, null);

    /// <summary>
    /// Starts recovery once, first recording <paramref name="decision"/> (a release: the activation then replays and
    /// serves as usual; a quarantine: it ends once the record is durable, and <see cref="Ready"/> faults with
    /// <see cref="ComponentQuarantinedException"/>). <paramref name="requestId"/> is the request that asked for it, if
    /// any: the activation read also looks it up in the store's dedup table (<see cref="UnrecordedRequest"/>).
    /// </summary>
    public void Start(ControlRecord? decision, string? requestId)
    {
        if (Interlocked.CompareExchange(ref _state, (int)ActivationState.Recovering, (int)ActivationState.Creating) != (int)ActivationState.Creating) return;
        _decision = decision;
        _activatingRequest = requestId;
        _ = RecoverAsync();
    }

    /// <summary>Recovery succeeded: whoever waits on <see cref="Ready"/> goes on, and the completion source is let go.</summary>
    private void SetReady()
    {
        _ready?.TrySetResult();
        Volatile.Write(ref _ready, null);
    }

    private async Task RecoverAsync()
    {
        ComponentHead? claimed = null;
        string? unrecorded = null;
        try
        {
            ActivationRead? firstRead = null;
            if (_decision is null && _activatingRequest is not null && _options.ClaimInFirstWrite && _store.SupportsClaimInAppend)
            {
                firstRead = await ReadForClaimAsync().ConfigureAwait(false);
                if (await TryServeBeforeClaimAsync(firstRead).ConfigureAwait(false))
                {
                    if (Interlocked.CompareExchange(ref _state, (int)ActivationState.Active, (int)ActivationState.Recovering) != (int)ActivationState.Recovering)
                        throw new ActivationBrokenException(Id, "(activation)", _endReason ?? "it was dropped while recovering");
                    EngineTelemetry.Count(EngineTelemetry.Activations, Type.Name);
                    SetReady();
                    return;
                }
            }

            (claimed, var read) = await ClaimAsync(firstRead).ConfigureAwait(false);
            Epoch = claimed.Epoch;
            if (_decision is { } decision)
            {
                claimed = await RecordDecisionAsync(claimed, decision).ConfigureAwait(false);
                if (decision.Action == ControlAction.Quarantine) throw new ComponentQuarantinedException(Id, decision);
            }

            // What was read before the claim (head, latest checkpoint, tail: one read) is the whole log up to the claimed
            // head when the claim found the head where the read left it: the claim fences every later append of a previous
            // owner, and records up to a seq never change. Otherwise (a previous owner appended in between, or a decision
            // was recorded) the log is read again up to the claimed head. A standing quarantine for this code refuses
            // before any replay. A warm standby of a mirror (if this runtime kept one) only needs the tail beyond it.
            var loaded = await WarmStartAsync(claimed).ConfigureAwait(false);
            if (loaded is null)
            {
                if (read.Head is { } readHead && readHead.LastSeq == claimed.LastSeq && read.IsComplete)
                {
                    loaded = (await Replayer.CursorFromAsync(Type, Id, _json, read.Checkpoint, read.Tail, honorQuarantine: true, _store.Name).ConfigureAwait(false)).ToLoaded();
                    unrecorded = read.RequestNotRecorded;
                }
                else if (read.Head is null && claimed.LastSeq == 0)
                {
                    loaded = (await Replayer.CursorFromAsync(Type, Id, _json, null, [], honorQuarantine: true, _store.Name).ConfigureAwait(false)).ToLoaded();
                }
                else
                {
                    var loadStart = EngineTelemetry.StoreDuration.Enabled ? System.Diagnostics.Stopwatch.GetTimestamp() : 0;
                    loaded = await Replayer.LoadAsync(_store, Type, Id, claimed.LastSeq, _json, honorQuarantine: true, CancellationToken.None).ConfigureAwait(false);
                    if (loadStart != 0) EngineTelemetry.RecordStore(loadStart, _writer.StoreLabel, "load");
                }

                EngineTelemetry.Count(EngineTelemetry.ReplayedRecords, Type.Name, loaded.LastSeq - loaded.CheckpointSeq);
            }

            if (loaded.LastSeq != claimed.LastSeq)
                throw new InvalidDataException($"The log of {Id} ends at seq {loaded.LastSeq} but its head says {claimed.LastSeq}.");
            Adopt(claimed.Epoch, loaded);
            if (unrecorded is not null) UnrecordedRequest = new(unrecorded, _lastSeq, _checkpointSeq);
            if (Interlocked.CompareExchange(ref _state, (int)ActivationState.Active, (int)ActivationState.Recovering) != (int)ActivationState.Recovering)
                throw new ActivationBrokenException(Id, "(activation)", _endReason ?? "it was dropped while recovering");
            await CompleteInDoubtFirstAsync().ConfigureAwait(false);
            EngineTelemetry.Count(EngineTelemetry.Activations, Type.Name);
            SetReady();
        }
        catch (Exception e)
        {
            ReportActivationFailure(e);
            var failure = e;
            if (claimed is not null && e is ReplayDivergenceException or InvalidDataException or CorruptRecordException)
                failure = await QuarantineAsync(claimed, e).ConfigureAwait(false);
            End(ActivationState.Broken, $"activation failed: {failure.Message}");
            _ready?.TrySetException(failure);
        }
    }

    /// <summary>
    /// The log cannot be replayed with this code: record a quarantine for it (so no owner replays it again on every
    /// request until an operator acts or other code is deployed) and return the exception callers get.
    /// </summary>
    private async Task<Exception> QuarantineAsync(ComponentHead claimed, Exception cause)
    {
        var quarantine = new ControlRecord(ControlAction.Quarantine, _options.OwnerId, $"{CauseOf(cause)}: {cause.Message}",
            _services.Time.GetUtcNow().UtcTicks, Type.CodeVersion, 0);
        try
        {
            await RecordDecisionAsync(claimed, quarantine).ConfigureAwait(false);
        }
        catch (Exception e) when (e is StoreUnavailableException or InvalidOperationException or ObjectDisposedException)
        {
            // Not recorded: the next activation replays and quarantines again. The caller still learns why.
        }

        _services.Counters.CountQuarantine(CauseOf(cause));
        EngineLog.Quarantined(_services.Logger, IdText, quarantine.Reason);
        return new ComponentQuarantinedException(Id, quarantine, cause);
    }

    /// <summary>Appends <paramref name="decision"/> after the claimed head (under the claimed epoch) and returns the head after it.</summary>
    private async Task<ComponentHead> RecordDecisionAsync(ComponentHead claimed, ControlRecord decision)
    {
        var seq = claimed.LastSeq + 1;
        var status = await _writer.Enqueue(IdText, claimed.Epoch, new LogRecord(seq, claimed.Epoch, RecordKind.Control, RecordCodec.EncodeControl(decision))).ConfigureAwait(false);
        if (status != AppendStatus.Ok)
            throw new InvalidOperationException($"The {decision.Action} record of {Id} was refused ({status}): another owner took the component.");
        return claimed with { LastSeq = seq };
    }

    /// <summary>
    /// The state to serve from when this runtime mirrored the component: the standby's cursor plus the records the store
    /// has beyond it (normally none: they were shipped), or null for a cold replay (no standby, or one that cannot be
    /// continued: ahead of the log, waiting for a reset's checkpoint, or a tail that does not apply as a continuation).
    /// </summary>
    private async Task<Replayer.Loaded?> WarmStartAsync(ComponentHead claimed)
    {
        var mirrors = _services.Mirrors;
        var cursor = mirrors is null ? null : await mirrors.TakeAsync(Id).ConfigureAwait(false);
        if (cursor is null || cursor.LastSeq > claimed.LastSeq)
        {
            if (_previousOwner is { } previous && previous != _options.OwnerId && claimed.LastSeq > 0) mirrors?.CountCold();
            return null;
        }

        var tail = cursor.LastSeq == claimed.LastSeq ? [] : await _store.ReadAsync(IdText, cursor.LastSeq + 1, claimed.LastSeq, CancellationToken.None).ConfigureAwait(false);
        try
        {
            foreach (var record in tail)
            {
                await cursor.ApplyAsync(record).ConfigureAwait(false);
                if (cursor.NeedsReload) return null;
            }
        }
        catch (InvalidDataException)
        {
            return null; // a gap (truncated past the standby): the cold path reports what it finds
        }

        if (cursor.LastSeq != claimed.LastSeq) return null;
        if (cursor.Quarantine is { } quarantine && (quarantine.CodeVersion is null || quarantine.CodeVersion == Type.CodeVersion))
            throw new ComponentQuarantinedException(Id, quarantine);
        mirrors!.CountWarm(tail.Count);
        return cursor.ToLoaded();
    }

    /// <summary>
    /// Reads what the activation needs (<see cref="ILogStore.ReadForActivationAsync(string, CancellationToken)"/>: head, latest checkpoint, tail) and
    /// claims from the head read: a conditional epoch bump through the runtime's ownership policy. A live owner elsewhere
    /// is an exception naming it; a conflict (someone claimed in between) reads again.
    /// </summary>
    private async Task<(ComponentHead Claimed, ActivationRead Read)> ClaimAsync(ActivationRead? firstRead = null)
    {
        for (var attempt = 0; ; attempt++)
        {
            var read = attempt == 0 && firstRead is not null ? firstRead : await ReadForClaimAsync().ConfigureAwait(false);
            var head = read.Head;
            _previousOwner = head?.Owner;
            var claimStart = EngineTelemetry.StoreDuration.Enabled ? System.Diagnostics.Stopwatch.GetTimestamp() : 0;
            var result = await _services.Ownership.ClaimAsync(IdText, head?.Epoch ?? 0, CancellationToken.None).ConfigureAwait(false);
            if (claimStart != 0) EngineTelemetry.RecordStore(claimStart, _writer.StoreLabel, "claim");
            EngineTelemetry.CountClaim(result.Claimed is not null ? "claimed" : result.LiveOwner is not null ? "owned_elsewhere" : "conflict");
            if (result.Claimed is { } claimed)
            {
                EngineLog.Claimed(_services.Logger, IdText, claimed.Epoch, _previousOwner, _options.OwnerId);
                return (claimed, read);
            }

            if (result.LiveOwner is { } owner) throw new ComponentOwnedElsewhereException(Id, owner, result.LiveOwnerAddress);
            if (attempt >= 10) throw new InvalidOperationException($"Could not claim {Id}: its epoch kept changing under concurrent claims.");
        }
    }

    /// <summary>The activation read (<see cref="ILogStore.ReadForActivationAsync(string, string?, CancellationToken)"/>); a corrupt one as the head alone.</summary>
    private async Task<ActivationRead> ReadForClaimAsync()
    {
        var readStart = EngineTelemetry.StoreDuration.Enabled ? System.Diagnostics.Stopwatch.GetTimestamp() : 0;
        ActivationRead read;
        try
        {
            read = await _store.ReadForActivationAsync(IdText, _activatingRequest, CancellationToken.None).ConfigureAwait(false);
        }
        catch (CorruptRecordException)
        {
            // Claimed first all the same, so the load after the claim meets the corruption again and quarantines.
            read = new ActivationRead(await _store.GetHeadAsync(IdText, CancellationToken.None).ConfigureAwait(false), null, []);
        }

        if (readStart != 0) EngineTelemetry.RecordStore(readStart, _writer.StoreLabel, "load");
        return read;
    }

    /// <summary>Takes over what recovery rebuilt: state, log position, the request ids since the checkpoint, turns in doubt.</summary>
    private void Adopt(long epoch, Replayer.Loaded loaded)
    {
        Epoch = epoch;
        _grain = (IRecoverableGrain)loaded.Grain;
        _lastSeq = loaded.LastSeq;
        _checkpointSeq = loaded.CheckpointSeq;
        // No checkpoint: the store holds no dedup entry of the component, and every id it records passes through memory.
        _knowledge = loaded.CheckpointSeq == 0 ? RequestIdKnowledge.Empty() : RequestIdKnowledge.Unknown();
        _lastCheckpointTicks = _services.Time.GetUtcNow().UtcTicks;
        if (loaded.InDoubt.Count > 0)
        {
            lock (_appendSync) _inDoubt = new Dictionary<string, TurnRecord>(loaded.InDoubt, StringComparer.Ordinal);
        }

        if (loaded.Memory is { } memory)
        {
            // Built while the records were applied (for a mirror's standby: while its shipments arrived): taken as it is.
            _recent = memory.Recent;
            _sinceCheckpoint = memory.SinceCheckpoint;
            _longLogAdopted = _sinceCheckpoint.Count >= CheckpointTurns();
            return;
        }

        var remembered = new List<(string RequestId, long Seq, long ArgsHash, ComponentReply Reply)>(loaded.Turns.Count + loaded.Fences.Count);
        foreach (var (seq, turn) in loaded.Turns) remembered.Add((turn.RequestId, seq, turn.ArgsHash, turn.Reply));
        foreach (var (seq, requestId) in loaded.Fences) remembered.Add((requestId, seq, DedupEntry.AnyArgs, RequestOutcome.FencedReply(Id, requestId)));
        if (loaded.Fences.Count > 0) remembered.Sort((a, b) => a.Seq.CompareTo(b.Seq));
        foreach (var r in remembered)
        {
            _recent[r.RequestId] = new DedupSlot(r.ArgsHash, r.Seq, r.Reply);
            _sinceCheckpoint.Add(r);
        }
    }

    /// <summary>
    /// Ends this activation gracefully: waits for the turn in progress (under the turn lock), writes a checkpoint when
    /// the log moved past the last one (never over a turn in doubt), waits until everything is durable, and stops
    /// serving (later callers get <see cref="ActivationBrokenException"/>, and the runtime activates the component
    /// again). Returns the epoch.
    /// </summary>
    public async Task<long> DeactivateAsync(CancellationToken cancellationToken) =>
        (await DeactivateIfIdleAsync(onlyIfIdle: false, cancellationToken).ConfigureAwait(false))!.Value;

    /// <summary>Log records after the latest checkpoint, counting one queued and not yet durable (caller holds the turn lock).</summary>
    internal long RecordsSinceCheckpoint => _lastSeq - Math.Max(_checkpointSeq, _pendingCheckpoint?.Seq ?? 0);

    /// <summary>
    /// <see cref="DeactivateAsync"/>; with <paramref name="onlyIfIdle"/> (the collector's) it is judged again under the
    /// turn lock and left serving, answering null, when a request entered since the collector saw it idle: that request
    /// waits for the lock, and deactivating under it would refuse it (a request for a new activation can meet this several
    /// times in a row when the collector evicts at once what was just activated). With <paramref name="tailAllowed"/> (a
    /// capacity eviction's <see cref="RuntimeOptions.EvictionTailRecords"/>) no checkpoint is written while at most that
    /// many records follow the latest one: the next activation replays them.
    /// </summary>
    public async Task<long?> DeactivateIfIdleAsync(bool onlyIfIdle, CancellationToken cancellationToken, int tailAllowed = 0)
    {
        Task<AppendStatus> write;
        await _turnLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (onlyIfIdle && !IsIdle) return null;
            if (Interlocked.CompareExchange(ref _state, (int)ActivationState.Deactivating, (int)ActivationState.Active) != (int)ActivationState.Active)
                return Epoch; // nothing trustworthy to checkpoint; the log has everything durable
            if (_claimTicket is not null && !_claimQueued)
            {
                // Its claim was never sent (it wrote nothing): it never owned the component, and writes nothing now.
                End(ActivationState.Deactivated, "deactivated");
                EngineTelemetry.Count(EngineTelemetry.Deactivations, Type.Name);
                return Epoch;
            }
            if (RecordsSinceCheckpoint > tailAllowed && _inDoubt.Count == 0)
                WriteCheckpoint(_services.Time.GetUtcNow().UtcTicks);
            write = _lastWrite;
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

        End(ActivationState.Deactivated, "deactivated");
        EngineTelemetry.Count(EngineTelemetry.Deactivations, Type.Name);
        return Epoch;
    }

    /// <summary>Stops serving without writing anything (the silo was declared dead, or the activation was dropped).</summary>
    public void Abandon(string reason) => End(ActivationState.Broken, reason);

    /// <summary>The memory of this activation can no longer be trusted: it serves nothing more.</summary>
    private void MarkBroken(string reason) => End(ActivationState.Broken, reason);

    /// <summary>Moves to a final state once; the first reason is kept.</summary>
    private void End(ActivationState final, string reason)
    {
        while (true)
        {
            var current = Volatile.Read(ref _state);
            if (current is (int)ActivationState.Broken or (int)ActivationState.Deactivated) return;
            if (Interlocked.CompareExchange(ref _state, (int)final, current) != current) continue;
            _endReason = reason;
            return;
        }
    }

    /// <summary>Refuses <paramref name="requestId"/> unless the activation serves.</summary>
    private void ThrowIfNotServing(string requestId)
    {
        if (State != ActivationState.Active) throw new ActivationBrokenException(Id, requestId, _endReason ?? State.ToString().ToLowerInvariant());
    }
}

/// <summary>The activation cannot serve (it ended: a write failed, it was fenced, dropped or deactivated); the runtime replaces it.</summary>
internal sealed class ActivationBrokenException(ComponentId id, string requestId, string reason)
    : Exception($"The activation of {id} was discarded ({reason}) before request '{requestId}' ran.");
