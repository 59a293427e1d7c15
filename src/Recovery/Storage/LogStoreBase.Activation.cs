using Middleware.Recovery.Log;

namespace Middleware.Recovery.Storage;

public abstract partial class LogStoreBase
{
    /// <inheritdoc />
    /// <exception cref="CorruptRecordException">(in the task) A record or the checkpoint does not match its checksum.</exception>
    public async Task<ActivationRead> ReadForActivationAsync(string componentId, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(IsDisposed && !ServesAfterDispose, this);
        ArgumentException.ThrowIfNullOrEmpty(componentId);
        ActivationRead read;
        try
        {
            read = await ReadForActivationCoreAsync(componentId, cancellationToken).ConfigureAwait(false);
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
    /// The head, latest checkpoint and tail of a component, as stored (<see cref="ReadForActivationAsync"/> opens and checks
    /// them). The default composes <see cref="GetHeadCoreAsync"/>, <see cref="GetCheckpointCoreAsync"/> and
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
