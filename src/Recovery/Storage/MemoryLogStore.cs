using Middleware.Recovery.Log;

namespace Middleware.Recovery.Storage;

/// <summary>
/// An in-memory store: the reference implementation of the contract, for unit tests and for the
/// benchmark's no-log baseline. Nothing survives the process; never use it where durability matters. It also
/// keeps the cluster tables (<see cref="IClusterStore"/>, in MemoryLogStore.Cluster.cs) with its
/// <see cref="TimeProvider"/> as the store clock, so one process can host several silos in tests. Every operation runs
/// under one lock and completes synchronously; argument rules are <see cref="LogStoreBase"/>'s.
/// </summary>
public sealed partial class MemoryLogStore(TimeProvider? time = null) : LogStoreBase
{
    private readonly object _gate = new();
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly Dictionary<string, Entry> _components = new(StringComparer.Ordinal);

    /// <inheritdoc />
    public override string Name => "memory";

    /// <inheritdoc />
    protected override Task<ComponentHead?> GetHeadCoreAsync(string componentId, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult(_components.TryGetValue(componentId, out var e) ? e.Head(componentId) : null);
        }
    }

    /// <inheritdoc />
    protected override Task<IReadOnlyList<AppendStatus>> AppendCoreAsync(IReadOnlyList<AppendGroup> groups, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow().UtcTicks;
        var result = new AppendStatus[groups.Count];
        lock (_gate)
        {
            for (var i = 0; i < groups.Count; i++)
                result[i] = GroupDependencyRules.DependencyRefused(groups[i], result) ? AppendStatus.Fenced : AppendLocked(groups[i], now);
        }

        return Task.FromResult<IReadOnlyList<AppendStatus>>(result);
    }

    /// <inheritdoc />
    public override bool SupportsClaimInAppend => true;

    /// <inheritdoc />
    public override bool SupportsGroupDependencies => true;

    /// <inheritdoc />
    protected override Task<ClaimingAppendResult> AppendClaimingCoreAsync(IReadOnlyList<AppendGroup> groups, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow().UtcTicks;
        var result = new AppendStatus[groups.Count];
        var claims = new ClaimResult?[groups.Count];
        lock (_gate)
        {
            for (var i = 0; i < groups.Count; i++)
            {
                if (GroupDependencyRules.DependencyRefused(groups[i], result))
                {
                    result[i] = AppendStatus.Fenced; // its claim is not decided
                    continue;
                }

                if (groups[i].Claim is { } claim && (claims[i] = ClaimLocked(claim.Request, claim.LastSeq)).Claimed is null)
                {
                    result[i] = AppendStatus.Fenced;
                    continue;
                }

                result[i] = AppendLocked(groups[i], now);
            }
        }

        return Task.FromResult(new ClaimingAppendResult(result, claims));
    }

    private AppendStatus AppendLocked(AppendGroup g, long now)
    {
        if (!_components.TryGetValue(g.ComponentId, out var e) || e.Epoch != g.Epoch) return AppendStatus.Fenced;
        if (!AppendRules.Follow(e.LastSeq, g)) return AppendStatus.SeqConflict;
        foreach (var r in g.Records)
        {
            e.Records.Add(r with { CommittedAtTicks = now, Payload = r.Payload.ToArray() });
        }

        if (g.Checkpoint is { } c)
        {
            e.Checkpoints.Add(c with { CreatedAtTicks = now, State = c.State.ToArray() });
            foreach (var d in c.Dedup) e.Dedup[d.RequestId] = d with { Reply = d.Reply.ToArray() };
        }

        return AppendStatus.Ok;
    }

    /// <inheritdoc />
    protected override Task<IReadOnlyList<LogRecord>> ReadCoreAsync(string componentId, long fromSeq, long toSeq, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (!_components.TryGetValue(componentId, out var e)) return Task.FromResult<IReadOnlyList<LogRecord>>([]);
            var list = e.Records.Where(r => r.Seq >= fromSeq && r.Seq <= toSeq).ToList();
            return Task.FromResult<IReadOnlyList<LogRecord>>(list);
        }
    }

    /// <inheritdoc />
    protected override Task<CheckpointRecord?> GetCheckpointCoreAsync(string componentId, long atOrBeforeSeq, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (!_components.TryGetValue(componentId, out var e)) return Task.FromResult<CheckpointRecord?>(null);
            var c = e.Checkpoints.Where(c => c.Seq <= atOrBeforeSeq).MaxBy(c => c.Seq);
            return Task.FromResult(c);
        }
    }

    /// <inheritdoc />
    protected override Task<DedupEntry?> FindRequestCoreAsync(string componentId, string requestId, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult(_components.TryGetValue(componentId, out var e) && e.Dedup.TryGetValue(requestId, out var d) ? d : null);
        }
    }

    /// <inheritdoc />
    protected override Task<IReadOnlyList<string>?> ListRequestIdsCoreAsync(string componentId, int limit, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult(WithinLimit(_components.TryGetValue(componentId, out var e) ? [.. e.Dedup.Keys] : [], limit));
        }
    }

    /// <inheritdoc />
    protected override Task<IReadOnlyList<DedupEntry>> ListDedupCoreAsync(string componentId, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult<IReadOnlyList<DedupEntry>>(_components.TryGetValue(componentId, out var e)
                ? e.Dedup.Values.OrderBy(d => d.RequestId, StringComparer.Ordinal).ToList()
                : []);
        }
    }

    /// <inheritdoc />
    protected override Task<long> TruncateCoreAsync(string componentId, long beforeSeq, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (!_components.TryGetValue(componentId, out var e)) return Task.FromResult(0L);
            if (!e.Checkpoints.Any(c => c.Seq >= beforeSeq - 1))
                throw new StoreContractException($"Cannot truncate {componentId} before seq {beforeSeq}: no checkpoint at seq {beforeSeq - 1} or later. Write a checkpoint first.");
            var removed = e.Records.RemoveAll(r => r.Seq < beforeSeq);
            return Task.FromResult((long)removed);
        }
    }

    /// <inheritdoc />
    protected override Task<IReadOnlyList<ComponentHead>> ListComponentsCoreAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult<IReadOnlyList<ComponentHead>>(
                _components.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Value.Head(kv.Key)).ToList());
        }
    }

    /// <inheritdoc />
    protected override Task<IReadOnlyList<ComponentHead>> ListInDoubtCoreAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult<IReadOnlyList<ComponentHead>>(_components
                .Where(kv => kv.Value.Records.Count > 0 && kv.Value.Records[^1].Kind == RecordKind.PartialTurn)
                .OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Value.Head(kv.Key)).ToList());
        }
    }

    /// <summary>True: disposing releases nothing, and a test reopens a memory store by using the same object again.</summary>
    protected override bool ServesAfterDispose => true;

    /// <inheritdoc />
    protected override StoreUnavailableException? DescribeFailure(Exception exception, string operation, bool write) => null; // nothing to reach

    private sealed class Entry
    {
        public long Epoch;
        public string? Owner;
        public readonly List<LogRecord> Records = [];
        public readonly List<CheckpointRecord> Checkpoints = [];
        public readonly Dictionary<string, DedupEntry> Dedup = new(StringComparer.Ordinal);

        public long LastSeq => Records.Count == 0 ? Checkpoints.Select(c => c.Seq).DefaultIfEmpty(0).Max() : Records[^1].Seq;

        public ComponentHead Head(string id) =>
            new(id, Epoch, Owner, LastSeq, Checkpoints.Count == 0 ? 0 : Checkpoints.Max(c => c.Seq));
    }
}
