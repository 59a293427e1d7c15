using System.Collections.Concurrent;
using Middleware.Recovery.Storage;

namespace Middleware.Recovery.Sqlite;

/// <summary>
/// Puts the claims that arrive together into one write transaction (one fsync), as the group-commit writer does for
/// appends: many components activating at once (a first touch of many keys, reactivations past the activation limit,
/// a takeover) no longer pay a transaction each, and no caller thread blocks on the writer lock: one drain runs them.
/// Two claims of the same component never share a transaction (the later waits for the next one), so each is decided
/// on committed rows as it would be alone.
/// </summary>
internal sealed class ClaimCombiner(Func<IReadOnlyList<ClaimRequest>, IReadOnlyList<ClaimResult>> claimMany)
{
    /// <summary>The most claims in one transaction.</summary>
    private const int MaxBatch = 512;

    private readonly ConcurrentQueue<Pending> _queue = new();
    private int _draining;

    public Task<ClaimResult> ClaimAsync(ClaimRequest request)
    {
        var pending = new Pending(request, new TaskCompletionSource<ClaimResult>(TaskCreationOptions.RunContinuationsAsynchronously));
        _queue.Enqueue(pending);
        if (Interlocked.CompareExchange(ref _draining, 1, 0) == 0) ThreadPool.UnsafeQueueUserWorkItem(static c => c.Drain(), this, preferLocal: false);
        return pending.Result.Task;
    }

    private void Drain()
    {
        var batch = new List<Pending>();
        var deferred = new List<Pending>();
        var ids = new HashSet<string>(StringComparer.Ordinal);
        while (true)
        {
            batch.Clear();
            ids.Clear();
            // Claims deferred from the last batch (a second claim of a component) go first, in arrival order.
            foreach (var d in deferred) (ids.Add(d.Request.ComponentId) ? batch : null)?.Add(d);
            deferred.RemoveAll(batch.Contains);
            while (batch.Count < MaxBatch && _queue.TryDequeue(out var next))
            {
                if (ids.Add(next.Request.ComponentId)) batch.Add(next);
                else deferred.Add(next);
            }

            if (batch.Count == 0)
            {
                Volatile.Write(ref _draining, 0);
                // A claim enqueued after the last TryDequeue and before the flag dropped found the drain running: take it.
                if (_queue.IsEmpty || Interlocked.CompareExchange(ref _draining, 1, 0) != 0) return;
                continue;
            }

            try
            {
                var results = claimMany(batch.Select(p => p.Request).ToList());
                for (var i = 0; i < batch.Count; i++) batch[i].Result.TrySetResult(results[i]);
            }
            catch (Exception e)
            {
                foreach (var p in batch) p.Result.TrySetException(e);
            }
        }
    }

    private sealed record Pending(ClaimRequest Request, TaskCompletionSource<ClaimResult> Result);
}
