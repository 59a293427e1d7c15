using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;

namespace Middleware.Recovery.Sqlite;

/// <summary>An activation's load in one read transaction: the head, its latest checkpoint and the records after it.</summary>
internal sealed partial class SqliteReader
{
    private SqliteStatement? _checkpointOfCid;
    private SqliteStatement? _dedupOfCid;

    /// <summary>
    /// The head (one probe of the id index), the latest checkpoint at or before the head's last seq (one probe of the
    /// checkpoints key) and the records after it (the prev_pos walk from the head, one row lookup per record of the
    /// tail), all from one snapshot; with <paramref name="requestId"/>, also one probe of the dedup key for it
    /// (<see cref="ActivationRead.RequestNotRecorded"/>).
    /// </summary>
    public ActivationRead ReadForActivation(string componentId, string? requestId = null)
    {
        _checkpointOfCid ??= _db.Prepare("SELECT seq, epoch, state, state_hash, created_at FROM checkpoints WHERE cid = ?1 AND seq <= ?2 ORDER BY seq DESC LIMIT 1");
        _begin.Run();
        try
        {
            ComponentHead head;
            long lastPos, cid;
            try
            {
                if (!_head.Bind(1, componentId).Step()) return ActivationRead.None;
                head = new ComponentHead(componentId, _head.Int64(0), _head.Text(1), _head.Int64(2), _head.Int64(4));
                (lastPos, cid) = (_head.Int64(3), _head.Int64(5));
            }
            finally
            {
                _head.Reset();
            }

            var notRecorded = requestId is not null && !HasDedup(cid, requestId) ? requestId : null;
            if (head.LastSeq == 0) return new ActivationRead(head, null, []) { RequestNotRecorded = notRecorded };
            CheckpointRecord? checkpoint = null;
            try
            {
                if (_checkpointOfCid.Bind(1, cid).Bind(2, head.LastSeq).Step())
                    checkpoint = new CheckpointRecord(_checkpointOfCid.Int64(0), _checkpointOfCid.Int64(1), _checkpointOfCid.Blob(2), _checkpointOfCid.Text(3) ?? "", _checkpointOfCid.Int64(4));
            }
            finally
            {
                _checkpointOfCid.Reset();
            }

            var from = (checkpoint?.Seq ?? 0) + 1;
            var tail = new List<LogRecord>();
            if (from <= head.LastSeq && lastPos != 0) Walk(cid, lastPos, head.LastSeq, from, head.LastSeq, tail);
            tail.Reverse();
            return new ActivationRead(head, checkpoint, tail) { RequestNotRecorded = notRecorded };
        }
        finally
        {
            _end.Run();
        }
    }

    /// <summary>Whether the dedup table holds <paramref name="requestId"/> for the component (one probe of its primary key).</summary>
    private bool HasDedup(long cid, string requestId)
    {
        _dedupOfCid ??= _db.Prepare("SELECT 1 FROM dedup WHERE cid = ?1 AND request_id = ?2");
        try
        {
            return _dedupOfCid.Bind(1, cid).Bind(2, requestId).Step();
        }
        finally
        {
            _dedupOfCid.Reset();
        }
    }
}
