using System.Data;
using Microsoft.Data.SqlClient;
using Microsoft.Data.SqlClient.Server;
using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;

namespace Middleware.Recovery.SqlServer;

/// <summary>
/// One append call = one transaction on its own pooled connection: lock the components' rows
/// <c>WITH (UPDLOCK, HOLDLOCK, ROWLOCK)</c> and read their heads, decide in code (<see cref="AppendPlan"/>),
/// then write every table with one set-based statement over a table-valued parameter, and commit. The locks
/// hold to the commit, so the fence checked on them holds when the rows are written, also against another
/// process. Calls share nothing but the connection pool, so several may run at once.
/// </summary>
internal static class SqlServerAppend
{
    private const string LockHeads =
        "SELECT c.id, c.epoch, c.last_seq, c.checkpoint_seq FROM dbo.components AS c WITH (UPDLOCK, HOLDLOCK, ROWLOCK) " +
        "INNER JOIN @ids AS i ON i.id = c.id ORDER BY c.id";

    // One commit time for the whole call, from the server's clock, as UTC.
    private const string Writes =
        "DECLARE @now datetime2(7) = SYSUTCDATETIME();\n" +
        "IF @has_log = 1 INSERT INTO dbo.log(component, seq, epoch, kind, committed_at, payload) SELECT component, seq, epoch, kind, @now, payload FROM @log;\n" +
        "UPDATE c SET last_seq = h.last_seq, checkpoint_seq = h.checkpoint_seq, updated_at = @now FROM dbo.components AS c INNER JOIN @heads AS h ON h.id = c.id;\n" +
        "IF @has_checkpoints = 1 BEGIN\n" +
        "  DELETE c FROM dbo.checkpoints AS c INNER JOIN @checkpoints AS n ON n.component = c.component AND n.seq = c.seq;\n" +
        "  INSERT INTO dbo.checkpoints(component, seq, epoch, state, state_hash, created_at) SELECT component, seq, epoch, state, state_hash, @now FROM @checkpoints;\n" +
        "END;\n" +
        "IF @has_dedup = 1 BEGIN\n" +
        "  DELETE d FROM dbo.dedup AS d WITH (UPDLOCK, HOLDLOCK) INNER JOIN @dedup AS n ON n.component = d.component AND n.request_id = d.request_id;\n" +
        "  INSERT INTO dbo.dedup(component, request_id, seq, args_hash, reply, created_at) SELECT component, request_id, seq, args_hash, reply, @now FROM @dedup;\n" +
        "END;";

    private static readonly SqlMetaData IdColumn = new("id", SqlDbType.NVarChar, 400);
    private static readonly SqlMetaData[] LogColumns =
    [
        new("component", SqlDbType.NVarChar, 400), new("seq", SqlDbType.BigInt), new("epoch", SqlDbType.BigInt),
        new("kind", SqlDbType.SmallInt), new("payload", SqlDbType.VarBinary, SqlMetaData.Max),
    ];

    private static readonly SqlMetaData[] HeadColumns = [new("id", SqlDbType.NVarChar, 400), new("last_seq", SqlDbType.BigInt), new("checkpoint_seq", SqlDbType.BigInt)];

    private static readonly SqlMetaData[] CheckpointColumns =
    [
        new("component", SqlDbType.NVarChar, 400), new("seq", SqlDbType.BigInt), new("epoch", SqlDbType.BigInt),
        new("state", SqlDbType.VarBinary, SqlMetaData.Max), new("state_hash", SqlDbType.NVarChar, 200),
    ];

    private static readonly SqlMetaData[] DedupColumns =
    [
        new("component", SqlDbType.NVarChar, 400), new("request_id", SqlDbType.NVarChar, 400), new("seq", SqlDbType.BigInt),
        new("args_hash", SqlDbType.BigInt), new("reply", SqlDbType.VarBinary, SqlMetaData.Max),
    ];

    /// <summary>Runs the append. Any failure rolls back; a failed commit is uncertain and is rethrown as a failure.</summary>
    public static async Task<AppendStatus[]> RunAsync(string connectionString, IReadOnlyList<AppendGroup> groups, CancellationToken cancellationToken)
    {
        if (groups.Count == 0) return [];
        await using var connection = new SqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = (SqlTransaction)await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken).ConfigureAwait(false);
        var heads = new Dictionary<string, StoredHead>(StringComparer.Ordinal);
        await using (var select = new SqlCommand(LockHeads, connection, transaction))
        {
            select.Parameters.Add(Table("@ids", "dbo.mw_ids", AppendPlan.ComponentIds(groups).Select(id => Record([IdColumn], id))));
            await using var reader = await select.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                heads[reader.GetString(0)] = new StoredHead(reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3));
        }

        var plan = AppendPlan.Make(groups, heads);
        if (plan.Heads.Count > 0)
        {
            await using var write = new SqlCommand(Writes, connection, transaction);
            write.Parameters.Add(Flag("@has_log", plan.Records.Count > 0));
            write.Parameters.Add(Flag("@has_checkpoints", plan.Checkpoints.Count > 0));
            write.Parameters.Add(Flag("@has_dedup", plan.Dedup.Count > 0));
            write.Parameters.Add(Table("@log", "dbo.mw_log_rows",
                plan.Records.Select(r => Record(LogColumns, r.ComponentId, r.Record.Seq, r.Record.Epoch, (short)r.Record.Kind, AppendPlan.ToArray(r.Record.Payload)))));
            write.Parameters.Add(Table("@heads", "dbo.mw_heads", plan.Heads.Select(h => Record(HeadColumns, h.ComponentId, h.LastSeq, h.CheckpointSeq))));
            write.Parameters.Add(Table("@checkpoints", "dbo.mw_checkpoints",
                plan.Checkpoints.Select(c => Record(CheckpointColumns, c.ComponentId, c.Checkpoint.Seq, c.Checkpoint.Epoch, AppendPlan.ToArray(c.Checkpoint.State), c.Checkpoint.StateHash))));
            write.Parameters.Add(Table("@dedup", "dbo.mw_dedup",
                plan.Dedup.Select(d => Record(DedupColumns, d.ComponentId, d.Entry.RequestId, d.Entry.Seq, d.Entry.ArgsHash, AppendPlan.ToArray(d.Entry.Reply)))));
            await write.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        // Disposing an uncommitted SqlTransaction rolls it back, which covers every exception above.
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return plan.Statuses;
    }

    /// <summary>
    /// A table-valued parameter. SqlClient refuses an empty record sequence, so an empty table is sent as null
    /// (which the server reads as an empty table); the statements also skip empty ones by flag.
    /// </summary>
    private static SqlParameter Table(string name, string typeName, IEnumerable<SqlDataRecord> records)
    {
        var list = records.ToList();
        return new SqlParameter(name, SqlDbType.Structured) { TypeName = typeName, Value = list.Count == 0 ? null : list };
    }

    private static SqlParameter Flag(string name, bool value) => new(name, SqlDbType.Bit) { Value = value };

    private static SqlDataRecord Record(SqlMetaData[] columns, params object[] values)
    {
        var record = new SqlDataRecord(columns);
        record.SetValues(values);
        return record;
    }
}
