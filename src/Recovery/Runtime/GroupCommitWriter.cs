using Middleware.Recovery.Log;
using Middleware.Recovery.Sharded;
using Middleware.Recovery.Storage;

namespace Middleware.Recovery.Runtime;

/// <summary>
/// Collects records of many components and writes them to the store in as few transactions as possible.
/// While one batch commits, the next one fills up, so throughput grows with load while a lone turn still
/// commits at once. A store that commits in parallel (<see cref="ILogStore.MaxConcurrentAppends"/>) gets up to
/// that many batches in flight, but a component is never in two in-flight batches at once, so each
/// component's records still commit in seq order and its replies are released in log order. On a sharded store
/// (<see cref="ShardedLogStore"/>) it is a router over one writer per shard: each shard's batches fill, commit and
/// wait on their own, so a slow shard never holds back another's turns.
/// </summary>
internal sealed class GroupCommitWriter : IAsyncDisposable
{
    private readonly ILogStore _store;
    private readonly ICommitObserver? _observer;
    private readonly int _maxBatch;
    private readonly int _maxInFlight;
    private readonly object _gate = new();
    private readonly ManualResetEventSlim _signal = new(false);
    private readonly Thread? _thread;
    private readonly ShardedLogStore? _sharded;
    private readonly GroupCommitWriter[]? _shardWriters;
    private readonly HashSet<string> _busy = new(StringComparer.Ordinal);
    private List<WriteItem> _pending = [];
    // Reused by the writer thread only, under _gate (TakeBatch): the list the previous pending items were read from.
    private List<WriteItem> _spare = [];
    // Reused by Group, which runs on the writer thread before CommitAsync's first await: never two at once.
    private readonly Dictionary<(string, long), int> _open = [];
    private readonly List<(string ComponentId, long Epoch, int Records, CheckpointRecord? Checkpoint, ClaimTicket? Claim, List<int>? DependsOn)> _groupInfo = [];
    // Components of the batch being grouped with an item refused by the writer (its dependency was not written): every
    // later item of theirs in the batch is refused too. Made by the first refusal (rare).
    private HashSet<string>? _refused;
    // Numbers the batches TakeBatch takes (writer thread, under _gate): an item's TakenIn tells whether it is in the batch
    // being taken or grouped.
    private long _batchNumber;
    private readonly List<int> _filled = [];
    private int _inFlight;
    private bool _stopping;
    private long _batches;
    private long _records;

    public GroupCommitWriter(ILogStore store, int maxBatch, ICommitObserver? observer = null)
    {
        _store = store;
        StoreLabel = EngineTelemetry.StoreLabel(store.Name);
        _observer = observer;
        _maxBatch = maxBatch;
        _maxInFlight = Math.Max(1, store.MaxConcurrentAppends);
        if (store is ShardedLogStore { Shards.Count: > 1 } sharded)
        {
            _sharded = sharded;
            _shardWriters = [.. sharded.Shards.Select(shard => new GroupCommitWriter(shard, maxBatch, observer))];
            return;
        }

        _thread = new Thread(Run) { IsBackground = true, Name = "group-commit" };
        _thread.Start();
    }

    /// <summary>
    /// True when a record may be queued depending on another item of this writer that is not durable yet
    /// (<see cref="EnqueueItem"/>): the store orders dependent groups in one transaction
    /// (<see cref="ILogStore.SupportsGroupDependencies"/>) and there is one writer (not a router over shards).
    /// </summary>
    public bool OrdersDependencies => _shardWriters is null && _store.SupportsGroupDependencies;

    /// <summary>Store transactions committed so far.</summary>
    public long Batches => _shardWriters?.Sum(w => w.Batches) ?? Interlocked.Read(ref _batches);

    /// <summary>Records written so far.</summary>
    public long Records => _shardWriters?.Sum(w => w.Records) ?? Interlocked.Read(ref _records);

    /// <summary>Queues a turn record; the task completes with the store's verdict once it is durable.</summary>
    public Task<AppendStatus> Enqueue(string componentId, long epoch, LogRecord record) => Enqueue(componentId, epoch, record, null);

    /// <summary>Queues a checkpoint, ordered after every record queued before it.</summary>
    public Task<AppendStatus> Enqueue(string componentId, long epoch, CheckpointRecord checkpoint) => Enqueue(componentId, epoch, checkpoint, null);

    /// <summary>
    /// Queues a turn record of an activation whose claim rides in its first write (<paramref name="claim"/>, see
    /// <see cref="ClaimTicket"/>; null for none): the claim goes with the first item taken, and once it is refused every
    /// later item is fenced without reaching the store.
    /// </summary>
    public Task<AppendStatus> Enqueue(string componentId, long epoch, LogRecord record, ClaimTicket? claim) =>
        _shardWriters is { } shards ? shards[_sharded!.ShardOf(componentId)].Enqueue(componentId, epoch, record, claim) : Enqueue(new WriteItem(componentId, epoch, record, null, claim));

    /// <summary>Queues a checkpoint as <see cref="Enqueue(string, long, LogRecord, ClaimTicket?)"/> queues a record.</summary>
    public Task<AppendStatus> Enqueue(string componentId, long epoch, CheckpointRecord checkpoint, ClaimTicket? claim) =>
        _shardWriters is { } shards ? shards[_sharded!.ShardOf(componentId)].Enqueue(componentId, epoch, checkpoint, claim) : Enqueue(new WriteItem(componentId, epoch, null, checkpoint, claim));

    /// <summary>
    /// Queues the claim alone (an empty group), for an activation that must own its component before it answers but has
    /// nothing to write (a read-only turn, an outcome query, a deactivation): one commit, shared with the batch it joins.
    /// </summary>
    public Task<AppendStatus> EnqueueClaim(string componentId, long epoch, ClaimTicket claim) =>
        _shardWriters is { } shards ? shards[_sharded!.ShardOf(componentId)].EnqueueClaim(componentId, epoch, claim) : Enqueue(new WriteItem(componentId, epoch, null, null, claim));

    /// <summary>
    /// Queues a turn record as <see cref="Enqueue(string, long, LogRecord, ClaimTicket?)"/> does and returns its item, which
    /// later records may depend on. With <paramref name="after"/> (an item of this writer, only where
    /// <see cref="OrdersDependencies"/>), the record is written only if <paramref name="after"/> was written in an earlier
    /// transaction or is written in the same one: it is held back while <paramref name="after"/> waits in the queue or is in
    /// a transaction in flight, rides in <paramref name="after"/>'s transaction as a dependent group
    /// (<see cref="AppendGroup.DependsOn"/>) when both are taken together, and is refused without reaching the store
    /// (<see cref="DependencyNotWrittenException"/>) once <paramref name="after"/> was not written.
    /// </summary>
    /// <param name="componentId">The component.</param>
    /// <param name="epoch">The activation's epoch.</param>
    /// <param name="record">The record.</param>
    /// <param name="claim">The activation's claim ticket, or null.</param>
    /// <param name="after">The item this record depends on, or null.</param>
    /// <param name="held">True to keep the item (and every later item of its component) out of batches until
    /// <see cref="Release"/>: a partial record whose call is about to be handed to a callee of this runtime waits the few
    /// microseconds until the callee's record is queued too, so both ride in one transaction. The caller must release it.</param>
    public WriteItem EnqueueItem(string componentId, long epoch, LogRecord record, ClaimTicket? claim, WriteItem? after, bool held = false)
    {
        if (_shardWriters is { } shards)
        {
            if (after is not null) throw new InvalidOperationException("A sharded store's writer does not order dependent records; wait for the dependency instead.");
            return shards[_sharded!.ShardOf(componentId)].EnqueueItem(componentId, epoch, record, claim, null, held);
        }

        if (after is not null && (!ReferenceEquals(after.Writer, this) || !OrdersDependencies))
            throw new InvalidOperationException("A record may only depend on an item of the same writer, on a store that orders dependent groups.");
        var item = new WriteItem(componentId, epoch, record, null, claim) { After = after, Held = held };
        Enqueue(item);
        return item;
    }

    /// <summary>Lets an item queued held (<see cref="EnqueueItem"/>) into the next batch; nothing when it is not held.</summary>
    public static void Release(WriteItem item)
    {
        // Set only when queued, by the thread that releases it; once cleared it stays clear: a false read needs no lock.
        if (!item.Held) return;
        var writer = item.Writer!;
        lock (writer._gate)
        {
            if (!item.Held) return;
            item.Held = false;
            writer._signal.Set();
        }
    }

    private Task<AppendStatus> Enqueue(WriteItem item)
    {
        item.Writer = this;
        lock (_gate)
        {
            if (_stopping) throw new ObjectDisposedException(nameof(GroupCommitWriter), "The runtime is shutting down; the request was not started.");
            _pending.Add(item);
            _signal.Set();
        }

        return item.Done.Task;
    }

    private void Run()
    {
        while (true)
        {
            _signal.Wait();
            List<WriteItem>? batch;
            lock (_gate)
            {
                batch = _inFlight < _maxInFlight ? TakeBatch() : null;
                if (batch is null)
                {
                    if (_stopping && _pending.Count == 0 && _inFlight == 0) return;
                    _signal.Reset(); // woken again by an enqueue or a finished batch
                    continue;
                }

                _inFlight++;
            }

            var commit = CommitAsync(batch);
            if (_maxInFlight == 1) commit.GetAwaiter().GetResult(); // one at a time: stay on this thread, no hop
        }
    }

    /// <summary>
    /// Takes the oldest items whose components are not in an in-flight batch, up to the batch size. Once an item of
    /// a component is held back, every later item of that component is too, to keep each component's order.
    /// </summary>
    private List<WriteItem>? TakeBatch()
    {
        if (_pending.Count == 0) return null;
        List<WriteItem>? taken = null;
        HashSet<string>? heldBack = null;
        // The spare list is free: the items it held were moved on at the previous batch; nothing else refers to it.
        var kept = _spare;
        kept.Clear();
        var records = 0;
        var number = ++_batchNumber;
        foreach (var item in _pending)
        {
            // A dependent item goes only once its dependency is decided, or with it in this batch (after it in the batch,
            // since it was queued after it); not while the dependency waits in the queue or commits in another batch.
            if (records >= _maxBatch || item.Held || _busy.Contains(item.ComponentId) || (heldBack?.Contains(item.ComponentId) ?? false)
                || (item.After is { } after && after.TakenIn != number && !after.Task.IsCompleted))
            {
                (heldBack ??= new HashSet<string>(StringComparer.Ordinal)).Add(item.ComponentId);
                kept.Add(item);
                continue;
            }

            (taken ??= new List<WriteItem>(Math.Min(_pending.Count, _maxBatch))).Add(item);
            item.TakenIn = number;
            if (item.Record is not null) records++;
        }

        if (taken is null) return null;
        _spare = _pending;
        _pending = kept;
        foreach (var item in taken) _busy.Add(item.ComponentId);
        return taken;
    }

    /// <summary>The store's provider (<c>sqlite</c>, <c>postgres</c>, ...): the <c>store</c> tag of the engine's instruments.</summary>
    public string StoreLabel { get; }

    private async Task CommitAsync(List<WriteItem> batch)
    {
        var (groups, recordCount, claims) = Group(batch);
        try
        {
            var start = EngineTelemetry.StoreDuration.Enabled ? System.Diagnostics.Stopwatch.GetTimestamp() : 0;
            IReadOnlyList<AppendStatus> statuses;
            if (groups.Count == 0)
            {
                statuses = []; // only items of activations whose claim was refused: nothing reaches the store
            }
            else if (claims is null)
            {
                statuses = await _store.AppendAsync(groups).ConfigureAwait(false);
            }
            else
            {
                var claimed = await _store.AppendClaimingAsync(groups).ConfigureAwait(false);
                statuses = claimed.Statuses;
                // Decided before any item completes and before the components leave _busy: a later batch sees the decision.
                // A claim whose group was refused with its dependency was never decided: its activation cannot write.
                foreach (var (g, ticket) in claims)
                {
                    if (GroupDependencyRules.DependencyRefused(groups[g], statuses)) ticket.Fail(DependencyNotWrittenException.Of(groups[g].ComponentId));
                    else ticket.Decide(claimed.Claims[g] ?? new ClaimResult(null));
                }
            }

            if (start != 0) EngineTelemetry.RecordStore(start, StoreLabel, "append");
            if (EngineTelemetry.CommitBatchSize.Enabled)
                EngineTelemetry.CommitBatchSize.Record(recordCount, new KeyValuePair<string, object?>(EngineTelemetry.StoreTag, StoreLabel));
            Interlocked.Increment(ref _batches);
            Interlocked.Add(ref _records, recordCount);
            // In batch order: each component's items complete in their order (they are in one group, in order).
            foreach (var item in batch)
            {
                if (item.Group == RefusedWithDependency || (item.Group >= 0 && statuses[item.Group] != AppendStatus.Ok && GroupDependencyRules.DependencyRefused(groups[item.Group], statuses)))
                {
                    // Not written because what it depends on (a caller's partial record) was not: not a verdict on this component.
                    if (item.Claim is { Sent: false } unsent) unsent.Fail(DependencyNotWrittenException.Of(item.ComponentId));
                    item.Done.TrySetException(DependencyNotWrittenException.Of(item.ComponentId));
                }
                else
                {
                    item.Done.TrySetResult(item.Group < 0 ? AppendStatus.Fenced : statuses[item.Group]);
                }
            }

            if (_observer is { } observer)
            {
                for (var g = 0; g < groups.Count; g++)
                {
                    if (statuses[g] != AppendStatus.Ok) continue;
                    try
                    {
                        observer.Committed(groups[g]);
                    }
                    catch (Exception)
                    {
                        // An observer must not throw; if it does, the commit stands and the next one is told as usual.
                    }
                }
            }
        }
        catch (Exception e)
        {
            // Whether a claim in this batch committed cannot be told: its activation writes nothing more (the ticket is lost).
            if (claims is not null)
            {
                foreach (var (_, ticket) in claims) ticket.Fail(e);
            }

            foreach (var item in batch) item.Done.TrySetException(e);
        }
        finally
        {
            lock (_gate)
            {
                foreach (var item in batch) _busy.Remove(item.ComponentId);
                _inFlight--;
                _signal.Set();
            }
        }
    }

    /// <summary>
    /// The batch as store groups: one per component and epoch, in first-appearance order, each with its records in queue
    /// order and at most one checkpoint (a second checkpoint of the same component opens a new group). Each item learns its
    /// group's index (<see cref="WriteItem.Group"/>), for its status. Runs on the writer thread before the commit's first
    /// await, so the look-up table and the counts are reused from batch to batch; each group's records are an exact array.
    /// </summary>
    private (List<AppendGroup> Groups, int Records, List<(int Group, ClaimTicket Ticket)>? Claims) Group(List<WriteItem> batch)
    {
        _open.Clear();
        _groupInfo.Clear();
        _refused?.Clear();
        List<(int, ClaimTicket)>? claims = null;
        var recordCount = 0;
        foreach (var item in batch)
        {
            var key = (item.ComponentId, item.Epoch);
            var claimNow = false;
            var dependsOn = -1;
            var componentRefused = _refused is { Count: > 0 } refused && refused.Contains(item.ComponentId);
            if (componentRefused || item.After is not null)
            {
                // In this batch (taken before it): its group is a dependency of this item's group. Decided in an earlier batch:
                // written, nothing to wait for; not written, this item is refused without reaching the store, and so is every
                // later item of its component in the batch (their seqs follow it).
                var after = item.After;
                if (componentRefused || after is null) dependsOn = -2;
                else if (after.TakenIn == _batchNumber && !after.Task.IsCompleted) dependsOn = after.Group < 0 ? -2 : after.Group;
                else if (!(after.Task.IsCompletedSuccessfully && after.Task.Result == AppendStatus.Ok)) dependsOn = -2;
                if (dependsOn == -2)
                {
                    item.Group = RefusedWithDependency;
                    (_refused ??= new HashSet<string>(StringComparer.Ordinal)).Add(item.ComponentId);
                    continue;
                }
            }

            if (item.Claim is { } ticket)
            {
                if (ticket.IsLost)
                {
                    item.Group = -1; // the activation's claim was refused (or is unknown): fenced, never written
                    continue;
                }

                // The first item of the activation taken: its group carries the claim. Later items of the activation are in
                // this group, or in a later batch that sees the decision (the component is busy until it is made).
                claimNow = !ticket.Sent && !ticket.IsWon;
            }

            // A dependency in a group opened after this component's group: the item starts a group after it (groups run in order).
            if (claimNow || !_open.TryGetValue(key, out var g) || (item.Checkpoint is not null && _groupInfo[g].Checkpoint is not null) || g < dependsOn)
            {
                g = _groupInfo.Count;
                _open[key] = g;
                _groupInfo.Add((item.ComponentId, item.Epoch, 0, null, claimNow ? item.Claim : null, null));
                if (claimNow)
                {
                    item.Claim!.Sent = true;
                    (claims ??= []).Add((g, item.Claim));
                }
            }

            var info = _groupInfo[g];
            if (dependsOn >= 0 && !(info.DependsOn?.Contains(dependsOn) ?? false)) (info.DependsOn ??= []).Add(dependsOn);
            if (item.Record is not null)
            {
                info.Records++;
                recordCount++;
            }
            else if (item.Checkpoint is not null)
            {
                info.Checkpoint = item.Checkpoint;
            }

            _groupInfo[g] = info;
            item.Group = g;
        }

        var records = new LogRecord[_groupInfo.Count][];
        _filled.Clear();
        for (var g = 0; g < _groupInfo.Count; g++)
        {
            records[g] = _groupInfo[g].Records == 0 ? [] : new LogRecord[_groupInfo[g].Records];
            _filled.Add(0);
        }

        foreach (var item in batch)
        {
            if (item.Record is null || item.Group < 0) continue;
            records[item.Group][_filled[item.Group]++] = item.Record;
        }

        var groups = new List<AppendGroup>(_groupInfo.Count);
        for (var g = 0; g < _groupInfo.Count; g++)
        {
            var info = _groupInfo[g];
            groups.Add(new AppendGroup(info.ComponentId, info.Epoch, records[g]) { Checkpoint = info.Checkpoint, Claim = info.Claim?.Claim, DependsOn = info.DependsOn });
        }

        return (groups, recordCount, claims);
    }

    /// <summary>Writes what is queued, waits for in-flight batches, then stops the writer thread.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_shardWriters is { } shards)
        {
            foreach (var writer in shards) await writer.DisposeAsync().ConfigureAwait(false);
            return;
        }

        lock (_gate)
        {
            _stopping = true;
            _signal.Set();
        }

        _thread!.Join();
    }

    /// <summary><see cref="WriteItem.Group"/> of an item refused by the writer because its dependency was not written.</summary>
    private const int RefusedWithDependency = -2;

    /// <summary>One queued record or checkpoint; it is its own completion source (one object less per record).</summary>
    internal sealed class WriteItem(string componentId, long epoch, LogRecord? record, CheckpointRecord? checkpoint, ClaimTicket? claim = null)
        : TaskCompletionSource<AppendStatus>(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        public string ComponentId { get; } = componentId;

        public long Epoch { get; } = epoch;

        public LogRecord? Record { get; } = record;

        public CheckpointRecord? Checkpoint { get; } = checkpoint;

        /// <summary>The claim of the activation that queued it, when that rides in its first write; else null.</summary>
        public ClaimTicket? Claim { get; } = claim;

        public TaskCompletionSource<AppendStatus> Done => this;

        /// <summary>The index of this item's store group in its batch (set by <see cref="Group"/>; the batch's own).</summary>
        public int Group { get; set; }

        /// <summary>The writer that queued it (a shard's, on a sharded store).</summary>
        public GroupCommitWriter? Writer { get; set; }

        /// <summary>The item this one may only be written with or after (<see cref="EnqueueItem"/>), or null.</summary>
        public WriteItem? After { get; init; }

        /// <summary>Kept out of batches until <see cref="Release"/> (under the writer's lock).</summary>
        public bool Held { get; set; }

        /// <summary>The number of the batch that took it (0 while queued); set by TakeBatch under the writer's lock.</summary>
        public long TakenIn { get; set; }
    }
}
