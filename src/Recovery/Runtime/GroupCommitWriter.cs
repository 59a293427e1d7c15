using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;

namespace Middleware.Recovery.Runtime;

/// <summary>
/// Collects records of many components and writes them to the store in as few transactions as possible.
/// While one batch commits, the next one fills up, so throughput grows with load while a lone turn still
/// commits at once. Each record's task completes only when its batch is durable, in enqueue order.
/// </summary>
internal sealed class GroupCommitWriter : IAsyncDisposable
{
    private readonly ILogStore _store;
    private readonly int _maxBatch;
    private readonly object _gate = new();
    private readonly ManualResetEventSlim _signal = new(false);
    private readonly Thread _thread;
    private List<WriteItem> _pending = [];
    private bool _stopping;
    private long _batches;
    private long _records;

    public GroupCommitWriter(ILogStore store, int maxBatch)
    {
        _store = store;
        _maxBatch = maxBatch;
        _thread = new Thread(Run) { IsBackground = true, Name = "group-commit" };
        _thread.Start();
    }

    /// <summary>Store transactions committed so far.</summary>
    public long Batches => Interlocked.Read(ref _batches);

    /// <summary>Records written so far.</summary>
    public long Records => Interlocked.Read(ref _records);

    /// <summary>Queues a turn record; the task completes with the store's verdict once it is durable.</summary>
    public Task<AppendStatus> Enqueue(string componentId, long epoch, LogRecord record) => Enqueue(new WriteItem(componentId, epoch, record, null));

    /// <summary>Queues a checkpoint, ordered after every record queued before it.</summary>
    public Task<AppendStatus> Enqueue(string componentId, long epoch, CheckpointRecord checkpoint) => Enqueue(new WriteItem(componentId, epoch, null, checkpoint));

    private Task<AppendStatus> Enqueue(WriteItem item)
    {
        lock (_gate)
        {
            if (_stopping) throw new ObjectDisposedException(nameof(GroupCommitWriter), "The runtime is shutting down; the request was not started.");
            _pending.Add(item);
            if (_pending.Count == 1) _signal.Set();
        }

        return item.Done.Task;
    }

    private void Run()
    {
        var spare = new List<WriteItem>();
        while (true)
        {
            _signal.Wait();
            List<WriteItem> work;
            lock (_gate)
            {
                work = _pending;
                _pending = spare;
                if (work.Count == 0 && _stopping) return;
                if (!_stopping) _signal.Reset();
            }

            for (var i = 0; i < work.Count; i += _maxBatch)
            {
                Commit(work, i, Math.Min(_maxBatch, work.Count - i));
            }

            work.Clear();
            spare = work;
        }
    }

    private void Commit(List<WriteItem> work, int start, int count)
    {
        var groups = new List<AppendGroup>();
        var members = new List<List<WriteItem>>();
        var open = new Dictionary<(string, long), int>();
        var recordCount = 0;
        for (var i = start; i < start + count; i++)
        {
            var item = work[i];
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

        IReadOnlyList<AppendStatus> statuses;
        try
        {
            statuses = _store.AppendAsync(groups).GetAwaiter().GetResult();
        }
        catch (Exception e)
        {
            foreach (var list in members)
            {
                foreach (var item in list) item.Done.TrySetException(e);
            }

            return;
        }

        Interlocked.Increment(ref _batches);
        Interlocked.Add(ref _records, recordCount);
        for (var g = 0; g < members.Count; g++)
        {
            foreach (var item in members[g]) item.Done.TrySetResult(statuses[g]);
        }
    }

    /// <summary>Writes what is queued, then stops the writer thread.</summary>
    public ValueTask DisposeAsync()
    {
        lock (_gate)
        {
            _stopping = true;
            _signal.Set();
        }

        _thread.Join();
        return ValueTask.CompletedTask;
    }

    private sealed record WriteItem(string ComponentId, long Epoch, LogRecord? Record, CheckpointRecord? Checkpoint)
    {
        public TaskCompletionSource<AppendStatus> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
