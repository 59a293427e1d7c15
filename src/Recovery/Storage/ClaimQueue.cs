using System.Collections.Concurrent;

namespace Middleware.Recovery.Storage;

/// <summary>
/// For stores that decide claims in batches: the claims waiting (SQLite's <c>ClaimCombiner</c>, PostgreSQL's <c>PostgresClaimBatch</c>): callers
/// enqueue, one drain at a time takes batches. Two claims of the same component never share a batch (the later waits for
/// the next one, ahead of newer arrivals), so each is decided on committed rows as it would be alone.
/// </summary>
public sealed class ClaimQueue(int maxBatch)
{
    private readonly ConcurrentQueue<Pending> _queue = new();

    /// <summary>Claims of a component already in the batch being built, for a later one. Touched only by the running drain.</summary>
    private readonly List<Pending> _deferred = [];
    private int _deferredCount;
    private int _draining;

    /// <summary>One claim and the task its caller awaits.</summary>
    public sealed record Pending(ClaimRequest Request, TaskCompletionSource<ClaimResult> Result);

    /// <summary>True while claims wait (queued or deferred).</summary>
    public bool HasPending => !_queue.IsEmpty || Volatile.Read(ref _deferredCount) > 0;

    /// <summary>Queues <paramref name="request"/>; <paramref name="startDrain"/>: no drain runs, the caller starts one.</summary>
    public Task<ClaimResult> Enqueue(ClaimRequest request, out bool startDrain)
    {
        var pending = new Pending(request, new TaskCompletionSource<ClaimResult>(TaskCreationOptions.RunContinuationsAsynchronously));
        _queue.Enqueue(pending);
        startDrain = Interlocked.CompareExchange(ref _draining, 1, 0) == 0;
        return pending.Result.Task;
    }

    /// <summary>
    /// The drain found nothing to take: it stops, unless a claim was enqueued after its last <see cref="Take"/> and before
    /// the flag dropped (that caller found the drain running), in which case it goes on (true).
    /// </summary>
    public bool StopDraining()
    {
        Volatile.Write(ref _draining, 0);
        return HasPending && Interlocked.CompareExchange(ref _draining, 1, 0) == 0;
    }

    /// <summary>
    /// The next batch (at most the batch size, one claim per component; deferred claims first, in arrival order), or null
    /// when none waits. Only by the drain (or, on SQLite, under the writer lock by the transaction that will run it).
    /// </summary>
    public List<Pending>? Take()
    {
        if (!HasPending) return null;
        var batch = new List<Pending>();
        var ids = new HashSet<string>(StringComparer.Ordinal);
        var stillDeferred = new List<Pending>();
        foreach (var d in _deferred) (ids.Add(d.Request.ComponentId) ? batch : stillDeferred).Add(d);
        _deferred.Clear();
        _deferred.AddRange(stillDeferred);
        while (batch.Count < maxBatch && _queue.TryDequeue(out var next))
        {
            if (ids.Add(next.Request.ComponentId)) batch.Add(next);
            else _deferred.Add(next);
        }

        Volatile.Write(ref _deferredCount, _deferred.Count);
        return batch.Count == 0 ? null : batch;
    }

    /// <summary>Answers a batch once its transaction committed (<paramref name="results"/> in batch order).</summary>
    public static void Complete(List<Pending> batch, IReadOnlyList<ClaimResult> results)
    {
        for (var i = 0; i < batch.Count; i++) batch[i].Result.TrySetResult(results[i]);
    }

    /// <summary>Fails a batch whose transaction did not commit.</summary>
    public static void Fail(List<Pending> batch, Exception e)
    {
        foreach (var p in batch) p.Result.TrySetException(e);
    }
}
