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
    private readonly List<(string ComponentId, long Epoch, int Records, CheckpointRecord? Checkpoint, ClaimTicket? Claim)> _groupInfo = [];
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

    private Task<AppendStatus> Enqueue(WriteItem item)
    {
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
        foreach (var item in _pending)
        {
            if (records >= _maxBatch || _busy.Contains(item.ComponentId) || (heldBack?.Contains(item.ComponentId) ?? false))
            {
                (heldBack ??= new HashSet<string>(StringComparer.Ordinal)).Add(item.ComponentId);
                kept.Add(item);
                continue;
            }

            (taken ??= new List<WriteItem>(Math.Min(_pending.Count, _maxBatch))).Add(item);
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
                foreach (var (g, ticket) in claims) ticket.Decide(claimed.Claims[g] ?? new ClaimResult(null));
            }

            if (start != 0) EngineTelemetry.RecordStore(start, StoreLabel, "append");
            if (EngineTelemetry.CommitBatchSize.Enabled)
                EngineTelemetry.CommitBatchSize.Record(recordCount, new KeyValuePair<string, object?>(EngineTelemetry.StoreTag, StoreLabel));
            Interlocked.Increment(ref _batches);
            Interlocked.Add(ref _records, recordCount);
            // In batch order: each component's items complete in their order (they are in one group, in order).
            foreach (var item in batch) item.Done.TrySetResult(item.Group < 0 ? AppendStatus.Fenced : statuses[item.Group]);

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
        List<(int, ClaimTicket)>? claims = null;
        var recordCount = 0;
        foreach (var item in batch)
        {
            var key = (item.ComponentId, item.Epoch);
            var claimNow = false;
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

            if (claimNow || !_open.TryGetValue(key, out var g) || (item.Checkpoint is not null && _groupInfo[g].Checkpoint is not null))
            {
                g = _groupInfo.Count;
                _open[key] = g;
                _groupInfo.Add((item.ComponentId, item.Epoch, 0, null, claimNow ? item.Claim : null));
                if (claimNow)
                {
                    item.Claim!.Sent = true;
                    (claims ??= []).Add((g, item.Claim));
                }
            }

            var info = _groupInfo[g];
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
            groups.Add(new AppendGroup(info.ComponentId, info.Epoch, records[g]) { Checkpoint = info.Checkpoint, Claim = info.Claim?.Claim });
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

    /// <summary>One queued record or checkpoint; it is its own completion source (one object less per record).</summary>
    private sealed class WriteItem(string componentId, long epoch, LogRecord? record, CheckpointRecord? checkpoint, ClaimTicket? claim = null)
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
    }
}
