using System.Data;
using Microsoft.Data.SqlClient;
using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;

namespace Middleware.Recovery.SqlServer;

/// <summary>Claims, reads, truncation and the listing in T-SQL, each one command (and one round trip) on a pooled connection.</summary>
internal static class SqlServerQueries
{
    private const string Head = "SELECT epoch, owner, last_seq, checkpoint_seq FROM dbo.components WHERE id = @id";

    // UPDLOCK + HOLDLOCK take a key-range update lock even when the row is missing, so two first claims of one
    // id serialize: the second finds the row the first inserted, at epoch 1, and gets nothing back.
    private const string ClaimNew =
        "SET XACT_ABORT ON; BEGIN TRANSACTION;\n" +
        "IF NOT EXISTS (SELECT 1 FROM dbo.components WITH (UPDLOCK, HOLDLOCK) WHERE id = @id)\n" +
        "  INSERT INTO dbo.components(id, epoch, owner, last_seq, checkpoint_seq, updated_at)\n" +
        "  OUTPUT inserted.epoch, inserted.owner, inserted.last_seq, inserted.checkpoint_seq VALUES (@id, 1, @owner, 0, 0, SYSUTCDATETIME());\n" +
        "ELSE\n" +
        "  UPDATE dbo.components SET epoch = 1, owner = @owner, updated_at = SYSUTCDATETIME()\n" +
        "  OUTPUT inserted.epoch, inserted.owner, inserted.last_seq, inserted.checkpoint_seq WHERE id = @id AND epoch = 0;\n" +
        "COMMIT TRANSACTION;";

    private const string ClaimNext =
        "UPDATE dbo.components SET epoch = epoch + 1, owner = @owner, updated_at = SYSUTCDATETIME() " +
        "OUTPUT inserted.epoch, inserted.owner, inserted.last_seq, inserted.checkpoint_seq WHERE id = @id AND epoch = @expected";

    private const string Read =
        "SELECT seq, epoch, kind, committed_at, payload FROM dbo.log WHERE component = @id AND seq >= @from AND seq <= @to ORDER BY seq";

    private const string Checkpoint =
        "SELECT TOP (1) seq, epoch, state, state_hash, created_at FROM dbo.checkpoints WHERE component = @id AND seq <= @seq ORDER BY seq DESC";

    private const string Dedup = "SELECT seq, args_hash, reply FROM dbo.dedup WHERE component = @id AND request_id = @request";

    private const string DedupList = "SELECT request_id, seq, args_hash, reply FROM dbo.dedup WHERE component = @id ORDER BY request_id COLLATE Latin1_General_BIN2";

    // The checkpoint check holds a shared range lock (HOLDLOCK) until the delete is done, in one transaction.
    private const string Truncate =
        "SET XACT_ABORT ON; BEGIN TRANSACTION;\n" +
        "DECLARE @known bit = CASE WHEN EXISTS (SELECT 1 FROM dbo.components WHERE id = @id) THEN 1 ELSE 0 END;\n" +
        "DECLARE @has_checkpoint bit = CASE WHEN EXISTS (SELECT 1 FROM dbo.checkpoints WITH (HOLDLOCK) WHERE component = @id AND seq >= @before - 1) THEN 1 ELSE 0 END;\n" +
        "DECLARE @deleted bigint = 0;\n" +
        "IF @known = 1 AND @has_checkpoint = 1 BEGIN DELETE FROM dbo.log WHERE component = @id AND seq < @before; SET @deleted = ROWCOUNT_BIG(); END;\n" +
        "COMMIT TRANSACTION;\n" +
        "SELECT @known, @has_checkpoint, @deleted;";

    private const string List = "SELECT id, epoch, owner, last_seq, checkpoint_seq FROM dbo.components";

    private const string InDoubt = "SELECT c.id, c.epoch, c.owner, c.last_seq, c.checkpoint_seq FROM dbo.components c " +
                                   "JOIN dbo.log l ON l.component = c.id AND l.seq = c.last_seq WHERE l.kind = 2";

    public static Task<ComponentHead?> GetHeadAsync(string cs, string componentId, CancellationToken ct) =>
        QueryAsync(cs, Head, [Id(componentId)], r => HeadOf(r, componentId), ct);

    public static Task<ComponentHead?> ClaimAsync(string cs, string componentId, long expectedEpoch, string owner, CancellationToken ct) =>
        expectedEpoch == 0
            ? QueryAsync(cs, ClaimNew, [Id(componentId), Text("@owner", owner)], r => HeadOf(r, componentId), ct)
            : QueryAsync(cs, ClaimNext, [Id(componentId), Text("@owner", owner), Long("@expected", expectedEpoch)], r => HeadOf(r, componentId), ct);

    public static async Task<IReadOnlyList<LogRecord>> ReadAsync(string cs, string componentId, long fromSeq, long toSeq, CancellationToken ct)
    {
        if (fromSeq > toSeq) return [];
        return await ListAsync(cs, Read, [Id(componentId), Long("@from", fromSeq), Long("@to", toSeq)],
            r => new LogRecord(r.GetInt64(0), r.GetInt64(1), (RecordKind)r.GetInt16(2), r.GetFieldValue<byte[]>(4), r.GetDateTime(3).Ticks), ct).ConfigureAwait(false);
    }

    public static Task<CheckpointRecord?> GetCheckpointAsync(string cs, string componentId, long atOrBeforeSeq, CancellationToken ct) =>
        QueryAsync(cs, Checkpoint, [Id(componentId), Long("@seq", atOrBeforeSeq)],
            r => new CheckpointRecord(r.GetInt64(0), r.GetInt64(1), r.GetFieldValue<byte[]>(2), r.GetString(3), r.GetDateTime(4).Ticks), ct);

    public static Task<DedupEntry?> FindRequestAsync(string cs, string componentId, string requestId, CancellationToken ct) =>
        QueryAsync(cs, Dedup, [Id(componentId), Text("@request", requestId)],
            r => new DedupEntry(requestId, r.GetInt64(0), r.GetInt64(1), r.GetFieldValue<byte[]>(2)), ct);

    public static async Task<IReadOnlyList<DedupEntry>> ListDedupAsync(string cs, string componentId, CancellationToken ct) =>
        await ListAsync(cs, DedupList, [Id(componentId)], r => new DedupEntry(r.GetString(0), r.GetInt64(1), r.GetInt64(2), r.GetFieldValue<byte[]>(3)), ct).ConfigureAwait(false);

    public static async Task<long> TruncateAsync(string cs, string componentId, long beforeSeq, CancellationToken ct)
    {
        var result = await QueryAsync(cs, Truncate, [Id(componentId), Long("@before", beforeSeq)],
            r => new TruncateResult(r.GetBoolean(0), r.GetBoolean(1), r.GetInt64(2)), ct).ConfigureAwait(false)
            ?? throw new InvalidOperationException("The truncation batch returned no row.");
        if (!result.Known) return 0;
        if (!result.HasCheckpoint)
            throw new StoreContractException($"Cannot truncate {componentId} before seq {beforeSeq}: no checkpoint at seq {beforeSeq - 1} or later. Write a checkpoint first.");
        return result.Deleted;
    }

    public static Task<IReadOnlyList<ComponentHead>> ListComponentsAsync(string cs, CancellationToken ct) => ListHeadsAsync(cs, List, ct);

    /// <summary>Components whose last record is a partial turn record (kind 2).</summary>
    public static Task<IReadOnlyList<ComponentHead>> ListInDoubtAsync(string cs, CancellationToken ct) => ListHeadsAsync(cs, InDoubt, ct);

    private static async Task<IReadOnlyList<ComponentHead>> ListHeadsAsync(string cs, string sql, CancellationToken ct)
    {
        var heads = await ListAsync(cs, sql, [],
            r => new ComponentHead(r.GetString(0), r.GetInt64(1), r.IsDBNull(2) ? null : r.GetString(2), r.GetInt64(3), r.GetInt64(4)), ct).ConfigureAwait(false);
        // A binary collation orders by code units like .NET ordinal comparison, but sorting here keeps that a local fact.
        heads.Sort((a, b) => string.CompareOrdinal(a.ComponentId, b.ComponentId));
        return heads;
    }

    private static ComponentHead HeadOf(SqlDataReader r, string componentId) =>
        new(componentId, r.GetInt64(0), r.IsDBNull(1) ? null : r.GetString(1), r.GetInt64(2), r.GetInt64(3));

    private static async Task<T?> QueryAsync<T>(string cs, string sql, SqlParameter[] parameters, Func<SqlDataReader, T> map, CancellationToken ct)
        where T : class
    {
        var rows = await ListAsync(cs, sql, parameters, map, ct).ConfigureAwait(false);
        return rows.Count == 0 ? null : rows[0];
    }

    private static async Task<List<T>> ListAsync<T>(string cs, string sql, SqlParameter[] parameters, Func<SqlDataReader, T> map, CancellationToken ct)
    {
        await using var connection = new SqlConnection(cs);
        await connection.OpenAsync(ct).ConfigureAwait(false);
        await using var command = new SqlCommand(sql, connection);
        command.Parameters.AddRange(parameters);
        var rows = new List<T>();
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        do
        {
            while (await reader.ReadAsync(ct).ConfigureAwait(false)) rows.Add(map(reader));
        }
        while (await reader.NextResultAsync(ct).ConfigureAwait(false));

        return rows;
    }

    private static SqlParameter Id(string value) => Text("@id", value);

    private static SqlParameter Text(string name, string value) => new(name, SqlDbType.NVarChar, 400) { Value = value };

    private static SqlParameter Long(string name, long value) => new(name, SqlDbType.BigInt) { Value = value };

    private sealed record TruncateResult(bool Known, bool HasCheckpoint, long Deleted);
}
