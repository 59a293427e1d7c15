using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;
using Npgsql;
using NpgsqlTypes;

namespace Middleware.Recovery.Postgres;

/// <summary>
/// The membership and ownership operations on PostgreSQL (tables of sql/postgres/002_cluster.sql and
/// 003_silo_contact.sql; sessions are in <see cref="PostgresSessions"/>), and the parameter helpers both use. Liveness
/// is judged by the server's <c>clock_timestamp()</c>. Lock order, to keep transactions from deadlocking one another:
/// silos rows first (several at once only in id order), then components rows (several at once only in id order, like
/// appends).
/// </summary>
internal static class PostgresCluster
{
    private const string Now = "SELECT clock_timestamp()";

    // An active silo (s) whose window passed at $1 is dead from now on when another live silo (w) vouches against it:
    // w's run of contact covers s's whole window and w's last heartbeat is at most half that window old. A
    // suspect's age reaches its window and a voucher's stays under its own, so no row is both. The suspects are
    // locked in id order, so two transactions marking at once queue instead of deadlocking; a row a heartbeat
    // refreshed meanwhile is re-checked after the lock and left alone.
    private const string MarkDead =
        "UPDATE silos SET status = 2 WHERE silo_id IN (SELECT s.silo_id FROM silos s " +
        "WHERE s.status = 1 AND $1 - s.heartbeat >= s.dead_after_ms * interval '1 millisecond' AND EXISTS (SELECT 1 FROM silos w " +
        "WHERE w.status = 1 AND $1 - w.heartbeat < w.dead_after_ms * interval '1 millisecond' " +
        "AND 2 * ($1 - w.heartbeat) <= s.dead_after_ms * interval '1 millisecond' " +
        "AND w.contact_since + s.dead_after_ms * interval '1 millisecond' <= $1) " +
        "ORDER BY s.silo_id FOR UPDATE OF s)";

    private const string Join =
        "WITH t AS (SELECT clock_timestamp() AS now) " +
        "INSERT INTO silos(silo_id, address, http_address, status, heartbeat, dead_after_ms, activations, joined_at, contact_since) " +
        "SELECT $1, $2, $3, 1, t.now, $4, 0, t.now, t.now FROM t " +
        "ON CONFLICT (silo_id) DO UPDATE SET address = excluded.address, http_address = excluded.http_address, status = 1, " +
        "heartbeat = excluded.heartbeat, dead_after_ms = excluded.dead_after_ms, activations = 0, joined_at = excluded.joined_at, " +
        "contact_since = excluded.contact_since " +
        "RETURNING joined_at";

    // A heartbeat more than half the smallest active window after the previous one starts a new run of contact
    // (SET expressions read the row as it was before the update).
    private const string Heartbeat =
        "WITH t AS (SELECT clock_timestamp() AS now), m AS (SELECT min(dead_after_ms) AS window_ms FROM silos WHERE status = 1) " +
        "UPDATE silos SET contact_since = CASE WHEN 2 * (t.now - heartbeat) > m.window_ms * interval '1 millisecond' THEN t.now ELSE contact_since END, " +
        "heartbeat = t.now, activations = $2 FROM t, m WHERE silo_id = $1 AND status = 1";

    private const string Leave = "UPDATE silos SET status = 3 WHERE silo_id = $1";

    // Components rows in id order, like appends lock them.
    private const string Release =
        "UPDATE components SET owner = NULL, updated_at = now() WHERE id IN (SELECT id FROM components WHERE owner = $1 ORDER BY id FOR UPDATE)";

    private const string ListSilos =
        "SELECT silo_id, address, http_address, status, floor(extract(epoch FROM $1 - heartbeat) * 1000)::bigint, dead_after_ms, activations, joined_at FROM silos";

    // The head row is locked for the rest of the transaction; the owner's address comes back only when it is an
    // active silo (the expired ones were marked dead just before, in the same transaction).
    internal const string LockHead =
        "SELECT c.epoch, c.owner, s.address FROM components c LEFT JOIN silos s ON s.silo_id = c.owner AND s.status = 1 " +
        "WHERE c.id = $1 FOR UPDATE OF c";

    // A racing first claim waits for the other's row and then inserts nothing: that is a conflict.
    internal const string ClaimNew =
        "INSERT INTO components(id, epoch, owner, last_seq, checkpoint_seq, updated_at) VALUES ($1, 1, $2, 0, 0, now()) " +
        "ON CONFLICT (id) DO NOTHING RETURNING epoch, owner, last_seq, checkpoint_seq";

    internal const string ClaimNext =
        "UPDATE components SET epoch = epoch + 1, owner = $2, updated_at = now() WHERE id = $1 AND epoch = $3 " +
        "RETURNING epoch, owner, last_seq, checkpoint_seq";

    // Rule 6: the incarnation that joined at $2 (to the microsecond the server keeps), declared by a silo live at $4.
    private const string DeclareDead =
        "UPDATE silos SET status = 2 WHERE silo_id = $1 AND status = 1 AND abs(extract(epoch FROM joined_at - $2)) < 0.001 " +
        "AND EXISTS (SELECT 1 FROM silos d WHERE d.silo_id = $3 AND d.status = 1 AND $4 - d.heartbeat < d.dead_after_ms * interval '1 millisecond')";

    private const string HandOver = "UPDATE components SET owner = $3, updated_at = now() WHERE id = $1 AND epoch = $4 AND owner = $2";

    public static async Task<SiloEntry> JoinAsync(NpgsqlDataSource source, string siloId, string address, string? httpAddress, long deadAfterMs, CancellationToken ct)
    {
        await using var command = Command(source, Join, Text(siloId), Text(address), NullableText(httpAddress), Long(deadAfterMs));
        var joinedAt = (DateTime)(await command.ExecuteScalarAsync(ct).ConfigureAwait(false)
            ?? throw new NpgsqlException("The join statement returned no row."));
        return new SiloEntry(siloId, address, httpAddress, SiloStatus.Active, TimeSpan.Zero, TimeSpan.FromMilliseconds(deadAfterMs), 0, Utc(joinedAt));
    }

    public static async Task<bool> HeartbeatAsync(NpgsqlDataSource source, string siloId, int activations, CancellationToken ct)
    {
        await using var command = Command(source, Heartbeat, Text(siloId), new NpgsqlParameter<int> { TypedValue = activations });
        return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 1;
    }

    public static async Task<bool> LeaveAsync(NpgsqlDataSource source, string siloId, CancellationToken ct)
    {
        await using var connection = await source.OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
        await ExecuteAsync(connection, transaction, Leave, ct, Text(siloId)).ConfigureAwait(false);
        await ExecuteAsync(connection, transaction, Release, ct, Text(siloId)).ConfigureAwait(false);
        await transaction.CommitAsync(ct).ConfigureAwait(false);
        return true;
    }

    public static async Task<IReadOnlyList<SiloEntry>> ListSilosAsync(NpgsqlDataSource source, CancellationToken ct)
    {
        await using var connection = await source.OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
        // One reading of the server clock for the marking and the ages, so every active row listed is within its window.
        var now = await MarkDeadAsync(connection, transaction, ct).ConfigureAwait(false);
        var silos = new List<SiloEntry>();
        await using (var list = new NpgsqlCommand(ListSilos, connection, transaction))
        {
            list.Parameters.Add(Time(now));
            await using var reader = await list.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                silos.Add(new SiloEntry(reader.GetString(0), reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2), (SiloStatus)reader.GetInt16(3),
                    TimeSpan.FromMilliseconds(Math.Max(0, reader.GetInt64(4))), TimeSpan.FromMilliseconds(reader.GetInt64(5)), reader.GetInt32(6),
                    Utc(reader.GetFieldValue<DateTime>(7))));
            }
        }

        await transaction.CommitAsync(ct).ConfigureAwait(false);
        return ClusterRules.Order(silos);
    }

    public static async Task<ClaimResult> ClaimForSiloAsync(NpgsqlDataSource source, string componentId, long expectedEpoch, string siloId, CancellationToken ct)
    {
        await using var connection = await source.OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
        await MarkDeadAsync(connection, transaction, ct).ConfigureAwait(false);

        (long Epoch, string? Owner, string? LiveAddress)? current = null;
        await using (var lockHead = new NpgsqlCommand(LockHead, connection, transaction))
        {
            lockHead.Parameters.Add(Text(componentId));
            await using var reader = await lockHead.ExecuteReaderAsync(ct).ConfigureAwait(false);
            if (await reader.ReadAsync(ct).ConfigureAwait(false))
                current = (reader.GetInt64(0), reader.IsDBNull(1) ? null : reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2));
        }

        ClaimResult result;
        if (current is null)
        {
            result = expectedEpoch != 0
                ? new ClaimResult(null)
                : new ClaimResult(await HeadAsync(connection, transaction, ClaimNew, componentId, ct, Text(componentId), Text(siloId)).ConfigureAwait(false));
        }
        else if (current.Value.Owner is { } owner && !string.Equals(owner, siloId, StringComparison.Ordinal) && current.Value.LiveAddress is { } address)
        {
            result = new ClaimResult(null, owner, address);
        }
        else if (current.Value.Epoch != expectedEpoch)
        {
            result = new ClaimResult(null);
        }
        else
        {
            result = new ClaimResult(await HeadAsync(connection, transaction, ClaimNext, componentId, ct, Text(componentId), Text(siloId), Long(expectedEpoch)).ConfigureAwait(false));
        }

        // Also a refusal commits: the silos marked dead stay dead.
        await transaction.CommitAsync(ct).ConfigureAwait(false);
        return result;
    }

    public static async Task<bool> DeclareDeadAsync(NpgsqlDataSource source, string siloId, DateTime joinedAt, string declaredBy, CancellationToken ct)
    {
        await using var connection = await source.OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
        var now = await MarkDeadAsync(connection, transaction, ct).ConfigureAwait(false);
        var marked = await ExecuteAsync(connection, transaction, DeclareDead, ct, Text(siloId), Time(joinedAt), Text(declaredBy), Time(now)).ConfigureAwait(false);
        await transaction.CommitAsync(ct).ConfigureAwait(false);
        return marked == 1;
    }

    public static async Task<bool> HandOverAsync(NpgsqlDataSource source, string componentId, long epoch, string fromSiloId, string? toSiloId, CancellationToken ct)
    {
        await using var command = Command(source, HandOver, Text(componentId), Text(fromSiloId), NullableText(toSiloId), Long(epoch));
        return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 1;
    }

    /// <summary>Reads the server clock and marks dead every active silo that rule 2 of <see cref="IClusterStore"/> condemns at that time; returns the time.</summary>
    internal static async Task<DateTime> MarkDeadAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken ct)
    {
        DateTime now;
        await using (var clock = new NpgsqlCommand(Now, connection, transaction))
        {
            now = (DateTime)(await clock.ExecuteScalarAsync(ct).ConfigureAwait(false) ?? throw new NpgsqlException("clock_timestamp() returned no row."));
        }

        await ExecuteAsync(connection, transaction, MarkDead, ct, Time(now)).ConfigureAwait(false);
        return now;
    }

    internal static async Task<ComponentHead?> HeadAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, string componentId, CancellationToken ct, params NpgsqlParameter[] parameters)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        command.Parameters.AddRange(parameters);
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        if (!await reader.ReadAsync(ct).ConfigureAwait(false)) return null;
        return new ComponentHead(componentId, reader.GetInt64(0), reader.IsDBNull(1) ? null : reader.GetString(1), reader.GetInt64(2), reader.GetInt64(3));
    }

    internal static async Task<int> ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, CancellationToken ct, params NpgsqlParameter[] parameters)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        command.Parameters.AddRange(parameters);
        return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    internal static NpgsqlCommand Command(NpgsqlDataSource source, string sql, params NpgsqlParameter[] parameters)
    {
        var command = source.CreateCommand(sql);
        command.Parameters.AddRange(parameters);
        return command;
    }

    /// <summary>A timestamptz from Npgsql (a UTC <see cref="DateTime"/>) as an offset time.</summary>
    internal static DateTimeOffset Utc(DateTime utc) => new(DateTime.SpecifyKind(utc, DateTimeKind.Utc));

    internal static NpgsqlParameter<string> Text(string value) => new() { TypedValue = value };

    internal static NpgsqlParameter NullableText(string? value) => new() { Value = (object?)value ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text };

    internal static NpgsqlParameter<long> Long(long value) => new() { TypedValue = value };

    internal static NpgsqlParameter<DateTime> Time(DateTime utc) => new() { TypedValue = DateTime.SpecifyKind(utc, DateTimeKind.Utc), NpgsqlDbType = NpgsqlDbType.TimestampTz };
}
