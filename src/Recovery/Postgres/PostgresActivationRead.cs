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
    /// <summary>Head, checkpoint and tail, without the final ordering.</summary>
    private const string Parts =
        "WITH h AS (SELECT epoch, owner, last_seq, checkpoint_seq FROM components WHERE id = $1), " +
        "c AS (SELECT seq, epoch, state, state_hash, created_at FROM checkpoints " +
        "WHERE component = $1 AND seq <= (SELECT last_seq FROM h) ORDER BY seq DESC LIMIT 1) " +
        "SELECT 0::smallint AS part, h.epoch, h.last_seq AS seq, h.checkpoint_seq AS extra, NULL::timestamptz AS at, NULL::bytea AS bytes, h.owner AS txt FROM h " +
        "UNION ALL SELECT 1::smallint, c.epoch, c.seq, 0::bigint, c.created_at, c.state, c.state_hash FROM c " +
        "UNION ALL SELECT 2::smallint, l.epoch, l.seq, l.kind::bigint, l.committed_at, l.payload, NULL FROM log l " +
        "WHERE l.component = $1 AND l.seq > COALESCE((SELECT seq FROM c), 0) AND l.seq <= (SELECT last_seq FROM h) ";

    private const string Sql = Parts + "ORDER BY part, seq";

    /// <summary>The same, plus a row of part 3 when the dedup table holds the request id <c>$2</c> (one probe of its key).</summary>
    private const string SqlWithRequest = Parts +
        "UNION ALL SELECT 3::smallint, 0::bigint, d.seq, 0::bigint, NULL::timestamptz, NULL::bytea, NULL FROM dedup d WHERE d.component = $1 AND d.request_id = $2 " +
        "ORDER BY part, seq";

    /// <summary>
    /// The read; with <paramref name="requestId"/>, the same statement also probes the dedup key for it
    /// (<see cref="ActivationRead.RequestNotRecorded"/>).
    /// </summary>
    public static async Task<ActivationRead> RunAsync(NpgsqlDataSource source, string componentId, CancellationToken cancellationToken, string? requestId = null)
    {
        await using var command = source.CreateCommand(requestId is null ? Sql : SqlWithRequest);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = componentId });
        if (requestId is not null) command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = requestId });
        var recorded = false;
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
                case 3:
                    recorded = true;
                    break;
                default:
                    tail.Add(new LogRecord(reader.GetInt64(2), reader.GetInt64(1), (RecordKind)reader.GetInt64(3), reader.GetFieldValue<byte[]>(5),
                        reader.GetFieldValue<DateTime>(4).Ticks));
                    break;
            }
        }

        return head is null ? ActivationRead.None
            : new ActivationRead(head, checkpoint, tail) { RequestNotRecorded = requestId is not null && !recorded ? requestId : null };
    }
}
