using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;
using Npgsql;

namespace Middleware.Recovery.Postgres;

/// <summary>
/// An activation's load as one statement (one round trip, one snapshot): the head row, the latest checkpoint at or
/// before its last seq (a backward probe of the checkpoints key) and the log rows after that checkpoint (a range of the
/// log key), as one result tagged by part.
/// </summary>
internal static class PostgresActivationRead
{
    private const string Sql =
        "WITH h AS (SELECT epoch, owner, last_seq, checkpoint_seq FROM components WHERE id = $1), " +
        "c AS (SELECT seq, epoch, state, state_hash, created_at FROM checkpoints " +
        "WHERE component = $1 AND seq <= (SELECT last_seq FROM h) ORDER BY seq DESC LIMIT 1) " +
        "SELECT 0::smallint AS part, h.epoch, h.last_seq AS seq, h.checkpoint_seq AS extra, NULL::timestamptz AS at, NULL::bytea AS bytes, h.owner AS txt FROM h " +
        "UNION ALL SELECT 1::smallint, c.epoch, c.seq, 0::bigint, c.created_at, c.state, c.state_hash FROM c " +
        "UNION ALL SELECT 2::smallint, l.epoch, l.seq, l.kind::bigint, l.committed_at, l.payload, NULL FROM log l " +
        "WHERE l.component = $1 AND l.seq > COALESCE((SELECT seq FROM c), 0) AND l.seq <= (SELECT last_seq FROM h) " +
        "ORDER BY part, seq";

    public static async Task<ActivationRead> RunAsync(NpgsqlDataSource source, string componentId, CancellationToken cancellationToken)
    {
        await using var command = source.CreateCommand(Sql);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = componentId });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        ComponentHead? head = null;
        CheckpointRecord? checkpoint = null;
        var tail = new List<LogRecord>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            switch (reader.GetInt16(0))
            {
                case 0:
                    head = new ComponentHead(componentId, reader.GetInt64(1), reader.IsDBNull(6) ? null : reader.GetString(6), reader.GetInt64(2), reader.GetInt64(3));
                    break;
                case 1:
                    checkpoint = new CheckpointRecord(reader.GetInt64(2), reader.GetInt64(1), reader.GetFieldValue<byte[]>(5), reader.GetString(6),
                        reader.GetFieldValue<DateTime>(4).Ticks);
                    break;
                default:
                    tail.Add(new LogRecord(reader.GetInt64(2), reader.GetInt64(1), (RecordKind)reader.GetInt64(3), reader.GetFieldValue<byte[]>(5),
                        reader.GetFieldValue<DateTime>(4).Ticks));
                    break;
            }
        }

        return head is null ? ActivationRead.None : new ActivationRead(head, checkpoint, tail);
    }
}
