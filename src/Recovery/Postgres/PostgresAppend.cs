using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;
using Npgsql;
using NpgsqlTypes;

namespace Middleware.Recovery.Postgres;

/// <summary>
/// One append call = one transaction on its own pooled connection. The common call (each group a different component,
/// self-consistent) is one statement in one round trip: <see cref="PostgresOneStatementAppend"/>. Any other shape
/// (several groups of one component, a checkpoint-only group, seqs with gaps) takes two round trips, decided in code:
/// <list type="number">
/// <item><c>BEGIN</c> and <c>SELECT ... FOR UPDATE</c> of the components' heads, in id order: the rows stay
/// locked until commit, so the epoch and seq checks made on them hold when the rows are written, also
/// against another process, and two appends sharing components queue instead of deadlocking.</item>
/// <item>The writes as multi-row statements over arrays (<c>unnest</c>) and <c>COMMIT</c>, sent as one batch.</item>
/// </list>
/// Calls share nothing but the store's append connections (<see cref="PostgresAppendConnections"/>), so several may run
/// at once (each on its own connection); that is how a caller keeps more than one commit in flight.
/// </summary>
internal static class PostgresAppend
{
    private const string LockHeads = "SELECT id, epoch, last_seq, checkpoint_seq FROM components WHERE id = ANY($1) ORDER BY id FOR UPDATE";

    // now() is the transaction's start time: one commit time for the whole call, from the server's clock.
    private const string InsertLog =
        "INSERT INTO log(component, seq, epoch, kind, committed_at, payload) " +
        "SELECT c, s, e, k, now(), p FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::smallint[], $5::bytea[]) AS r(c, s, e, k, p)";

    private const string UpdateHeads =
        "UPDATE components AS c SET last_seq = u.l, checkpoint_seq = u.cp, updated_at = now() " +
        "FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS u(id, l, cp) WHERE c.id = u.id";

    private const string InsertCheckpoints =
        "INSERT INTO checkpoints(component, seq, epoch, state, state_hash, created_at) " +
        "SELECT c, s, e, st, h, now() FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bytea[], $5::text[]) AS r(c, s, e, st, h) " +
        "ON CONFLICT (component, seq) DO UPDATE SET epoch = excluded.epoch, state = excluded.state, state_hash = excluded.state_hash, created_at = excluded.created_at";

    private const string InsertDedup =
        "INSERT INTO dedup(component, request_id, seq, args_hash, reply, created_at) " +
        "SELECT c, r, s, a, p, now() FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bytea[]) AS d(c, r, s, a, p) " +
        "ON CONFLICT (component, request_id) DO UPDATE SET seq = excluded.seq, args_hash = excluded.args_hash, reply = excluded.reply, created_at = excluded.created_at";

    /// <summary>Runs the append; a failure after BEGIN rolls back, and a failure of the final batch is uncertain and rethrown.</summary>
    public static async Task<AppendStatus[]> RunAsync(PostgresAppendConnections connections, IReadOnlyList<AppendGroup> groups, CancellationToken cancellationToken)
    {
        if (groups.Count == 0) return [];
        var connection = await connections.RentAsync(cancellationToken).ConfigureAwait(false);
        AppendStatus[] statuses;
        try
        {
            statuses = PostgresOneStatementAppend.Fits(groups)
                ? await PostgresOneStatementAppend.RunAsync(connection, groups, cancellationToken).ConfigureAwait(false)
                : await RunInTwoRoundTripsAsync(connection, groups, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await PostgresAppendConnections.DiscardAsync(connection).ConfigureAwait(false);
            throw;
        }

        await connections.ReturnAsync(connection).ConfigureAwait(false);
        return statuses;
    }

    private static async Task<AppendStatus[]> RunInTwoRoundTripsAsync(NpgsqlConnection connection, IReadOnlyList<AppendGroup> groups, CancellationToken cancellationToken)
    {
        try
        {
            var heads = await LockHeadsAsync(connection, AppendPlan.ComponentIds(groups), cancellationToken).ConfigureAwait(false);
            var plan = AppendPlan.Make(groups, heads);
            await using var batch = Writes(connection, plan);
            await batch.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            return plan.Statuses;
        }
        catch (Exception original)
        {
            // Whatever failed, the connection must not go back with this transaction still open.
            await RollBackAsync(connection, original).ConfigureAwait(false);
            throw;
        }
    }

    private static async Task<Dictionary<string, StoredHead>> LockHeadsAsync(NpgsqlConnection connection, string[] ids, CancellationToken cancellationToken)
    {
        await using var batch = new NpgsqlBatch(connection);
        batch.BatchCommands.Add(new NpgsqlBatchCommand("BEGIN"));
        var select = new NpgsqlBatchCommand(LockHeads);
        select.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = ids, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
        batch.BatchCommands.Add(select);
        var heads = new Dictionary<string, StoredHead>(ids.Length, StringComparer.Ordinal);
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            heads[reader.GetString(0)] = new StoredHead(reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3));
        return heads;
    }

    /// <summary>The write statements the plan needs (none for a call whose groups were all refused), then COMMIT.</summary>
    private static NpgsqlBatch Writes(NpgsqlConnection connection, AppendPlan plan)
    {
        var batch = new NpgsqlBatch(connection);
        if (plan.Records.Count > 0)
        {
            var n = plan.Records.Count;
            var (ids, seqs, epochs, kinds, payloads) = (new string[n], new long[n], new long[n], new short[n], new byte[n][]);
            for (var i = 0; i < n; i++)
            {
                var (id, r) = plan.Records[i];
                (ids[i], seqs[i], epochs[i], kinds[i], payloads[i]) = (id, r.Seq, r.Epoch, (short)r.Kind, AppendPlan.ToArray(r.Payload));
            }

            batch.BatchCommands.Add(Command(InsertLog, Texts(ids), Longs(seqs), Longs(epochs), new NpgsqlParameter<short[]> { TypedValue = kinds }, Blobs(payloads)));
        }

        if (plan.Heads.Count > 0)
        {
            batch.BatchCommands.Add(Command(UpdateHeads,
                Texts(plan.Heads.Select(h => h.ComponentId).ToArray()),
                Longs(plan.Heads.Select(h => h.LastSeq).ToArray()),
                Longs(plan.Heads.Select(h => h.CheckpointSeq).ToArray())));
        }

        if (plan.Checkpoints.Count > 0)
        {
            batch.BatchCommands.Add(Command(InsertCheckpoints,
                Texts(plan.Checkpoints.Select(c => c.ComponentId).ToArray()),
                Longs(plan.Checkpoints.Select(c => c.Checkpoint.Seq).ToArray()),
                Longs(plan.Checkpoints.Select(c => c.Checkpoint.Epoch).ToArray()),
                Blobs(plan.Checkpoints.Select(c => AppendPlan.ToArray(c.Checkpoint.State)).ToArray()),
                Texts(plan.Checkpoints.Select(c => c.Checkpoint.StateHash).ToArray())));
        }

        if (plan.Dedup.Count > 0)
        {
            batch.BatchCommands.Add(Command(InsertDedup,
                Texts(plan.Dedup.Select(d => d.ComponentId).ToArray()),
                Texts(plan.Dedup.Select(d => d.Entry.RequestId).ToArray()),
                Longs(plan.Dedup.Select(d => d.Entry.Seq).ToArray()),
                Longs(plan.Dedup.Select(d => d.Entry.ArgsHash).ToArray()),
                Blobs(plan.Dedup.Select(d => AppendPlan.ToArray(d.Entry.Reply)).ToArray())));
        }

        batch.BatchCommands.Add(new NpgsqlBatchCommand("COMMIT"));
        return batch;
    }

    /// <summary>
    /// Ends a transaction that failed before its COMMIT was acknowledged. A broken connection needs nothing
    /// (the server rolls back when the session ends); when the rollback itself fails the connection is
    /// unusable and both errors are reported.
    /// </summary>
    private static async Task RollBackAsync(NpgsqlConnection connection, Exception original)
    {
        if (connection.FullState != System.Data.ConnectionState.Open) return;
        try
        {
            await using var rollback = new NpgsqlCommand("ROLLBACK", connection);
            await rollback.ExecuteNonQueryAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (NpgsqlException failed)
        {
            throw new NpgsqlException($"{original.Message}; the rollback then failed too: {failed.Message}", original);
        }
    }

    private static NpgsqlBatchCommand Command(string sql, params NpgsqlParameter[] parameters)
    {
        var command = new NpgsqlBatchCommand(sql);
        command.Parameters.AddRange(parameters);
        return command;
    }

    private static NpgsqlParameter<string[]> Texts(string[] values) => new() { TypedValue = values, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text };

    private static NpgsqlParameter<long[]> Longs(long[] values) => new() { TypedValue = values };

    private static NpgsqlParameter<byte[][]> Blobs(byte[][] values) => new() { TypedValue = values, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bytea };
}
