using System.Runtime.ExceptionServices;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;

namespace Middleware.Recovery.Runtime;

/// <summary>
/// Turns in doubt: a turn whose partial record is durable but whose final record is not. Its outbound calls may
/// already have taken effect under ids pinned by its seq, so it already holds its place in the component's history
/// (DESIGN.md, "In-doubt turns"). The activation completes it first, from the partial record's input, values and
/// outcomes, on the state it started from, before any other turn, read or fence of the component; until it is final
/// every other request is refused with <see cref="ComponentInDoubtException"/> (retryable), and a retry of the in-doubt
/// request or an outcome query about it drives an attempt at once.
/// <para>
/// Why this order matters: a stale owner (paused, then resumed) may still make the call its turn was about to make.
/// Because the new owner's first act on the component is the same turn on the same state with the same ids, both
/// compute the same arguments and the idempotent callee returns one outcome to both. Running another turn first would
/// let the resumed turn compute its arguments on a different state than the call that already took effect.
/// </para>
/// </summary>
internal sealed partial class Activation
{
    private static readonly TimeSpan FirstRetry = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MaxRetry = TimeSpan.FromSeconds(5);
    private Task? _rollForward;
    private Exception? _inDoubtFailure;

    /// <summary>True while a turn of this component is in doubt (tests, metrics).</summary>
    public bool HasTurnInDoubt
    {
        get
        {
            lock (_appendSync) return _inDoubt.Count > 0;
        }
    }

    /// <summary>
    /// <see cref="HasTurnInDoubt"/> without its lock, for the collector's scan over every activation: it may be stale, so
    /// whoever acts on a false answer asks <see cref="HasTurnInDoubt"/> again (the collector's deactivation does).
    /// </summary>
    public bool MayHaveTurnInDoubt => _inDoubt.Count > 0;

    /// <summary>
    /// Run by <see cref="ActivateAsync"/> before the activation serves: completes every turn in doubt, oldest first.
    /// When one cannot complete for now (a back end or callee is unreachable), the activation still serves (refusing
    /// everything but that request) and keeps retrying in the background; when the activation broke (store failure,
    /// fenced), activation fails with the cause.
    /// </summary>
    private async Task CompleteInDoubtFirstAsync()
    {
        if (!HasTurnInDoubt) return;
        var failure = await TryRollForwardAsync().ConfigureAwait(false);
        if (failure is null) return;
        if (!IsActive) ExceptionDispatchInfo.Throw(failure);
        EnsureRollForward();
    }

    /// <summary>Refuses <paramref name="requestId"/> when another request's turn is in doubt (caller holds the turn lock).</summary>
    private void ThrowIfAnotherInDoubt(string requestId)
    {
        if (OldestInDoubt() is { } partial && partial.RequestId != requestId)
            throw new ComponentInDoubtException(Id, requestId, partial.RequestId, partial.TurnSeq, _inDoubtFailure);
    }

    /// <summary>
    /// The in-doubt turn that started first (they complete in the order they took their seqs), or null. Caller holds the
    /// turn lock, under which <see cref="_inDoubt"/> changes (and under <see cref="_appendSync"/>, for <see cref="HasTurnInDoubt"/>;
    /// a shared empty map while none is in doubt, so it is replaced, never changed, when it is empty).
    /// </summary>
    private TurnRecord? OldestInDoubt()
    {
        if (_inDoubt.Count == 0) return null;
        TurnRecord? oldest = null;
        foreach (var partial in _inDoubt.Values)
        {
            if (oldest is null || partial.TurnSeq < oldest.TurnSeq) oldest = partial;
        }

        return oldest;
    }

    /// <summary>
    /// A turn's attempt ended without an outcome (an outbound call or a session read failed, or a write before a call).
    /// Restores the state the turn started from (from the store, which also yields its latest partial record) and
    /// returns what its caller gets: <see cref="ComponentInDoubtException"/> when a partial record holds its place (the
    /// activation keeps it and completes it in the background), else <see cref="TurnNotDurableException"/> (the turn
    /// did not happen; the activation is discarded when it could not be restored).
    /// </summary>
    private async Task<Exception> FailedAttemptAsync(Invocation inv, Exception failure)
    {
        if (failure is TurnNotDurableException)
        {
            // A call that left before this turn's partial record was durable (ordered local calls) fails when that record was
            // not written: learn its fate as a wait before the call would have (a store failure is then watched for a turn in
            // doubt, since an uncertain write may have left the partial in the log).
            if (!(_lastWrite.IsCompletedSuccessfully && _lastWrite.Result == AppendStatus.Ok))
            {
                try
                {
                    await AwaitDurableAsync(_lastWrite, ComponentReply.Void, inv.RequestId).ConfigureAwait(false);
                }
                catch (TurnNotDurableException)
                {
                    // reported by the wait
                }
            }

            // The store failed: nothing in memory can be trusted. The next activation finds the partial, if it was written.
            // (Reported where the write failed: AwaitDurableAsync.)
            MarkBroken("a write before an outbound call failed");
            return new TurnNotDurableException(Id, inv.RequestId, "a write before an outbound call failed", failure);
        }

        if (failure is ReplayDivergenceException divergence)
        {
            ReportFailedAttempt(inv, failure, null);
            MarkBroken($"the resumed turn of request '{inv.RequestId}' diverged from its partial record");
            return divergence;
        }

        if (!await RestoreAsync("the state could not be restored after an outbound call failed").ConfigureAwait(false))
            return new TurnNotDurableException(Id, inv.RequestId, $"an outbound call failed ({failure.Message}) and the state could not be restored ({_endReason})", failure);
        if (OldestInDoubt() is not { } partial)
        {
            ReportFailedAttempt(inv, failure, null);
            return new TurnNotDurableException(Id, inv.RequestId, $"a call of the turn failed before anything was recorded: {failure.Message}", failure);
        }

        ReportFailedAttempt(inv, failure, partial.TurnSeq);
        _inDoubtFailure = failure;
        EnsureRollForward();
        return new ComponentInDoubtException(Id, inv.RequestId, partial.RequestId, partial.TurnSeq, failure);
    }

    /// <summary>
    /// Restores the state as it was before a turn that threw, by rebuilding from checkpoint and log once
    /// every earlier record is durable. Exceptions are rare, so the hot path pays no copy of the state.
    /// </summary>
    private async Task UndoAsync(Invocation inv)
    {
        if (!await RestoreAsync("undo failed").ConfigureAwait(false))
            throw new TurnNotDurableException(Id, inv.RequestId, $"the state could not be restored after the turn failed ({_endReason})");
    }

    /// <summary>
    /// Rebuilds the state from checkpoint and log once every earlier record is durable (the log holds exactly the turns
    /// that happened; partial records are not applied) and re-reads the turns in doubt. False, with the activation
    /// broken, when that is impossible. Caller holds the turn lock.
    /// </summary>
    private async Task<bool> RestoreAsync(string why)
    {
        try
        {
            if (await _lastWrite.ConfigureAwait(false) != AppendStatus.Ok)
            {
                MarkBroken("an earlier write was refused");
                return false;
            }

            var loaded = await Replayer.LoadAsync(_store, Type, Id, _lastSeq, _json).ConfigureAwait(false);
            _grain = (IRecoverableGrain)loaded.Grain;
            lock (_appendSync) _inDoubt = loaded.InDoubt.Count == 0 ? NoneInDoubt : new Dictionary<string, TurnRecord>(loaded.InDoubt, StringComparer.Ordinal);

            return true;
        }
        catch (Exception e)
        {
            MarkBroken($"{why}: {e.Message}");
            return false;
        }
    }

    /// <summary>Starts the background completion of the turns in doubt, unless it runs already.</summary>
    private void EnsureRollForward()
    {
        if (_rollForward is { IsCompleted: false }) return;
        _rollForward = Task.Run(RollForwardLoopAsync);
    }

    /// <summary>Retries the turns in doubt with capped exponential backoff until none is left or the activation ends.</summary>
    private async Task RollForwardLoopAsync()
    {
        var delay = FirstRetry;
        while (IsActive && HasTurnInDoubt)
        {
            try
            {
                await Task.Delay(delay, _services.Time, _services.Stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return; // the runtime is stopping: the partial record stays, the next activation completes the turn
            }

            if (await TryRollForwardAsync().ConfigureAwait(false) is null) return;
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxRetry.Ticks));
        }
    }

    /// <summary>
    /// One attempt at every turn in doubt, oldest first, each under the turn lock and resumed exactly as a retry of its
    /// request would be. Null when none is left; else why the oldest could not complete (the activation is broken when
    /// that was a store failure).
    /// </summary>
    private async Task<Exception?> TryRollForwardAsync()
    {
        while (true)
        {
            Task<ComponentReply> durable;
            await _turnLock.WaitAsync().ConfigureAwait(false);
            try
            {
                if (!IsActive) return new ActivationBrokenException(Id, "(in doubt)", _endReason ?? State.ToString());
                if (OldestInDoubt() is not { } partial) return null;
                if (!Type.Methods.TryGetValue(partial.Method, out var method))
                {
                    MarkBroken($"request '{partial.RequestId}' is in doubt and {Type.InterfaceType.Name} has no method '{partial.Method}' any more");
                    return new InvalidOperationException(
                        $"Request '{partial.RequestId}' on {Id} is in doubt (its turn started at seq {partial.TurnSeq} but did not finish) and cannot be completed: " +
                        $"{Type.InterfaceType.Name} has no method '{partial.Method}' any more. Deploy code that still has it, complete the turn, then remove it.");
                }

                var resumed = new Invocation(Id, partial.RequestId, partial.Method, partial.Args, partial.SessionId, partial.Caller);
                durable = await RunTurnAsync(resumed, method, partial.ArgsHash, observed: 0).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                // Restored and still in doubt (retry later), or broken (the runtime replaces the activation).
                if (e is not (TurnNotDurableException or ReplayDivergenceException)) MarkBroken($"completing a turn in doubt failed: {e.Message}");
                return e;
            }
            finally
            {
                _turnLock.Release();
            }

            try
            {
                await durable.ConfigureAwait(false);
            }
            catch (TurnNotDurableException e)
            {
                return e; // its final record did not become durable: broken; the next activation completes it
            }
        }
    }
}
