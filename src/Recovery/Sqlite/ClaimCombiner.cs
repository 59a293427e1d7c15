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
/// waits for the next one), so each is decided on committed rows as it would be alone.
/// </summary>
internal sealed class ClaimCombiner
{
    /// <summary>The most claims in one transaction.</summary>
    internal const int MaxBatch = 512;

    private readonly ConcurrentQueue<Pending> _queue = new();
    private readonly Func<ClaimCombiner, bool> _drainOnce;

    /// <summary>Claims of a component already in the batch being built, for a later one. Touched only under the writer lock.</summary>
    private readonly List<Pending> _deferred = [];
    private int _deferredCount;
    private int _draining;

    /// <param name="drainOnce">Takes one batch (<see cref="Take"/>) under the writer lock and claims it in its own transaction; false when there was none.</param>
    public ClaimCombiner(Func<ClaimCombiner, bool> drainOnce) => _drainOnce = drainOnce;

    /// <summary>True while claims wait (queued or deferred).</summary>
    public bool HasPending => !_queue.IsEmpty || Volatile.Read(ref _deferredCount) > 0;

    public Task<ClaimResult> ClaimAsync(ClaimRequest request)
    {
        var pending = new Pending(request, new TaskCompletionSource<ClaimResult>(TaskCreationOptions.RunContinuationsAsynchronously));
        _queue.Enqueue(pending);
        if (Interlocked.CompareExchange(ref _draining, 1, 0) == 0) ThreadPool.UnsafeQueueUserWorkItem(static c => c.Drain(), this, preferLocal: false);
        return pending.Result.Task;
    }

    /// <summary>
    /// The next batch (at most <see cref="MaxBatch"/>, one claim per component; deferred claims first, in arrival order),
    /// or null when none waits. Only under the writer lock, by the transaction that will run the batch.
    /// </summary>
    internal List<Pending>? Take()
    {
        if (!HasPending) return null;
        var batch = new List<Pending>();
        var ids = new HashSet<string>(StringComparer.Ordinal);
        var stillDeferred = new List<Pending>();
        foreach (var d in _deferred) (ids.Add(d.Request.ComponentId) ? batch : stillDeferred).Add(d);
        _deferred.Clear();
        _deferred.AddRange(stillDeferred);
        while (batch.Count < MaxBatch && _queue.TryDequeue(out var next))
        {
            if (ids.Add(next.Request.ComponentId)) batch.Add(next);
            else _deferred.Add(next);
        }

        Volatile.Write(ref _deferredCount, _deferred.Count);
        return batch.Count == 0 ? null : batch;
    }

    /// <summary>Answers a batch once its transaction committed.</summary>
    internal static void Complete(List<Pending> batch, IReadOnlyList<ClaimResult> results)
    {
        for (var i = 0; i < batch.Count; i++) batch[i].Result.TrySetResult(results[i]);
    }

    /// <summary>Fails a batch whose transaction did not commit.</summary>
    internal static void Fail(List<Pending> batch, Exception e)
    {
        foreach (var p in batch) p.Result.TrySetException(e);
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

            if (ran) continue;
            Volatile.Write(ref _draining, 0);
            // A claim enqueued after the last Take and before the flag dropped found the drain running: take it.
            if (!HasPending || Interlocked.CompareExchange(ref _draining, 1, 0) != 0) return;
        }
    }

    internal sealed record Pending(ClaimRequest Request, TaskCompletionSource<ClaimResult> Result);
}
