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
    public Task<AppendStatus> Enqueue(string componentId, long epoch, LogRecord record) =>
        _shardWriters is { } shards ? shards[_sharded!.ShardOf(componentId)].Enqueue(componentId, epoch, record) : Enqueue(new WriteItem(componentId, epoch, record, null));

    /// <summary>Queues a checkpoint, ordered after every record queued before it.</summary>
    public Task<AppendStatus> Enqueue(string componentId, long epoch, CheckpointRecord checkpoint) =>
        _shardWriters is { } shards ? shards[_sharded!.ShardOf(componentId)].Enqueue(componentId, epoch, checkpoint) : Enqueue(new WriteItem(componentId, epoch, null, checkpoint));

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
        var kept = new List<WriteItem>();
        var records = 0;
        foreach (var item in _pending)
        {
            if (records >= _maxBatch || _busy.Contains(item.ComponentId) || (heldBack?.Contains(item.ComponentId) ?? false))
            {
                (heldBack ??= new HashSet<string>(StringComparer.Ordinal)).Add(item.ComponentId);
                kept.Add(item);
                continue;
            }

            (taken ??= []).Add(item);
            if (item.Record is not null) records++;
        }

        if (taken is null) return null;
        _pending = kept;
        foreach (var item in taken) _busy.Add(item.ComponentId);
        return taken;
    }

    /// <summary>The store's provider (<c>sqlite</c>, <c>postgres</c>, ...): the <c>store</c> tag of the engine's instruments.</summary>
    public string StoreLabel { get; }

    private async Task CommitAsync(List<WriteItem> batch)
    {
        var (groups, members, recordCount) = Group(batch);
        try
        {
            var start = EngineTelemetry.StoreDuration.Enabled ? System.Diagnostics.Stopwatch.GetTimestamp() : 0;
            var statuses = await _store.AppendAsync(groups).ConfigureAwait(false);
            if (start != 0) EngineTelemetry.RecordStore(start, StoreLabel, "append");
            if (EngineTelemetry.CommitBatchSize.Enabled)
                EngineTelemetry.CommitBatchSize.Record(recordCount, new KeyValuePair<string, object?>(EngineTelemetry.StoreTag, StoreLabel));
            Interlocked.Increment(ref _batches);
            Interlocked.Add(ref _records, recordCount);
            for (var g = 0; g < members.Count; g++)
            {
                foreach (var item in members[g]) item.Done.TrySetResult(statuses[g]);
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

    private static (List<AppendGroup> Groups, List<List<WriteItem>> Members, int Records) Group(List<WriteItem> batch)
    {
        var groups = new List<AppendGroup>();
        var members = new List<List<WriteItem>>();
        var open = new Dictionary<(string, long), int>();
        var recordCount = 0;
        foreach (var item in batch)
        {
            var key = (item.ComponentId, item.Epoch);
            if (!open.TryGetValue(key, out var g) || (item.Checkpoint is not null && groups[g].Checkpoint is not null))
            {
                g = groups.Count;
                open[key] = g;
                groups.Add(new AppendGroup(item.ComponentId, item.Epoch, new List<LogRecord>()));
                members.Add([]);
            }

            if (item.Record is not null)
            {
                ((List<LogRecord>)groups[g].Records).Add(item.Record);
                recordCount++;
            }
            else
            {
                groups[g] = groups[g] with { Checkpoint = item.Checkpoint };
            }

            members[g].Add(item);
        }

        return (groups, members, recordCount);
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

    private sealed record WriteItem(string ComponentId, long Epoch, LogRecord? Record, CheckpointRecord? Checkpoint)
    {
        public TaskCompletionSource<AppendStatus> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
