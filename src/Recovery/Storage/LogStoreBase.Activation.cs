using Middleware.Recovery.Log;

namespace Middleware.Recovery.Storage;

public abstract partial class LogStoreBase
{
    /// <inheritdoc />
    /// <exception cref="CorruptRecordException">(in the task) A record or the checkpoint does not match its checksum.</exception>
    public Task<ActivationRead> ReadForActivationAsync(string componentId, CancellationToken cancellationToken = default) =>
        ReadForActivationAsync(componentId, null, cancellationToken);

    /// <inheritdoc />
    /// <exception cref="CorruptRecordException">(in the task) A record or the checkpoint does not match its checksum.</exception>
    public async Task<ActivationRead> ReadForActivationAsync(string componentId, string? requestId, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(IsDisposed && !ServesAfterDispose, this);
        ArgumentException.ThrowIfNullOrEmpty(componentId);
        ActivationRead read;
        try
        {
            read = requestId is null
                ? await ReadForActivationCoreAsync(componentId, cancellationToken).ConfigureAwait(false)
                : await ReadForActivationCoreAsync(componentId, requestId, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not StoreUnavailableException && DescribeFailure(e, "reading for activation " + componentId, false) is { } unavailable)
        {
            throw unavailable;
        }

        if (read.Head is null) return read;
        var checkpoint = Checksums.Open(Name, componentId, read.Checkpoint);
        var tail = Checksums.Refuse(Name, componentId, Checksums.Open(componentId, read.Tail));
        return read with { Checkpoint = checkpoint, Tail = tail };
    }

    /// <summary>
    /// As <see cref="ReadForActivationCoreAsync(string, CancellationToken)"/>, with the look-up of <paramref name="requestId"/>
    /// in the dedup table (<see cref="ActivationRead.RequestNotRecorded"/>) from the same snapshot or a later moment. The
    /// default reads, then looks it up (<see cref="FindRequestCoreAsync"/>); a store that can does both in one read.
    /// </summary>
    protected virtual async Task<ActivationRead> ReadForActivationCoreAsync(string componentId, string requestId, CancellationToken cancellationToken)
    {
        var read = await ReadForActivationCoreAsync(componentId, cancellationToken).ConfigureAwait(false);
        if (read.Head is null) return read;
        // Looked up after the read, never before: a checkpoint committed in between carries only request ids of turns up to
        // the head the read saw, which are in its tail (the activation remembers those), or it moved the head past the
        // read (the activation then reads again and does not use this answer).
        var entry = await FindRequestCoreAsync(componentId, requestId, cancellationToken).ConfigureAwait(false);
        return entry is null ? read with { RequestNotRecorded = requestId } : read;
    }

    /// <summary>
    /// The head, latest checkpoint and tail of a component, as stored (<see cref="ReadForActivationAsync(string, CancellationToken)"/>
    /// opens and checks them). The default composes <see cref="GetHeadCoreAsync"/>, <see cref="GetCheckpointCoreAsync"/> and
    /// <see cref="ReadCoreAsync"/>; a store that can answers with one read of one snapshot.
    /// </summary>
    protected virtual async Task<ActivationRead> ReadForActivationCoreAsync(string componentId, CancellationToken cancellationToken)
    {
        var head = await GetHeadCoreAsync(componentId, cancellationToken).ConfigureAwait(false);
        if (head is null) return ActivationRead.None;
        if (head.LastSeq == 0) return new ActivationRead(head, null, []);
        var checkpoint = await GetCheckpointCoreAsync(componentId, head.LastSeq, cancellationToken).ConfigureAwait(false);
        var from = (checkpoint?.Seq ?? 0) + 1;
        var tail = from > head.LastSeq ? [] : await ReadCoreAsync(componentId, from, head.LastSeq, cancellationToken).ConfigureAwait(false);
        return new ActivationRead(head, checkpoint, tail);
    }
}
