using Middleware.Recovery.Log;

namespace Middleware.Recovery.Sqlite;

/// <summary>
/// One reader connection with its prepared statements. The pool hands it to one caller at a time. In WAL
/// mode it reads the last committed snapshot without waiting for the writer's commit.
/// </summary>
internal sealed partial class SqliteReader : IDisposable
{
    private readonly SqliteDb _db;
    private readonly SqliteStatement _begin;
    private readonly SqliteStatement _end;
    private readonly SqliteStatement _head;
    private readonly SqliteStatement _rowAt;
    private readonly SqliteStatement _walkStart;
    private readonly SqliteStatement _checkpoint;
    private readonly SqliteStatement _dedup;
    private readonly SqliteStatement _dedupList;
    private readonly SqliteStatement _requestIds;
    private readonly SqliteStatement _list;
    private readonly SqliteStatement _inDoubt;

    public SqliteReader(SqliteDb db)
    {
        _db = db;
        // A reader never writes; query_only turns a programming mistake into an error instead of a lock.
        db.Exec("PRAGMA query_only=ON");
        _begin = db.Prepare("BEGIN");
        _end = db.Prepare("COMMIT");
        // Readers look the cid up by id in each query (one unique-index probe) instead of caching it: reads are
        // not the hot path, and the lookup also tells apart a component that does not exist.
        _head = db.Prepare("SELECT h.epoch, c.owner, h.last_seq, h.last_pos, h.checkpoint_seq, c.cid FROM components c JOIN heads h ON h.cid = c.cid WHERE c.id = ?1");
        _rowAt = db.Prepare("SELECT seq, epoch, kind, prev_pos, committed_at, payload, cid FROM log WHERE pos = ?1");
        _walkStart = db.Prepare("SELECT seq, pos FROM checkpoints WHERE cid = ?1 AND seq >= ?2 AND pos > 0 ORDER BY seq LIMIT 1");
        _checkpoint = db.Prepare("SELECT seq, epoch, state, state_hash, created_at FROM checkpoints " +
                                 "WHERE cid = (SELECT cid FROM components WHERE id = ?1) AND seq <= ?2 ORDER BY seq DESC LIMIT 1");
        _dedup = db.Prepare("SELECT seq, args_hash, reply FROM dedup WHERE cid = (SELECT cid FROM components WHERE id = ?1) AND request_id = ?2");
        _dedupList = db.Prepare("SELECT request_id, seq, args_hash, reply FROM dedup WHERE cid = (SELECT cid FROM components WHERE id = ?1) ORDER BY request_id");
        _requestIds = db.Prepare("SELECT request_id FROM dedup WHERE cid = (SELECT cid FROM components WHERE id = ?1) LIMIT ?2");
        _list = db.Prepare("SELECT c.id, h.epoch, c.owner, h.last_seq, h.checkpoint_seq FROM components c JOIN heads h ON h.cid = c.cid");
        // The head points at the last record, so "its last record is a partial turn" is one row lookup per component.
        _inDoubt = db.Prepare("SELECT c.id, h.epoch, c.owner, h.last_seq, h.checkpoint_seq FROM heads h " +
                              "JOIN log l ON l.pos = h.last_pos AND l.cid = h.cid AND l.seq = h.last_seq JOIN components c ON c.cid = h.cid " +
                              "WHERE l.kind = " + (int)RecordKind.PartialTurn);
    }

    public ComponentHead? GetHead(string componentId)
    {
        try
        {
            return _head.Bind(1, componentId).Step()
                ? new ComponentHead(componentId, _head.Int64(0), _head.Text(1), _head.Int64(2), _head.Int64(4))
                : null;
        }
        finally
        {
            _head.Reset();
        }
    }

    /// <summary>
    /// Records fromSeq..toSeq in seq order, found by walking the component's prev_pos chain backwards. The
    /// walk starts at the head, or at the record of the nearest checkpoint at or above toSeq when there is one,
    /// so reading an old range does not pay for every newer record. One read transaction keeps the head and
    /// the rows from the same snapshot.
    /// </summary>
    public List<LogRecord> Read(string componentId, long fromSeq, long toSeq)
    {
        var records = new List<LogRecord>();
        _begin.Run();
        try
        {
            long lastSeq, lastPos, cid;
            try
            {
                if (!_head.Bind(1, componentId).Step()) return records;
                (lastSeq, lastPos, cid) = (_head.Int64(2), _head.Int64(3), _head.Int64(5));
            }
            finally
            {
                _head.Reset();
            }

            var upper = Math.Min(toSeq, lastSeq);
            if (fromSeq > upper || lastPos == 0) return records;
            if (upper < lastSeq && NearestCheckpointAbove(cid, upper) is { } start && start.Seq < lastSeq)
            {
                // A checkpoint whose record is gone (truncated) makes Walk read nothing; the head walk is then
                // still right, only slower.
                Walk(cid, start.Pos, start.Seq, fromSeq, upper, records);
                if (records.Count > 0 || start.Seq < fromSeq) return Reverse(records);
            }

            Walk(cid, lastPos, lastSeq, fromSeq, upper, records);
            return Reverse(records);
        }
        finally
        {
            _end.Run();
        }
    }

    public CheckpointRecord? GetCheckpoint(string componentId, long atOrBeforeSeq)
    {
        try
        {
            if (!_checkpoint.Bind(1, componentId).Bind(2, atOrBeforeSeq).Step()) return null;
            return new CheckpointRecord(_checkpoint.Int64(0), _checkpoint.Int64(1), _checkpoint.Blob(2), _checkpoint.Text(3) ?? "", _checkpoint.Int64(4));
        }
        finally
        {
            _checkpoint.Reset();
        }
    }

    public IReadOnlyList<DedupEntry> ListDedup(string componentId)
    {
        try
        {
            var entries = new List<DedupEntry>();
            _dedupList.Bind(1, componentId);
            while (_dedupList.Step()) entries.Add(new DedupEntry(_dedupList.Text(0) ?? "", _dedupList.Int64(1), _dedupList.Int64(2), _dedupList.Blob(3)));
            return entries;
        }
        finally
        {
            _dedupList.Reset();
        }
    }

    /// <summary>At most <paramref name="limit"/> + 1 request ids of the component's dedup entries (one more tells there are more).</summary>
    public List<string> ListRequestIds(string componentId, int limit)
    {
        try
        {
            var ids = new List<string>();
            _requestIds.Bind(1, componentId).Bind(2, (long)limit + 1);
            while (_requestIds.Step()) ids.Add(_requestIds.Text(0) ?? "");
            return ids;
        }
        finally
        {
            _requestIds.Reset();
        }
    }

    public DedupEntry? FindRequest(string componentId, string requestId)
    {
        try
        {
            if (!_dedup.Bind(1, componentId).Bind(2, requestId).Step()) return null;
            return new DedupEntry(requestId, _dedup.Int64(0), _dedup.Int64(1), _dedup.Blob(2));
        }
        finally
        {
            _dedup.Reset();
        }
    }

    /// <summary>Every component, ordered by id with the same ordinal comparison as the reference store.</summary>
    public List<ComponentHead> ListComponents() => Heads(_list);

    /// <summary>The components whose last record is a partial turn record, in id order.</summary>
    public List<ComponentHead> ListInDoubt() => Heads(_inDoubt);

    private static List<ComponentHead> Heads(SqliteStatement query)
    {
        var heads = new List<ComponentHead>();
        try
        {
            while (query.Step())
                heads.Add(new ComponentHead(query.Text(0) ?? "", query.Int64(1), query.Text(2), query.Int64(3), query.Int64(4)));
        }
        finally
        {
            query.Reset();
        }

        // SQLite orders text by UTF-8 bytes, which differs from .NET ordinal (UTF-16) order for some characters.
        heads.Sort((a, b) => string.CompareOrdinal(a.ComponentId, b.ComponentId));
        return heads;
    }

    private (long Seq, long Pos)? NearestCheckpointAbove(long cid, long seq)
    {
        try
        {
            return _walkStart.Bind(1, cid).Bind(2, seq).Step() ? (_walkStart.Int64(0), _walkStart.Int64(1)) : null;
        }
        finally
        {
            _walkStart.Reset();
        }
    }

    /// <summary>
    /// Follows prev_pos from the record at (<paramref name="pos"/>, <paramref name="seq"/>) down to
    /// <paramref name="fromSeq"/>, collecting records up to <paramref name="toSeq"/> in descending order. The
    /// chain ends at a missing row (truncated) or at a row that is not the expected record (a reused position).
    /// </summary>
    private void Walk(long cid, long pos, long seq, long fromSeq, long toSeq, List<LogRecord> into)
    {
        while (pos > 0 && seq >= fromSeq)
        {
            try
            {
                if (!_rowAt.Bind(1, pos).Step() || _rowAt.Int64(0) != seq || _rowAt.Int64(6) != cid) return;
                if (seq <= toSeq)
                    into.Add(new LogRecord(seq, _rowAt.Int64(1), (RecordKind)_rowAt.Int64(2), _rowAt.Blob(5), _rowAt.Int64(4)));
                pos = _rowAt.Int64(3);
            }
            finally
            {
                _rowAt.Reset();
            }

            seq--;
        }
    }

    private static List<LogRecord> Reverse(List<LogRecord> records)
    {
        records.Reverse();
        return records;
    }

    public void Dispose() => _db.Dispose();
}
