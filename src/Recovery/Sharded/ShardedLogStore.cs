using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;

namespace Middleware.Recovery.Sharded;

/// <summary>
/// A store of several databases (<c>--store sharded:KIND:A|KIND:B|...</c>): N stores of one kind, each holding the
/// components the stable hash of <see cref="ShardMap"/> maps to it, behind the one <see cref="IClusterStore"/> contract.
/// <list type="bullet">
/// <item>Component operations (head, claim, append, reads, checkpoints, dedup, truncation, hand-over) go to the
/// component's shard, so everything about one component, its ownership (epoch and owner) included, stays in one
/// database and each of the storage rules holds there as it does in a store of one database.</item>
/// <item>Cluster tables (silos and their heartbeats, sessions) live in the first shard (shard 0), and the shard map is
/// recorded there (and each shard records its own place, so a changed list is refused at open).</item>
/// <item>An append of groups of several shards runs one transaction per shard, in parallel: atomic per shard, not
/// across shards (the runtime's group-commit writer never mixes them: it keeps one writer per shard, see
/// <see cref="Shards"/>). If one shard fails the call fails, as an uncertain write does (rule 4): the caller treats
/// every group as not acknowledged and a later read tells what happened.</item>
/// <item>A claim that respects live silos for a component outside shard 0 first applies rule 2 in shard 0 (listing the
/// silos marks the condemned ones dead), reads the component's owner in its shard, reports an owner that is an active
/// silo, and otherwise bumps the epoch in the component's shard. These are two transactions, not one: safety never
/// rested on the membership check (the epoch fence alone keeps one writer per component; a silo that was just declared
/// dead stays dead until it rejoins, and a rejoin drops its activations), so the cost of the gap is at most a claim that
/// fences an owner which became live in between, whose next append is then refused and whose callers retry.</item>
/// <item>Listings (components, turns in doubt) merge the shards' lists in id order; <c>mw</c> and audits see one store.</item>
/// </list>
/// </summary>
public sealed class ShardedLogStore : IClusterStore
{
    private readonly IClusterStore[] _shards;

    private ShardedLogStore(IClusterStore[] shards)
    {
        _shards = shards;
        Name = "sharded:" + string.Join('|', shards.Select(s => s.Name));
    }

    /// <summary>The shards in map order: shard 0 holds the cluster tables and the map.</summary>
    public IReadOnlyList<IClusterStore> Shards => _shards;

    /// <inheritdoc />
    public string Name { get; }

    /// <summary>The shards' parallel appends together: a call with groups of several shards runs one transaction in each.</summary>
    public int MaxConcurrentAppends => _shards.Sum(s => Math.Max(1, s.MaxConcurrentAppends));

    /// <summary>The index of the shard that holds <paramref name="componentId"/>.</summary>
    public int ShardOf(string componentId) => ShardMap.ShardOf(componentId, _shards.Length);

    /// <summary>The shard that holds <paramref name="componentId"/>.</summary>
    public IClusterStore ShardFor(string componentId) => _shards[ShardOf(componentId)];

    private IClusterStore First => _shards[0];

    /// <summary>
    /// A sharded store over <paramref name="shards"/> (opened, in map order), after checking the map every shard
    /// records: read-write, a new set of empty stores is set up (shard 0 first), a set whose setup was interrupted is
    /// completed, and anything else that does not match is refused with <see cref="ShardMapException"/> naming the fix.
    /// Read-only, nothing is written: a store never set up is refused. On failure every shard is closed.
    /// </summary>
    /// <exception cref="ShardMapException">The shard list does not match the map recorded in the shards.</exception>
    public static async Task<ShardedLogStore> OpenAsync(IReadOnlyList<IClusterStore> shards, StoreAccess access, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(shards);
        if (shards.Count == 0) throw new ArgumentException("A sharded store needs at least one shard.", nameof(shards));
        var store = new ShardedLogStore([.. shards]);
        try
        {
            await store.CheckMapAsync(access, cancellationToken).ConfigureAwait(false);
            return store;
        }
        catch
        {
            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task CheckMapAsync(StoreAccess access, CancellationToken ct)
    {
        var n = _shards.Length;
        var first = await First.GetHeadAsync(ShardMap.MarkerId, ct).ConfigureAwait(false);
        if (first is null)
        {
            if (access == StoreAccess.ReadOnly)
                throw new ShardMapException($"{_shards[0].Name} (shard 0 of the list) records no shard map: this sharded store was never opened read-write. " +
                    "Start a silo on it first, or check that the shards are listed in their original order.");
            await CheckUnsetAsync(ct).ConfigureAwait(false);
            var setId = Guid.NewGuid().ToString("N")[..12];
            var created = await First.ClaimAsync(new ClaimRequest(ShardMap.MarkerId, 0, ShardMap.Descriptor(setId, 0, n), ClaimMode.EpochOnly), ct).ConfigureAwait(false);
            first = created.Claimed ?? await First.GetHeadAsync(ShardMap.MarkerId, ct).ConfigureAwait(false); // lost a race: the winner's map
        }

        var map = ShardMap.Parse(first?.Owner);
        if (map is not { Index: 0 } m)
            throw new ShardMapException($"{_shards[0].Name} is listed first but is {ShardMap.Describe(first?.Owner)}. " +
                "List the shards in their original order (the order the sharded store was created with, shard 0 first).");
        if (m.Count != n)
            throw new ShardMapException($"The sharded store in {_shards[0].Name} was created with {m.Count} shards (set {m.SetId}); this setting lists {n}. " +
                $"Components are placed by a hash modulo the shard count, so a different count would look for them in the wrong database: list the same {m.Count} stores in the same order. " +
                "Changing the number of shards (moving components between databases) is not supported.");

        for (var k = 1; k < n; k++)
        {
            var expected = ShardMap.Descriptor(m.SetId, k, n);
            var head = await _shards[k].GetHeadAsync(ShardMap.MarkerId, ct).ConfigureAwait(false);
            if (head is null && access == StoreAccess.ReadWrite && await IsEmptyAsync(_shards[k], ct).ConfigureAwait(false))
            {
                // A new set (or one whose setup stopped after shard 0): record this shard's place.
                var claimed = await _shards[k].ClaimAsync(new ClaimRequest(ShardMap.MarkerId, 0, expected, ClaimMode.EpochOnly), ct).ConfigureAwait(false);
                head = claimed.Claimed ?? await _shards[k].GetHeadAsync(ShardMap.MarkerId, ct).ConfigureAwait(false);
            }

            if (head is null)
                throw new ShardMapException($"{_shards[k].Name} (shard {k} of the list) is not a shard of set {m.SetId}: it records no shard map" +
                    (access == StoreAccess.ReadOnly ? "" : " and already holds components of its own") +
                    ". List the databases the sharded store was created with, in their original order; a database that held an unsharded store cannot become a shard.");
            if (!string.Equals(head.Owner, expected, StringComparison.Ordinal))
                throw new ShardMapException($"{_shards[k].Name} is listed as shard {k} of set {m.SetId} but is {ShardMap.Describe(head.Owner)}. " +
                    "List the shards in their original order (the order the sharded store was created with); never mix shards of different sharded stores.");
        }
    }

    /// <summary>Refuses to set up a map over a store that holds components or another set's marker (it would hide them).</summary>
    private async Task CheckUnsetAsync(CancellationToken ct)
    {
        for (var k = 0; k < _shards.Length; k++)
        {
            var head = await _shards[k].GetHeadAsync(ShardMap.MarkerId, ct).ConfigureAwait(false);
            if (head is not null && k > 0 && ShardMap.Parse(head.Owner) is { Index: > 0 })
                throw new ShardMapException($"{_shards[k].Name} is {ShardMap.Describe(head.Owner)}, but {_shards[0].Name} (listed first) records no shard map. " +
                    "List the shards in their original order (the order the sharded store was created with, shard 0 first).");
            if (!await IsEmptyAsync(_shards[k], ct).ConfigureAwait(false))
                throw new ShardMapException($"{_shards[k].Name} already holds components but no shard map: it is an unsharded store, or a shard listed in the wrong place. " +
                    "A sharded store starts on empty databases (moving an existing store's components into shards is not supported); " +
                    "list empty databases, or the shards of an existing sharded store in their original order.");
        }
    }

    private static async Task<bool> IsEmptyAsync(IClusterStore shard, CancellationToken ct) =>
        (await shard.ListComponentsAsync(ct).ConfigureAwait(false)).All(h => h.ComponentId == ShardMap.MarkerId);

    // ---- component operations: the component's shard ----

    /// <inheritdoc />
    public Task<ComponentHead?> GetHeadAsync(string componentId, CancellationToken cancellationToken = default) =>
        ShardFor(componentId).GetHeadAsync(componentId, cancellationToken);

    /// <inheritdoc />
    public Task<ClaimResult> ClaimAsync(ClaimRequest request, CancellationToken cancellationToken = default)
    {
        if (request is null || _shards.Length == 1 || !request.RespectsLiveSilo) return ShardFor(request?.ComponentId!).ClaimAsync(request!, cancellationToken);
        var shard = ShardOf(request.ComponentId);
        return shard == 0 ? First.ClaimAsync(request, cancellationToken) : ClaimRespectingLiveSiloAsync(_shards[shard], request, cancellationToken);
    }

    private async Task<ClaimResult> ClaimRespectingLiveSiloAsync(IClusterStore shard, ClaimRequest request, CancellationToken ct)
    {
        ClusterRules.CheckClaim(request);
        // Rule 2 first, in shard 0 (listing marks the condemned silos dead); then the owner, in the component's shard.
        var silos = await First.ListSilosAsync(ct).ConfigureAwait(false);
        var head = await shard.GetHeadAsync(request.ComponentId, ct).ConfigureAwait(false);
        if (head?.Owner is { } owner && !string.Equals(owner, request.Owner, StringComparison.Ordinal) &&
            silos.FirstOrDefault(s => string.Equals(s.SiloId, owner, StringComparison.Ordinal)) is { Status: SiloStatus.Active } live)
        {
            return new ClaimResult(null, live.SiloId, live.Address);
        }

        return await shard.ClaimAsync(request with { Mode = ClaimMode.EpochOnly }, ct).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<AppendStatus>> AppendAsync(IReadOnlyList<AppendGroup> groups, CancellationToken cancellationToken = default)
    {
        if (groups is null || groups.Count == 0 || _shards.Length == 1) return First.AppendAsync(groups!, cancellationToken);
        var first = ShardOf(groups[0]?.ComponentId!);
        var single = true;
        for (var i = 1; i < groups.Count && single; i++) single = ShardOf(groups[i]?.ComponentId!) == first;
        return single ? _shards[first].AppendAsync(groups, cancellationToken) : AppendSplitAsync(groups, cancellationToken);
    }

    private async Task<IReadOnlyList<AppendStatus>> AppendSplitAsync(IReadOnlyList<AppendGroup> groups, CancellationToken ct)
    {
        var byShard = new Dictionary<int, List<int>>();
        for (var i = 0; i < groups.Count; i++)
        {
            var shard = ShardOf(groups[i]?.ComponentId!);
            if (!byShard.TryGetValue(shard, out var list)) byShard[shard] = list = [];
            list.Add(i);
        }

        var parts = byShard.Select(kv => (Indexes: kv.Value, Task: _shards[kv.Key].AppendAsync(kv.Value.Select(i => groups[i]).ToList(), ct))).ToList();
        await Task.WhenAll(parts.Select(p => p.Task)).ConfigureAwait(false);
        var statuses = new AppendStatus[groups.Count];
        foreach (var (indexes, task) in parts)
        {
            var result = task.Result;
            for (var j = 0; j < indexes.Count; j++) statuses[indexes[j]] = result[j];
        }

        return statuses;
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<LogRecord>> ReadAsync(string componentId, long fromSeq, long toSeq, CancellationToken cancellationToken = default) =>
        ShardFor(componentId).ReadAsync(componentId, fromSeq, toSeq, cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<LogRecord>> ReadCheckedAsync(string componentId, long fromSeq, long toSeq, CancellationToken cancellationToken = default) =>
        ShardFor(componentId).ReadCheckedAsync(componentId, fromSeq, toSeq, cancellationToken);

    /// <inheritdoc />
    public Task<CheckpointRecord?> GetCheckpointAsync(string componentId, long atOrBeforeSeq = long.MaxValue, CancellationToken cancellationToken = default) =>
        ShardFor(componentId).GetCheckpointAsync(componentId, atOrBeforeSeq, cancellationToken);

    /// <inheritdoc />
    public Task<ActivationRead> ReadForActivationAsync(string componentId, CancellationToken cancellationToken = default) =>
        ShardFor(componentId).ReadForActivationAsync(componentId, cancellationToken);

    /// <inheritdoc />
    public Task<ActivationRead> ReadForActivationAsync(string componentId, string? requestId, CancellationToken cancellationToken = default) =>
        ShardFor(componentId).ReadForActivationAsync(componentId, requestId, cancellationToken);

    /// <inheritdoc />
    public Task<DedupEntry?> FindRequestAsync(string componentId, string requestId, CancellationToken cancellationToken = default) =>
        ShardFor(componentId).FindRequestAsync(componentId, requestId, cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<DedupEntry>> ListDedupAsync(string componentId, CancellationToken cancellationToken = default) =>
        ShardFor(componentId).ListDedupAsync(componentId, cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<string>?> ListRequestIdsAsync(string componentId, int limit, CancellationToken cancellationToken = default) =>
        ShardFor(componentId).ListRequestIdsAsync(componentId, limit, cancellationToken);

    /// <inheritdoc />
    public Task<long> TruncateAsync(string componentId, long beforeSeq, CancellationToken cancellationToken = default) =>
        ShardFor(componentId).TruncateAsync(componentId, beforeSeq, cancellationToken);

    /// <inheritdoc />
    public Task<bool> HandOverAsync(string componentId, long epoch, string fromSiloId, string? toSiloId, CancellationToken cancellationToken = default) =>
        ShardFor(componentId).HandOverAsync(componentId, epoch, fromSiloId, toSiloId, cancellationToken);

    /// <inheritdoc />
    public async Task<IReadOnlyList<ComponentHead>> ListComponentsAsync(CancellationToken cancellationToken = default) =>
        Merge(await Task.WhenAll(_shards.Select(s => s.ListComponentsAsync(cancellationToken))).ConfigureAwait(false));

    /// <inheritdoc />
    public async Task<IReadOnlyList<ComponentHead>> ListInDoubtAsync(CancellationToken cancellationToken = default) =>
        Merge(await Task.WhenAll(_shards.Select(s => s.ListInDoubtAsync(cancellationToken))).ConfigureAwait(false));

    private static List<ComponentHead> Merge(IEnumerable<IReadOnlyList<ComponentHead>> lists) =>
        [.. lists.SelectMany(l => l).Where(h => h.ComponentId != ShardMap.MarkerId).OrderBy(h => h.ComponentId, StringComparer.Ordinal)];

    // ---- cluster tables: shard 0 (a silo leaving releases its components in every shard) ----

    /// <inheritdoc />
    public Task<SiloEntry> JoinAsync(string siloId, string address, string? httpAddress, TimeSpan deadAfter, CancellationToken cancellationToken = default) =>
        First.JoinAsync(siloId, address, httpAddress, deadAfter, cancellationToken);

    /// <inheritdoc />
    public Task<bool> HeartbeatAsync(string siloId, int activations, CancellationToken cancellationToken = default) =>
        First.HeartbeatAsync(siloId, activations, cancellationToken);

    /// <inheritdoc />
    /// <remarks>
    /// The other shards release the silo's components first (they keep no silo rows, so that changes nothing else), then
    /// shard 0 releases its own and marks the silo left: a failure midway leaves the silo active, to leave again or expire.
    /// </remarks>
    public async Task LeaveAsync(string siloId, CancellationToken cancellationToken = default)
    {
        ClusterRules.CheckSiloId(siloId);
        await Task.WhenAll(_shards.Skip(1).Select(s => s.LeaveAsync(siloId, cancellationToken))).ConfigureAwait(false);
        await First.LeaveAsync(siloId, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<SiloEntry>> ListSilosAsync(CancellationToken cancellationToken = default) => First.ListSilosAsync(cancellationToken);

    /// <inheritdoc />
    public Task<bool> DeclareDeadAsync(string siloId, DateTimeOffset joinedAt, string declaredBy, CancellationToken cancellationToken = default) =>
        First.DeclareDeadAsync(siloId, joinedAt, declaredBy, cancellationToken);

    /// <inheritdoc />
    public Task<SessionReservation> OpenSessionAsync(string? sessionId, int reserve, string? tokenHash = null, CancellationToken cancellationToken = default) =>
        First.OpenSessionAsync(sessionId, reserve, tokenHash, cancellationToken);

    /// <inheritdoc />
    public Task<SessionReservation> ReserveSessionAsync(string sessionId, int reserve, CancellationToken cancellationToken = default) =>
        First.ReserveSessionAsync(sessionId, reserve, cancellationToken);

    /// <inheritdoc />
    public Task<SessionEntry?> GetSessionAsync(string sessionId, CancellationToken cancellationToken = default) =>
        First.GetSessionAsync(sessionId, cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<SessionEntry>> ListSessionsAsync(int limit = 1000, CancellationToken cancellationToken = default) =>
        First.ListSessionsAsync(limit, cancellationToken);

    /// <inheritdoc />
    public Task SetSessionItemAsync(string sessionId, string key, string? value, CancellationToken cancellationToken = default) =>
        First.SetSessionItemAsync(sessionId, key, value, cancellationToken);

    /// <inheritdoc />
    public Task CloseSessionAsync(string sessionId, CancellationToken cancellationToken = default) =>
        First.CloseSessionAsync(sessionId, cancellationToken);

    /// <summary>Closes every shard (all of them, even when one fails; the first failure is rethrown).</summary>
    public async ValueTask DisposeAsync()
    {
        Exception? failure = null;
        foreach (var shard in _shards)
        {
            try
            {
                await shard.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception e)
            {
                failure ??= e;
            }
        }

        if (failure is not null) throw failure;
    }
}

/// <summary>The shard list of a sharded store does not match the map its shards record; the message names the fix.</summary>
public sealed class ShardMapException(string message) : InvalidOperationException(message);
