using System.Collections.Concurrent;
using Middleware.Recovery.Storage;

namespace Middleware.Recovery.Sqlite;

/// <summary>
/// Puts the claims that arrive together into one write transaction (one fsync), as the group-commit writer does for
/// appends: many components activating at once (a first touch of many keys, reactivations past the activation limit,
/// a takeover) no longer pay a transaction each, and no caller thread blocks on the writer lock: one drain runs them.
/// Claims waiting when an append transaction starts ride in it (<see cref="SqliteWriter.Append"/> takes them first), so
/// while the group-commit writer is busy, a cold activation's claim shares the fsync of other components' turns instead of
/// alternating with them for the write lock. Two claims of the same component never share a transaction (the later
/// waits for the next one), so each is decided on committed rows as it would be alone. Hand-overs
/// (<see cref="IClusterStore.HandOverAsync"/>) ride the same way (<see cref="HandOverAsync"/>): a move's ownership write,
/// which the moved component's requests wait for, takes the next write transaction of this process instead of waiting
/// for the writer lock behind a group commit and then for the file's lock in a transaction of its own.
/// </summary>
internal sealed class ClaimCombiner
{
    /// <summary>The most claims in one transaction.</summary>
    internal const int MaxBatch = 512;

    private readonly ClaimQueue _claims = new(MaxBatch);
    private readonly ConcurrentQueue<PendingHandOver> _handOvers = new();
    private readonly Func<ClaimCombiner, bool> _drainOnce;
    private int _handOverDraining;

    /// <summary>One hand-over (<see cref="IClusterStore.HandOverAsync"/>'s arguments) and the task its caller awaits.</summary>
    internal sealed record PendingHandOver(string ComponentId, long Epoch, string FromSiloId, string? ToSiloId, TaskCompletionSource<bool> Result);

    /// <param name="drainOnce">Takes one batch (<see cref="Take"/>) under the writer lock and claims it in its own transaction; false when there was none.</param>
    public ClaimCombiner(Func<ClaimCombiner, bool> drainOnce) => _drainOnce = drainOnce;

    /// <summary>True while claims or hand-overs wait (queued or deferred).</summary>
    public bool HasPending => _claims.HasPending || !_handOvers.IsEmpty;

    public Task<ClaimResult> ClaimAsync(ClaimRequest request)
    {
        var result = _claims.Enqueue(request, out var startDrain);
        if (startDrain) ThreadPool.UnsafeQueueUserWorkItem(static c => c.Drain(), this, preferLocal: false);
        return result;
    }

    /// <summary>
    /// Queues a hand-over; it is decided in the next write transaction of this process (after that transaction's claims,
    /// as it would be in a transaction of its own right after them) and answered once that transaction committed.
    /// </summary>
    public Task<bool> HandOverAsync(string componentId, long epoch, string fromSiloId, string? toSiloId)
    {
        var pending = new PendingHandOver(componentId, epoch, fromSiloId, toSiloId, new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously));
        _handOvers.Enqueue(pending);
        // A drain of its own (claims have theirs), on this thread as a write of its own would run: whichever transaction
        // takes the writer lock first runs the hand-over, and when that was a group commit this drain finds nothing left
        // and the task is complete already, so the caller goes on without a thread-pool hop (traced at load 30, hops there
        // cost milliseconds); when another hand-over's caller drains now, that drain takes this one too.
        if (Interlocked.CompareExchange(ref _handOverDraining, 1, 0) == 0) DrainHandOvers();
        return pending.Result.Task;
    }

    /// <summary>
    /// The next batch (see <see cref="ClaimQueue.Take"/>), or null when none waits. Only under the writer lock, by the
    /// transaction that will run the batch.
    /// </summary>
    internal List<ClaimQueue.Pending>? Take() => _claims.Take();

    /// <summary>
    /// Every hand-over waiting now, in arrival order, or null when none waits. Only under the writer lock, by the
    /// transaction that will run them (<see cref="SqliteWriter.HandOverAll"/>).
    /// </summary>
    internal List<PendingHandOver>? TakeHandOvers()
    {
        if (_handOvers.IsEmpty) return null;
        var batch = new List<PendingHandOver>();
        while (batch.Count < MaxBatch && _handOvers.TryDequeue(out var next)) batch.Add(next);
        return batch.Count == 0 ? null : batch;
    }

    /// <summary>Answers hand-overs once their transaction committed (<paramref name="moved"/> in batch order).</summary>
    internal static void Complete(List<PendingHandOver>? batch, bool[]? moved)
    {
        if (batch is null || moved is null) return;
        for (var i = 0; i < batch.Count; i++) batch[i].Result.TrySetResult(moved[i]);
    }

    /// <summary>Fails hand-overs whose transaction did not commit.</summary>
    internal static void Fail(List<PendingHandOver>? batch, Exception e)
    {
        if (batch is null) return;
        foreach (var p in batch) p.Result.TrySetException(e);
    }

    /// <summary>Runs transactions (each takes every hand-over waiting, and claims) until no hand-over waits.</summary>
    private void DrainHandOvers()
    {
        while (true)
        {
            if (!_handOvers.IsEmpty)
            {
                try
                {
                    _drainOnce(this);
                }
                catch (Exception)
                {
                    // the batch was failed with the exception by whoever ran it; go on with the rest
                }

                continue;
            }

            Volatile.Write(ref _handOverDraining, 0);
            // One enqueued after the last take found the drain running: go on unless another drain started meanwhile.
            if (_handOvers.IsEmpty || Interlocked.CompareExchange(ref _handOverDraining, 1, 0) != 0) return;
        }
    }

    private void Drain()
    {
        while (true)
        {
            bool ran;
            try
            {
                ran = _drainOnce(this);
            }
            catch (Exception)
            {
                ran = true; // the batch was failed with the exception by whoever ran it; go on with the rest
            }

            if (!ran && !_claims.StopDraining()) return;
        }
    }
}
