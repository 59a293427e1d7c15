using SQLitePCL;
using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;

namespace Middleware.Recovery.Sqlite;

/// <summary>
/// The single writer connection with its prepared statements. Every write (append, claim, truncation) runs
/// under <see cref="_gate"/> in one BEGIN IMMEDIATE transaction, so SQLite's write lock is taken up front and
/// the fence checks read the latest committed state, also when another process writes the same file.
/// </summary>
internal sealed partial class SqliteWriter : IDisposable
{
    private readonly Lock _gate = new();
    private readonly SqliteDb _db;
    private readonly SqliteStatement _begin;
    private readonly SqliteStatement _commit;
    private readonly SqliteStatement _cidOf;
    private readonly SqliteStatement _head;
    private readonly SqliteStatement _rowAt;
    private readonly SqliteStatement _deleteAt;
    private readonly SqliteStatement _newComponent;
    private readonly SqliteStatement _newHead;
    private readonly SqliteStatement _claimNext;
    private readonly SqliteStatement _setOwner;
    private readonly SqliteStatement _firstCheckpointFrom;
    private readonly SqliteStatement _clearLastPos;

    /// <summary>
    /// Component id to cid, filled on first use. A cid never changes and is never reused (components rows are
    /// never deleted), so an entry stays valid even when another process writes the file; only cids of
    /// committed rows go in. Guarded by <see cref="_gate"/>. Bounded in two generations of <see cref="MaxCachedCids"/>
    /// ids each: when the current one is full it becomes the previous one (the one before is dropped), and a hit in the
    /// previous one moves the id back to the current one. So an id stays cached for <see cref="MaxCachedCids"/> to twice
    /// that many insertions after its last use (a single cache cleared when full kept it for 0 to that many: past a silo's
    /// activation limit, where every cold activation inserts about two ids, the checkpoint of a deactivation no longer
    /// found the id its claim had cached), and a store that saw a million components does not keep a million ids in
    /// memory. A miss costs one probe of the id index inside the write transaction.
    /// </summary>
    private Dictionary<string, long> _cids = new(StringComparer.Ordinal);

    /// <summary>The previous generation of <see cref="_cids"/>.</summary>
    private Dictionary<string, long> _olderCids = new(StringComparer.Ordinal);

    /// <summary>The most component ids one generation of <see cref="_cids"/> holds.</summary>
    internal const int MaxCachedCids = 131_072;
    private readonly TimeSpan _busyTimeout;

    /// <summary>
    /// Run after a claim transaction of <see cref="DrainClaims"/> committed and before its claims are answered: the
    /// overlapped WAL sync's <see cref="WalSync.SyncNow"/> (null with synchronous=FULL, where the commit itself synced).
    /// </summary>
    internal Action? AfterCommit { get; set; }

    public SqliteWriter(SqliteDb db, TimeSpan busyTimeout)
    {
        _db = db;
        _busyTimeout = busyTimeout;
        // The write lock is waited for in BeginImmediate instead: SQLite's own busy handler sleeps 1, 2, 5, 10 ... 100 ms
        // between tries, which with several silo processes on one file turned every lock hand-off into a long stall.
        db.SetBusyTimeout(TimeSpan.Zero);
        _begin = db.Prepare("BEGIN IMMEDIATE");
        _commit = db.Prepare("COMMIT");
        _cidOf = db.Prepare("SELECT cid FROM components WHERE id = ?1");
        _head = db.Prepare("SELECT epoch, last_seq, last_pos, checkpoint_seq FROM heads WHERE cid = ?1");
        _rowAt = db.Prepare("SELECT seq, prev_pos, cid FROM log WHERE pos = ?1");
        _deleteAt = db.Prepare("DELETE FROM log WHERE pos = ?1");
        _newComponent = db.Prepare("INSERT INTO components(id, owner, claimed_at) VALUES (?1, ?2, ?3)");
        _newHead = db.Prepare("INSERT INTO heads(cid, epoch, last_seq, last_pos, checkpoint_seq) VALUES (?1, 1, 0, 0, 0)");
        _claimNext = db.Prepare("UPDATE heads SET epoch = epoch + 1 WHERE cid = ?1 AND epoch = ?2");
        // Only when the owner changes: a claim by the same owner (a component deactivated past the activation limit and
        // activated again by the same silo) then dirties no page of the components table, only its heads row. claimed_at
        // is thus when the current owner first claimed it since another owner had it (nothing in the middleware reads it).
        _setOwner = db.Prepare("UPDATE components SET owner = ?2, claimed_at = ?3 WHERE cid = ?1 AND owner IS NOT ?2");
        _firstCheckpointFrom = db.Prepare("SELECT seq, pos FROM checkpoints WHERE cid = ?1 AND seq >= ?2 ORDER BY seq LIMIT 1");
        _clearLastPos = db.Prepare("UPDATE heads SET last_pos = 0 WHERE cid = ?1");
        (_insertFirst, _insertNext, _fence, _undoFrom, _insertCheckpoint, _insertDedup) = PrepareAppend(db);
    }

    /// <summary>
    /// Deletes the component's records with seq &lt; <paramref name="beforeSeq"/> by walking its chain; refused
    /// without a checkpoint at seq &gt;= beforeSeq - 1 so the latest checkpoint and what follows it stay.
    /// </summary>
    public long Truncate(string componentId, long beforeSeq) =>
        InTransaction(() =>
        {
            if (CidOf(componentId) is not { } cid || ReadHead(cid) is not { } head) return 0L;
            (long Seq, long Pos)? checkpoint = null;
            try
            {
                if (_firstCheckpointFrom.Bind(1, cid).Bind(2, beforeSeq - 1).Step())
                    checkpoint = (_firstCheckpointFrom.Int64(0), _firstCheckpointFrom.Int64(1));
            }
            finally
            {
                _firstCheckpointFrom.Reset();
            }

            if (checkpoint is null)
                throw new StoreContractException($"Cannot truncate {componentId} before seq {beforeSeq}: no checkpoint at seq {beforeSeq - 1} or later. Write a checkpoint first.");

            // Start at the checkpoint's record when it is still there: it is at most one step above the cut,
            // whereas the head may be far away.
            var (pos, seq) = checkpoint.Value.Pos > 0 && RowMatches(cid, checkpoint.Value.Pos, checkpoint.Value.Seq)
                ? (checkpoint.Value.Pos, checkpoint.Value.Seq)
                : (head.LastPos, head.LastSeq);
            long deleted = 0;
            var headDeleted = false;
            while (pos > 0 && NextInChain(cid, pos, seq) is { } prevPos)
            {
                if (seq < beforeSeq)
                {
                    _deleteAt.Bind(1, pos).Run();
                    deleted++;
                    headDeleted |= pos == head.LastPos;
                }

                pos = prevPos;
                seq--;
            }

            // A deleted head position can be handed out again by SQLite (it reuses max(rowid) + 1), so the
            // component must not keep pointing at it; its next record then starts a new chain.
            if (headDeleted) _clearLastPos.Bind(1, cid).Run();
            return deleted;
        });

    /// <summary>
    /// The component's cid, from the cache or (inside the current transaction) from the file; null when the
    /// component was never claimed. A cid read here belongs to a committed row, so it is cached at once.
    /// </summary>
    private void RememberCid(string componentId, long cid)
    {
        if (_cids.Count >= MaxCachedCids && !_cids.ContainsKey(componentId))
        {
            // The generation before the previous one goes; its dictionary is reused, so its table is not allocated again.
            (_olderCids, _cids) = (_cids, _olderCids);
            _cids.Clear();
        }

        _cids[componentId] = cid;
    }

    private long? CidOf(string componentId)
    {
        if (_cids.TryGetValue(componentId, out var cached)) return cached;
        if (_olderCids.Remove(componentId, out cached))
        {
            RememberCid(componentId, cached);
            return cached;
        }

        try
        {
            if (!_cidOf.Bind(1, componentId).Step()) return null;
            var cid = _cidOf.Int64(0);
            RememberCid(componentId, cid);
            return cid;
        }
        finally
        {
            _cidOf.Reset();
        }
    }

    /// <summary>The stored head row, read inside the current transaction.</summary>
    private StoredHead? ReadHead(long cid)
    {
        try
        {
            if (!_head.Bind(1, cid).Step()) return null;
            return new StoredHead(_head.Int64(0), _head.Int64(1), _head.Int64(2), _head.Int64(3));
        }
        finally
        {
            _head.Reset();
        }
    }

    /// <summary>
    /// The prev_pos of the row at <paramref name="pos"/> when that row is the component's record at
    /// <paramref name="seq"/>; null when the chain ends there (row truncated, or its position reused).
    /// </summary>
    private long? NextInChain(long cid, long pos, long seq)
    {
        try
        {
            if (!_rowAt.Bind(1, pos).Step()) return null;
            return _rowAt.Int64(0) == seq && _rowAt.Int64(2) == cid ? _rowAt.Int64(1) : null;
        }
        finally
        {
            _rowAt.Reset();
        }
    }

    private bool RowMatches(long cid, long pos, long seq) => NextInChain(cid, pos, seq) is not null;

    /// <summary>Finds the pos of the component's record at <paramref name="targetSeq"/>, walking down from a known record; 0 when gone.</summary>
    private long FindPos(long cid, long pos, long seq, long targetSeq)
    {
        while (pos > 0 && seq >= targetSeq)
        {
            if (NextInChain(cid, pos, seq) is not { } prevPos) return 0;
            if (seq == targetSeq) return pos;
            pos = prevPos;
            seq--;
        }

        return 0;
    }

    /// <summary>
    /// Runs <paramref name="work"/> in one BEGIN IMMEDIATE transaction under the writer lock. Any failure rolls
    /// back; a failed COMMIT is reported as a failure because the caller cannot know whether it happened.
    /// </summary>
    private T InTransaction<T>(Func<T> work)
    {
        lock (_gate)
        {
            BeginImmediate();
            try
            {
                var result = work();
                _commit.Run();
                return result;
            }
            catch (Exception original)
            {
                // After some errors (for example SQLITE_FULL or an I/O error) SQLite has already rolled back.
                if (!_db.InAutocommit) RollBack(original);
                throw;
            }
        }
    }

    /// <summary>
    /// BEGIN IMMEDIATE, retried while another process holds the write lock: a few yields, then 1 ms naps, until the
    /// store's busy timeout (then the SQLITE_BUSY error stands, and the store reports it naming the setting).
    /// </summary>
    private void BeginImmediate()
    {
        long started = 0;
        for (var tries = 0; ; tries++)
        {
            try
            {
                _begin.Run();
                if (started != 0 && SqliteLockTrace.On) SqliteLockTrace.Waited(started, tries);
                return;
            }
            catch (SqliteCallException e) when ((e.ResultCode & 0xff) == raw.SQLITE_BUSY)
            {
                if (started == 0) started = System.Diagnostics.Stopwatch.GetTimestamp();
                else if (System.Diagnostics.Stopwatch.GetElapsedTime(started) > _busyTimeout) throw;
                if (tries < 3) Thread.Yield();
                else Thread.Sleep(1);
            }
        }
    }

    private void RollBack(Exception original)
    {
        try
        {
            _db.Exec("ROLLBACK");
        }
        catch (SqliteCallException failed)
        {
            // Both errors matter: the first says why, the second that this connection may be unusable.
            throw new SqliteCallException(failed.ResultCode, $"{original.Message}; the rollback then failed too: {failed.Message}");
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _db.Dispose();
        }
    }

    /// <summary>The heads row as stored.</summary>
    private readonly record struct StoredHead(long Epoch, long LastSeq, long LastPos, long CheckpointSeq);
}
