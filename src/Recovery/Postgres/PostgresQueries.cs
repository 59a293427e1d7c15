using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;
using Npgsql;

namespace Middleware.Recovery.Postgres;

/// <summary>
/// The single-statement operations of the store: claims, reads, truncation and the listing. Each one is one
/// statement on a pooled connection, so it is atomic on its own (an implicit transaction) and needs one
/// round trip.
/// </summary>
internal static class PostgresQueries
{
    private const string Head = "SELECT epoch, owner, last_seq, checkpoint_seq FROM components WHERE id = $1";

    // A first claim inserts the row; the conflict branch covers a row left at epoch 0. Under READ COMMITTED a
    // racing claimer waits for the winner's row and re-checks the WHERE on it, so exactly one of them wins.
    internal const string ClaimNew =
        "INSERT INTO components(id, epoch, owner, last_seq, checkpoint_seq, updated_at) VALUES ($1, 1, $2, 0, 0, now()) " +
        "ON CONFLICT (id) DO UPDATE SET epoch = 1, owner = excluded.owner, updated_at = excluded.updated_at WHERE components.epoch = 0 " +
        "RETURNING epoch, owner, last_seq, checkpoint_seq";

    internal const string ClaimNext =
        "UPDATE components SET epoch = epoch + 1, owner = $2, updated_at = now() WHERE id = $1 AND epoch = $3 " +
        "RETURNING epoch, owner, last_seq, checkpoint_seq";

    private const string Read =
        "SELECT seq, epoch, kind, committed_at, payload FROM log WHERE component = $1 AND seq >= $2 AND seq <= $3 ORDER BY seq";

    private const string Checkpoint =
        "SELECT seq, epoch, state, state_hash, created_at FROM checkpoints WHERE component = $1 AND seq <= $2 ORDER BY seq DESC LIMIT 1";

    private const string Dedup = "SELECT seq, args_hash, reply FROM dedup WHERE component = $1 AND request_id = $2";

    private const string RequestIds = "SELECT request_id FROM dedup WHERE component = $1 LIMIT $2";

    private const string DedupList = "SELECT request_id, seq, args_hash, reply FROM dedup WHERE component = $1 ORDER BY request_id COLLATE \"C\"";

    // The checkpoint check and the delete in one statement: both see one snapshot, and checkpoints are never
    // deleted, so the checkpoint that allowed the cut is still there when the rows go.
    private const string Truncate =
        "WITH cp AS (SELECT 1 FROM checkpoints WHERE component = $1 AND seq >= $2 - 1 LIMIT 1), " +
        "del AS (DELETE FROM log WHERE component = $1 AND seq < $2 AND EXISTS (SELECT 1 FROM cp) RETURNING 1) " +
        "SELECT (SELECT count(*) FROM del), EXISTS (SELECT 1 FROM cp), EXISTS (SELECT 1 FROM components WHERE id = $1)";

    private const string List = "SELECT id, epoch, owner, last_seq, checkpoint_seq FROM components";

    private const string InDoubt = "SELECT c.id, c.epoch, c.owner, c.last_seq, c.checkpoint_seq FROM components c " +
                                   "JOIN log l ON l.component = c.id AND l.seq = c.last_seq WHERE l.kind = 2";

    public static async Task<ComponentHead?> GetHeadAsync(NpgsqlDataSource source, string componentId, CancellationToken cancellationToken)
    {
        await using var command = Command(source, Head, Text(componentId));
        return await ReadHeadAsync(command, componentId, cancellationToken).ConfigureAwait(false);
    }

    public static async Task<ComponentHead?> ClaimAsync(NpgsqlDataSource source, string componentId, long expectedEpoch, string owner, CancellationToken cancellationToken)
    {
        await using var command = expectedEpoch == 0
            ? Command(source, ClaimNew, Text(componentId), Text(owner))
            : Command(source, ClaimNext, Text(componentId), Text(owner), Long(expectedEpoch));
        return await ReadHeadAsync(command, componentId, cancellationToken).ConfigureAwait(false);
    }

    public static async Task<List<LogRecord>> ReadAsync(NpgsqlDataSource source, string componentId, long fromSeq, long toSeq, CancellationToken cancellationToken)
    {
        var records = new List<LogRecord>();
        if (fromSeq > toSeq) return records;
        await using var command = Command(source, Read, Text(componentId), Long(fromSeq), Long(toSeq));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            records.Add(new LogRecord(reader.GetInt64(0), reader.GetInt64(1), (RecordKind)reader.GetInt16(2),
                reader.GetFieldValue<byte[]>(4), Ticks(reader.GetFieldValue<DateTime>(3))));
        }

        return records;
    }

    public static async Task<CheckpointRecord?> GetCheckpointAsync(NpgsqlDataSource source, string componentId, long atOrBeforeSeq, CancellationToken cancellationToken)
    {
        await using var command = Command(source, Checkpoint, Text(componentId), Long(atOrBeforeSeq));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false)) return null;
        return new CheckpointRecord(reader.GetInt64(0), reader.GetInt64(1), reader.GetFieldValue<byte[]>(2), reader.GetString(3),
            Ticks(reader.GetFieldValue<DateTime>(4)));
    }

    public static async Task<DedupEntry?> FindRequestAsync(NpgsqlDataSource source, string componentId, string requestId, CancellationToken cancellationToken)
    {
        await using var command = Command(source, Dedup, Text(componentId), Text(requestId));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false)) return null;
        return new DedupEntry(requestId, reader.GetInt64(0), reader.GetInt64(1), reader.GetFieldValue<byte[]>(2));
    }

    /// <summary>At most <paramref name="limit"/> + 1 request ids of the component's dedup entries (one more tells there are more).</summary>
    public static async Task<List<string>> ListRequestIdsAsync(NpgsqlDataSource source, string componentId, int limit, CancellationToken cancellationToken)
    {
        await using var command = Command(source, RequestIds, Text(componentId), Long((long)limit + 1));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var ids = new List<string>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false)) ids.Add(reader.GetString(0));
        return ids;
    }

    public static async Task<IReadOnlyList<DedupEntry>> ListDedupAsync(NpgsqlDataSource source, string componentId, CancellationToken cancellationToken)
    {
        await using var command = Command(source, DedupList, Text(componentId));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var entries = new List<DedupEntry>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            entries.Add(new DedupEntry(reader.GetString(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetFieldValue<byte[]>(3)));
        return entries;
    }

    public static async Task<long> TruncateAsync(NpgsqlDataSource source, string componentId, long beforeSeq, CancellationToken cancellationToken)
    {
        await using var command = Command(source, Truncate, Text(componentId), Long(beforeSeq));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            throw new NpgsqlException("The truncation statement returned no row.");
        var (deleted, hasCheckpoint, known) = (reader.GetInt64(0), reader.GetBoolean(1), reader.GetBoolean(2));
        if (!known) return 0;
        if (!hasCheckpoint)
            throw new StoreContractException($"Cannot truncate {componentId} before seq {beforeSeq}: no checkpoint at seq {beforeSeq - 1} or later. Write a checkpoint first.");
        return deleted;
    }

    public static Task<List<ComponentHead>> ListComponentsAsync(NpgsqlDataSource source, CancellationToken cancellationToken) =>
        ListHeadsAsync(source, List, cancellationToken);

    /// <summary>Components whose last record is a partial turn record (kind 2).</summary>
    public static Task<List<ComponentHead>> ListInDoubtAsync(NpgsqlDataSource source, CancellationToken cancellationToken) =>
        ListHeadsAsync(source, InDoubt, cancellationToken);

    private static async Task<List<ComponentHead>> ListHeadsAsync(NpgsqlDataSource source, string sql, CancellationToken cancellationToken)
    {
        var heads = new List<ComponentHead>();
        await using var command = source.CreateCommand(sql);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            heads.Add(new ComponentHead(reader.GetString(0), reader.GetInt64(1), reader.IsDBNull(2) ? null : reader.GetString(2),
                reader.GetInt64(3), reader.GetInt64(4)));
        }

        // "C" collation orders by UTF-8 bytes, which differs from .NET ordinal (UTF-16) order for some characters.
        heads.Sort((a, b) => string.CompareOrdinal(a.ComponentId, b.ComponentId));
        return heads;
    }

    private static async Task<ComponentHead?> ReadHeadAsync(NpgsqlCommand command, string componentId, CancellationToken cancellationToken)
    {
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false)) return null;
        return new ComponentHead(componentId, reader.GetInt64(0), reader.IsDBNull(1) ? null : reader.GetString(1), reader.GetInt64(2), reader.GetInt64(3));
    }

    /// <summary>UTC ticks of a timestamptz (Npgsql returns it as a UTC <see cref="DateTime"/>).</summary>
    private static long Ticks(DateTime utc) => utc.Ticks;

    private static NpgsqlCommand Command(NpgsqlDataSource source, string sql, params NpgsqlParameter[] parameters)
    {
        var command = source.CreateCommand(sql);
        command.Parameters.AddRange(parameters);
        return command;
    }

    private static NpgsqlParameter<string> Text(string value) => new() { TypedValue = value };

    private static NpgsqlParameter<long> Long(long value) => new() { TypedValue = value };
}
