using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;

namespace Middleware.Recovery.Sqlite;

/// <summary>
/// The batch path of <see cref="Append"/>: the records of every group in a few multi-row INSERTs instead of one INSERT
/// per record, then the same fence UPDATE per group. It writes exactly the rows the per-group path writes (same positions,
/// prev_pos, columns and bytes), and runs only when every group of the batch is the common shape: a known component, no
/// other group of the same component, consecutive seqs, no checkpoint. When a fence refuses a group the whole transaction
/// is rolled back and the per-group path runs instead, which decides and reports every group as before.
/// </summary>
internal sealed partial class SqliteWriter
{
    /// <summary>The most rows one INSERT statement carries (7 parameters a row, plus the shared committed_at).</summary>
    internal const int MaxRowsPerInsert = 32;

    // _insertRows[n]: the INSERT of n rows, prepared on first use and kept for the connection's life.
    private readonly SqliteStatement?[] _insertRows = new SqliteStatement?[MaxRowsPerInsert + 1];
    private SqliteStatement? _maxPos;
    // Reused under _gate: the cids of the batch's groups, and the component ids seen (one group per component).
    private readonly List<long> _batchCids = [];
    private readonly HashSet<long> _batchSeen = [];
    private long _batchesInserted;
    private long _batchesRefused;

    /// <summary>Appends that took the batch path and committed, and those a fence sent back to the per-group path (tests).</summary>
    internal (long Inserted, long Refused) BatchPath => (Interlocked.Read(ref _batchesInserted), Interlocked.Read(ref _batchesRefused));

    /// <summary>
    /// The append of <see cref="Append"/> without waiting claims: the batch path when the groups allow it, else (or when a
    /// fence refused a group there, after rolling that transaction back) the per-group path.
    /// </summary>
    private AppendStatus[] AppendBatchOrGroups(IReadOnlyList<AppendGroup> groups, long nowTicks) =>
        InTransactionUnlessNull(() => CanInsertAsBatch(groups) ? InsertAsBatch(groups, nowTicks) : AppendAll(groups, nowTicks))
        ?? InTransaction(() => AppendAll(groups, nowTicks));

    /// <summary>As <see cref="InTransaction{T}"/>, but a null result rolls the transaction back instead of committing it.</summary>
    private T? InTransactionUnlessNull<T>(Func<T?> work) where T : class
    {
        lock (_gate)
        {
            BeginImmediate();
            try
            {
                var result = work();
                if (result is null) _db.Exec("ROLLBACK");
                else _commit.Run();
                return result;
            }
            catch (Exception original)
            {
                if (!_db.InAutocommit) RollBack(original);
                throw;
            }
        }
    }

    /// <summary>
    /// True when <paramref name="groups"/> can take the batch path: each has a cached or stored cid (read inside the
    /// current transaction), self-consistent records, no checkpoint and no claim, and no two groups share a component.
    /// Fills <see cref="_batchCids"/>.
    /// </summary>
    private bool CanInsertAsBatch(IReadOnlyList<AppendGroup> groups)
    {
        _batchCids.Clear();
        _batchSeen.Clear();
        if (groups.Count < 2) return false; // a lone group gains nothing
        foreach (var group in groups)
        {
            if (group.Checkpoint is not null || group.Claim is not null || !AppendRules.IsSelfConsistent(group)) return false;
            if (CidOf(group.ComponentId) is not { } cid || !_batchSeen.Add(cid)) return false;
            _batchCids.Add(cid);
        }

        return true;
    }

    /// <summary>
    /// Inserts every group's records with explicit positions (the next after the largest stored one, in batch order, as
    /// SQLite itself assigns them), then runs each group's fence UPDATE. Null when a fence refused a group: the caller
    /// rolls the transaction back and takes the per-group path.
    /// </summary>
    private AppendStatus[]? InsertAsBatch(IReadOnlyList<AppendGroup> groups, long nowTicks)
    {
        var maxPos = MaxPos();
        var rows = 0;
        foreach (var group in groups) rows += group.Records.Count;

        // The rows, in batch order, in statements of at most MaxRowsPerInsert rows.
        var pos = maxPos;
        var g = 0;
        var r = 0;
        while (rows > 0)
        {
            var n = Math.Min(rows, MaxRowsPerInsert);
            var insert = InsertOf(n);
            insert.Bind(1, nowTicks);
            for (var k = 0; k < n; k++)
            {
                while (r == groups[g].Records.Count)
                {
                    g++;
                    r = 0;
                }

                var record = groups[g].Records[r];
                var b = 1 + 7 * k;
                pos++;
                insert.Bind(b + 1, pos).Bind(b + 2, _batchCids[g]).Bind(b + 3, record.Seq).Bind(b + 4, record.Epoch)
                    .Bind(b + 5, (long)record.Kind).Bind(b + 7, record.Payload.Span);
                // The group's first record chains to the stored head (read in the INSERT, before any fence below changes
                // it); the others to the row before them.
                if (r == 0) insert.BindNull(b + 6);
                else insert.Bind(b + 6, pos - 1);
                r++;
            }

            insert.Run();
            rows -= n;
        }

        var result = new AppendStatus[groups.Count];
        pos = maxPos;
        for (var i = 0; i < groups.Count; i++)
        {
            var records = groups[i].Records;
            pos += records.Count;
            _fence.Bind(1, records[^1].Seq).Bind(2, pos).Bind(3, 0)
                .Bind(4, _batchCids[i]).Bind(5, groups[i].Epoch).Bind(6, records[0].Seq - 1).Run();
            if (_db.Changes() != 1)
            {
                _batchesRefused++;
                return null;
            }

            result[i] = AppendStatus.Ok;
        }

        _batchesInserted++;
        return result;
    }

    private long MaxPos()
    {
        var statement = _maxPos ??= _db.Prepare("SELECT coalesce(max(pos), 0) FROM log");
        try
        {
            return statement.Step() ? statement.Int64(0) : 0;
        }
        finally
        {
            statement.Reset();
        }
    }

    private SqliteStatement InsertOf(int rows)
    {
        if (_insertRows[rows] is { } prepared) return prepared;
        var sql = new System.Text.StringBuilder("INSERT INTO log(pos, cid, seq, epoch, kind, prev_pos, committed_at, payload) VALUES ");
        for (var k = 0; k < rows; k++)
        {
            var b = 1 + 7 * k;
            if (k > 0) sql.Append(", ");
            sql.Append(System.Globalization.CultureInfo.InvariantCulture,
                $"(?{b + 1}, ?{b + 2}, ?{b + 3}, ?{b + 4}, ?{b + 5}, coalesce(?{b + 6}, (SELECT last_pos FROM heads WHERE cid = ?{b + 2}), 0), ?1, ?{b + 7})");
        }

        return _insertRows[rows] = _db.Prepare(sql.ToString());
    }
}
