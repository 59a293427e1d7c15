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

    private readonly ClaimQueue _claims = new(MaxBatch);
    private readonly Func<ClaimCombiner, bool> _drainOnce;

    /// <param name="drainOnce">Takes one batch (<see cref="Take"/>) under the writer lock and claims it in its own transaction; false when there was none.</param>
    public ClaimCombiner(Func<ClaimCombiner, bool> drainOnce) => _drainOnce = drainOnce;

    /// <summary>True while claims wait (queued or deferred).</summary>
    public bool HasPending => _claims.HasPending;

    public Task<ClaimResult> ClaimAsync(ClaimRequest request)
    {
        var result = _claims.Enqueue(request, out var startDrain);
        if (startDrain) ThreadPool.UnsafeQueueUserWorkItem(static c => c.Drain(), this, preferLocal: false);
        return result;
    }

    /// <summary>
    /// The next batch (see <see cref="ClaimQueue.Take"/>), or null when none waits. Only under the writer lock, by the
    /// transaction that will run the batch.
    /// </summary>
    internal List<ClaimQueue.Pending>? Take() => _claims.Take();

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
