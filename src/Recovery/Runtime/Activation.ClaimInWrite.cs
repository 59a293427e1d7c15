using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;

namespace Middleware.Recovery.Runtime;

/// <summary>
/// The claim in the first write (<see cref="RuntimeOptions.ClaimInFirstWrite"/>): an activation started by a request, on a
/// store that decides claims inside appends, serves from what it read without claiming first. Its epoch is the read one
/// plus one; every item it queues carries its <see cref="ClaimTicket"/>, and the first one taken by the group-commit writer
/// carries the claim, decided by the store first in that transaction. Until the claim is decided nothing leaves: a turn's
/// reply waits for its record (and so for the claim), a read-only turn or a deactivation queues the claim alone and waits
/// for it, an outbound call waits for its partial record. A refused claim fences the group and every later item of the
/// activation; the waiting requests get <see cref="ComponentOwnedElsewhereException"/> (a live silo owns it) or
/// <see cref="ClaimConflictException"/> (retried on a new activation), exactly as a claim made first would have told them.
/// </summary>
internal sealed partial class Activation : IClaimWatcher
{
    private ClaimTicket? _claimTicket;
    private bool _claimQueued;

    /// <summary>
    /// False while the claim that rides in the first write is undecided or was refused: <see cref="Epoch"/> is then not (yet)
    /// the store's. The ticket is dropped once the claim is won (null: owned).
    /// </summary>
    public bool OwnsItsEpoch => _claimTicket is not { } ticket || ticket.IsWon;

    /// <summary>
    /// Serves from <paramref name="read"/> without claiming, when it can: a complete read of a component that is new or was
    /// last owned by this owner, a policy that can put its claim in a write, and a log that replays with nothing in doubt. False leaves the activation as it was (the caller claims
    /// first; a standby of a mirror taken here is then replayed cold).
    /// </summary>
    private async Task<bool> TryServeBeforeClaimAsync(ActivationRead read)
    {
        var head = read.Head;
        if (head is not null && !read.IsComplete) return false;
        if (_services.Ownership.ClaimInFirstWrite(IdText, head?.Epoch ?? 0) is not { } request) return false;
        // A takeover (another owner held it last, perhaps live) claims first: no turn runs here before this is the owner.
        if (head?.Owner is { } last && !string.Equals(last, request.Owner, StringComparison.Ordinal)) return false;
        var predicted = new ComponentHead(IdText, (head?.Epoch ?? 0) + 1, request.Owner, head?.LastSeq ?? 0, head?.CheckpointSeq ?? 0);
        _previousOwner = head?.Owner; // before the warm start, which counts a takeover without a standby
        Replayer.Loaded loaded;
        try
        {
            loaded = await WarmStartAsync(predicted).ConfigureAwait(false)
                ?? (await Replayer.CursorFromAsync(Type, Id, _json, head is null ? null : read.Checkpoint, head is null ? [] : read.Tail, honorQuarantine: true, _store.Name).ConfigureAwait(false)).ToLoaded();
        }
        catch (Exception e) when (e is ReplayDivergenceException or InvalidDataException or CorruptRecordException or ComponentQuarantinedException)
        {
            return false; // claimed first, the usual path replays again and records what it finds (a quarantine)
        }

        // A turn in doubt is completed before anything else, under a claim made first.
        if (loaded.LastSeq != predicted.LastSeq || loaded.InDoubt.Count > 0) return false;
        EngineTelemetry.Count(EngineTelemetry.ReplayedRecords, Type.Name, loaded.LastSeq - loaded.CheckpointSeq);
        // The activation watches its own ticket (IClaimWatcher): no delegate, and no continuation per cold activation.
        var ticket = new ClaimTicket(new AppendClaim(request, predicted.LastSeq), this);
        _claimTicket = ticket;
        Adopt(predicted.Epoch, loaded);
        if (read.RequestNotRecorded is { } unrecorded) UnrecordedRequest = new(unrecorded, _lastSeq, _checkpointSeq);
        return true;
    }

    /// <summary>
    /// Counts and logs a won claim, on the writer's thread right after the commit that carried it and before the turn that
    /// carried it replies. The activation owns its epoch now, and a null ticket says the same everywhere it is read: dropping
    /// it keeps its task, claim and result (~300 bytes) out of every live activation (a silo keeps up to 100,000). Items
    /// queued with it before are past their first group (<see cref="ClaimTicket.Sent"/>) and see it won.
    /// </summary>
    void IClaimWatcher.Won(ClaimTicket ticket, ClaimResult result)
    {
        if (ReferenceEquals(_claimTicket, ticket)) _claimTicket = null;
        EngineTelemetry.CountClaim("claimed");
        EngineLog.Claimed(_services.Logger, IdText, result.Claimed!.Epoch, _previousOwner, _options.OwnerId);
    }

    /// <summary>
    /// Counts a refused claim, ends the activation and takes it out of the runtime's table (on the writer's thread, before
    /// its waiters learn the refusal): a request arriving meanwhile gets a new activation.
    /// </summary>
    void IClaimWatcher.Refused(ClaimTicket ticket, ClaimResult result)
    {
        EngineTelemetry.CountClaim(result.LiveOwner is not null ? "owned_elsewhere" : "conflict");
        End(ActivationState.Broken, result.LiveOwner is { } owner ? $"owned by live silo {owner}" : "another activation claimed the component first");
        _services.OnTurnNotDurable?.Invoke(this);
    }

    /// <summary>
    /// Queues the claim alone when nothing of this activation was queued yet (caller holds the turn lock), so that what
    /// waits for <see cref="_lastWrite"/> waits for the claim too.
    /// </summary>
    private void EnsureClaimQueued()
    {
        if (_claimTicket is not { } ticket) return;
        lock (_appendSync)
        {
            if (_claimQueued) return;
            _claimQueued = true;
            _lastWrite = _writer.EnqueueClaim(IdText, Epoch, ticket);
        }
    }

    /// <summary>
    /// Waits until the activation owns its component (at once unless its claim rides in a write): what the runtime does
    /// for everything but a request (outcome queries, admin, warm-up) before it uses the activation, as it waited for the
    /// claim made first. Throws <see cref="ComponentOwnedElsewhereException"/>, <see cref="ClaimConflictException"/>, or
    /// <see cref="TurnNotDurableException"/> (the store failed).
    /// </summary>
    internal async Task WhenClaimedAsync(CancellationToken cancellationToken)
    {
        if (_claimTicket is not { } ticket || ticket.IsWon) return;
        bool queued;
        lock (_appendSync) queued = _claimQueued;
        // Once queued (a turn's partial record carried it, and that turn may now wait on a call whose callee asks here: a
        // call leaves before its partial record is durable, CallOrder.cs), the decision is awaited without the turn lock.
        if (!queued)
        {
            await _turnLock.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                EnsureClaimQueued();
            }
            finally
            {
                _turnLock.Release();
            }
        }

        ClaimResult result;
        try
        {
            result = await ticket.Decided.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new TurnNotDurableException(Id, "(activation)", "the store failed while claiming", e);
        }

        if (result.Claimed is not null) return;
        throw ClaimRefused(ticket, "(activation)");
    }

    /// <summary>What a caller waiting on a write of this activation gets once its claim was lost.</summary>
    private Exception ClaimRefused(ClaimTicket ticket, string requestId)
    {
        if (ticket.Decided.IsFaulted)
            return new TurnNotDurableException(Id, requestId, "the store failed while claiming", ticket.Decided.Exception?.InnerException);
        var result = ticket.Decided.Result;
        return result.LiveOwner is { } owner ? new ComponentOwnedElsewhereException(Id, owner, result.LiveOwnerAddress) : new ClaimConflictException(Id, requestId);
    }
}
