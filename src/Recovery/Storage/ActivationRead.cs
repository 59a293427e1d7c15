using Middleware.Recovery.Log;

namespace Middleware.Recovery.Storage;

/// <summary>
/// What an activation needs from the store, read together (<see cref="ILogStore.ReadForActivationAsync(string, CancellationToken)"/>): the head (epoch,
/// owner, last seq), the latest checkpoint at or before the head's last seq, and the records after that checkpoint up to
/// the last seq, in seq order.
/// </summary>
/// <param name="Head">The head, or null for a component never claimed (then there is no checkpoint and no tail).</param>
/// <param name="Checkpoint">The latest checkpoint at or before <see cref="ComponentHead.LastSeq"/>, or null.</param>
/// <param name="Tail">The records after the checkpoint (from seq 1 without one) up to the head's last seq, in seq order.</param>
public sealed record ActivationRead(ComponentHead? Head, CheckpointRecord? Checkpoint, IReadOnlyList<LogRecord> Tail)
{
    /// <summary>
    /// The request id asked for with the read (<see cref="ILogStore.ReadForActivationAsync(string, string?, CancellationToken)"/>)
    /// when the store's dedup table did not hold it at the read's snapshot or at a moment after it; null when it was not
    /// asked for, was found, or the store does not answer it with the read. Only the dedup table is meant: a request whose
    /// turn is in <see cref="Tail"/> is named here all the same.
    /// </summary>
    public string? RequestNotRecorded { get; init; }

    /// <summary>A component the store does not know.</summary>
    public static ActivationRead None { get; } = new(null, null, []);

    /// <summary>
    /// True when <see cref="Tail"/> runs without a gap from just after the checkpoint to the head's last seq: a reader that
    /// composed the read from separate calls can see a truncation between them, and then must read again.
    /// </summary>
    public bool IsComplete
    {
        get
        {
            if (Head is null) return Tail.Count == 0;
            var from = (Checkpoint?.Seq ?? 0) + 1;
            if (Tail.Count != Math.Max(0, Head.LastSeq - from + 1)) return false;
            for (var i = 0; i < Tail.Count; i++)
            {
                if (Tail[i].Seq != from + i) return false;
            }

            return true;
        }
    }

    /// <summary>
    /// The read composed of <see cref="ILogStore.GetHeadAsync"/>, <see cref="ILogStore.GetCheckpointAsync"/> and
    /// <see cref="ILogStore.ReadAsync"/> (the default of <see cref="ILogStore.ReadForActivationAsync(string, CancellationToken)"/>): three reads that
    /// are not one snapshot; the checkpoint and the tail are bounded by the head read first.
    /// </summary>
    public static async Task<ActivationRead> ComposeAsync(ILogStore store, string componentId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        var head = await store.GetHeadAsync(componentId, cancellationToken).ConfigureAwait(false);
        if (head is null) return None;
        if (head.LastSeq == 0) return new ActivationRead(head, null, []);
        var checkpoint = await store.GetCheckpointAsync(componentId, head.LastSeq, cancellationToken).ConfigureAwait(false);
        var from = (checkpoint?.Seq ?? 0) + 1;
        var tail = from > head.LastSeq ? [] : await store.ReadAsync(componentId, from, head.LastSeq, cancellationToken).ConfigureAwait(false);
        return new ActivationRead(head, checkpoint, tail);
    }
}
