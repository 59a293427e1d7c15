using Middleware.Recovery.Log;

namespace Middleware.Recovery.Storage;

/// <summary>What <see cref="FaultInjectingStore"/> does to the next appends.</summary>
public enum FaultMode
{
    /// <summary>Pass through.</summary>
    None,

    /// <summary>Throw before writing: nothing reaches the store.</summary>
    Fail,

    /// <summary>Write, then throw: the store has the records but the caller is told it failed (an uncertain write).</summary>
    FailAfterWrite,

    /// <summary>Never complete until <see cref="FaultInjectingStore.Release"/> is called (a stalled disk or network).</summary>
    Hang,
}

/// <summary>
/// A decorator for failure tests: wraps any store and makes its appends fail, fail after writing, or
/// hang, on demand. Reads and claims pass through unless <see cref="FailEverything"/> is set.
/// </summary>
public sealed class FaultInjectingStore(ILogStore inner) : ILogStore
{
    private readonly object _gate = new();
    private TaskCompletionSource<bool> _hang = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private FaultMode _mode;
    private int _remaining;
    private int _skip;
    private Func<AppendGroup, bool>? _where;

    /// <summary>The wrapped store.</summary>
    public ILogStore Inner { get; } = inner;

    /// <summary>When set, every operation throws <see cref="StoreUnavailableException"/> (the store is unreachable).</summary>
    public bool FailEverything { get; set; }

    /// <summary>Appends that were faulted so far.</summary>
    public int Faulted { get; private set; }

    /// <inheritdoc />
    public string Name => "faulty(" + Inner.Name + ")";

    /// <summary>
    /// When set, the store says <see cref="ILogStore.SupportsGroupDependencies"/> as the wrapped store does (an injected
    /// failure fails the whole append, dependent groups with it). Off by default: a test of failures sees calls wait for
    /// their partial record, as before the ordering existed.
    /// </summary>
    public bool OrderDependentGroups { get; set; }

    /// <inheritdoc />
    public bool SupportsGroupDependencies => OrderDependentGroups && Inner.SupportsGroupDependencies;

    /// <summary>
    /// Applies <paramref name="mode"/> to <paramref name="count"/> appends (int.MaxValue: until changed), after
    /// letting the next <paramref name="skip"/> appends through untouched. With <paramref name="where"/>, only appends
    /// holding a group it accepts count (and are faulted): the others pass, however the writer batched them.
    /// </summary>
    public void Inject(FaultMode mode, int count = int.MaxValue, int skip = 0, Func<AppendGroup, bool>? where = null)
    {
        lock (_gate)
        {
            _mode = mode;
            _remaining = count;
            _skip = skip;
            _where = where;
            if (mode == FaultMode.Hang && _hang.Task.IsCompleted) _hang = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    /// <summary>
    /// Lets hung appends go on and stops injecting: they then write normally, or throw without writing when
    /// <paramref name="fail"/> is true.
    /// </summary>
    public void Release(bool fail = false)
    {
        lock (_gate)
        {
            _mode = FaultMode.None;
            _hang.TrySetResult(fail);
        }
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<AppendStatus>> AppendAsync(IReadOnlyList<AppendGroup> groups, CancellationToken cancellationToken = default)
    {
        ThrowIfDown();
        FaultMode mode;
        Task<bool> hang;
        lock (_gate)
        {
            if (_where is { } where && !groups.Any(where))
            {
                mode = FaultMode.None;
            }
            else if (_skip > 0)
            {
                _skip--;
                mode = FaultMode.None;
            }
            else
            {
                mode = _remaining > 0 ? _mode : FaultMode.None;
            }

            if (mode != FaultMode.None)
            {
                _remaining--;
                Faulted++;
            }

            hang = _hang.Task;
        }

        switch (mode)
        {
            case FaultMode.Fail:
                throw new StoreUnavailableException("Injected failure before the write.");
            case FaultMode.FailAfterWrite:
                await Inner.AppendAsync(groups, cancellationToken).ConfigureAwait(false);
                throw new StoreUnavailableException("Injected failure after the write (uncertain commit).");
            case FaultMode.Hang:
                if (await hang.ConfigureAwait(false))
                    throw new StoreUnavailableException("Injected failure after a stall.");
                break;
        }

        return await Inner.AppendAsync(groups, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public Task<ComponentHead?> GetHeadAsync(string componentId, CancellationToken cancellationToken = default)
    {
        ThrowIfDown();
        return Inner.GetHeadAsync(componentId, cancellationToken);
    }

    /// <inheritdoc />
    public Task<ClaimResult> ClaimAsync(ClaimRequest request, CancellationToken cancellationToken = default)
    {
        ThrowIfDown();
        return Inner.ClaimAsync(request, cancellationToken);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<LogRecord>> ReadAsync(string componentId, long fromSeq, long toSeq, CancellationToken cancellationToken = default)
    {
        ThrowIfDown();
        return Inner.ReadAsync(componentId, fromSeq, toSeq, cancellationToken);
    }

    /// <inheritdoc />
    public Task<CheckpointRecord?> GetCheckpointAsync(string componentId, long atOrBeforeSeq = long.MaxValue, CancellationToken cancellationToken = default)
    {
        ThrowIfDown();
        return Inner.GetCheckpointAsync(componentId, atOrBeforeSeq, cancellationToken);
    }

    /// <inheritdoc />
    public Task<DedupEntry?> FindRequestAsync(string componentId, string requestId, CancellationToken cancellationToken = default)
    {
        ThrowIfDown();
        return Inner.FindRequestAsync(componentId, requestId, cancellationToken);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<LogRecord>> ReadCheckedAsync(string componentId, long fromSeq, long toSeq, CancellationToken cancellationToken = default)
    {
        ThrowIfDown();
        return Inner.ReadCheckedAsync(componentId, fromSeq, toSeq, cancellationToken);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<DedupEntry>> ListDedupAsync(string componentId, CancellationToken cancellationToken = default)
    {
        ThrowIfDown();
        return Inner.ListDedupAsync(componentId, cancellationToken);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<string>?> ListRequestIdsAsync(string componentId, int limit, CancellationToken cancellationToken = default)
    {
        ThrowIfDown();
        return Inner.ListRequestIdsAsync(componentId, limit, cancellationToken);
    }

    /// <inheritdoc />
    public Task<long> TruncateAsync(string componentId, long beforeSeq, CancellationToken cancellationToken = default)
    {
        ThrowIfDown();
        return Inner.TruncateAsync(componentId, beforeSeq, cancellationToken);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<ComponentHead>> ListComponentsAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDown();
        return Inner.ListComponentsAsync(cancellationToken);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<ComponentHead>> ListInDoubtAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDown();
        return Inner.ListInDoubtAsync(cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => Inner.DisposeAsync();

    private void ThrowIfDown()
    {
        if (FailEverything) throw new StoreUnavailableException($"Injected: {Inner.Name} is unreachable.");
    }
}
