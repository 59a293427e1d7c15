using Middleware.Recovery.Storage;
using Npgsql;
using static Middleware.Recovery.Postgres.PostgresCluster;

namespace Middleware.Recovery.Postgres;

/// <summary>
/// The virtual-session operations on PostgreSQL (tables of sql/postgres/002_cluster.sql). Times are the server's
/// <c>clock_timestamp()</c>; each operation is one statement or one transaction on a pooled connection.
/// </summary>
internal static class PostgresSessions
{
    // One statement creates or resumes: the conflict branch locks the row, so concurrent opens add up one by one.
    // A closed session matches no branch and returns nothing.
    private const string OpenSession =
        "WITH t AS (SELECT clock_timestamp() AS now) " +
        "INSERT INTO sessions(session_id, status, reserved, opens, created_at, last_opened_at, token_hash) SELECT $1, 1, $2, 1, t.now, t.now, $3 FROM t " +
        "ON CONFLICT (session_id) DO UPDATE SET reserved = sessions.reserved + excluded.reserved, opens = sessions.opens + 1, " +
        "last_opened_at = excluded.last_opened_at WHERE sessions.status = 1 " +
        "RETURNING status, reserved, opens, created_at, last_opened_at, token_hash";

    // A further block of a session its client has open: the update's row lock orders concurrent reservations. Not an
    // open, so opens and last_opened_at stay. An unknown or closed session matches nothing and returns nothing.
    private const string ReserveSession =
        "UPDATE sessions SET reserved = reserved + $2 WHERE session_id = $1 AND status = 1 RETURNING status, reserved, opens, created_at, last_opened_at, token_hash";

    private const string StatusOf = "SELECT status FROM sessions WHERE session_id = $1";

    private const string Items = "SELECT item_key, item_value FROM session_items WHERE session_id = $1";

    private const string GetSession =
        "SELECT s.session_id, s.status, s.reserved, s.opens, s.created_at, s.last_opened_at, i.item_key, i.item_value, s.token_hash " +
        "FROM sessions s LEFT JOIN session_items i ON i.session_id = s.session_id WHERE s.session_id = $1";

    private const string ListSessions =
        "SELECT s.session_id, s.status, s.reserved, s.opens, s.created_at, s.last_opened_at, i.item_key, i.item_value, s.token_hash " +
        "FROM (SELECT * FROM sessions ORDER BY last_opened_at DESC, session_id LIMIT $1) s " +
        "LEFT JOIN session_items i ON i.session_id = s.session_id ORDER BY s.last_opened_at DESC, s.session_id";

    private const string SetItem =
        "WITH s AS (SELECT session_id FROM sessions WHERE session_id = $1), " +
        "up AS (INSERT INTO session_items(session_id, item_key, item_value) SELECT session_id, $2, $3 FROM s " +
        "ON CONFLICT (session_id, item_key) DO UPDATE SET item_value = excluded.item_value RETURNING 1) " +
        "SELECT EXISTS (SELECT 1 FROM s), (SELECT count(*) FROM up)";

    private const string RemoveItem =
        "WITH s AS (SELECT 1 FROM sessions WHERE session_id = $1), " +
        "del AS (DELETE FROM session_items WHERE session_id = $1 AND item_key = $2 RETURNING 1) " +
        "SELECT EXISTS (SELECT 1 FROM s), (SELECT count(*) FROM del)";

    private const string CloseSession = "UPDATE sessions SET status = 2 WHERE session_id = $1";

    public static Task<SessionReservation> OpenSessionAsync(NpgsqlDataSource source, string sessionId, int reserve, string? tokenHash, CancellationToken ct) =>
        ReserveAsync(source, OpenSession, sessionId, reserve, ct, NullableText(tokenHash));

    public static Task<SessionReservation> ReserveSessionAsync(NpgsqlDataSource source, string sessionId, int reserve, CancellationToken ct) =>
        ReserveAsync(source, ReserveSession, sessionId, reserve, ct);

    public static async Task<SessionEntry?> GetSessionAsync(NpgsqlDataSource source, string sessionId, CancellationToken ct)
    {
        await using var command = Command(source, GetSession, Text(sessionId));
        var sessions = await ReadSessionsAsync(command, ct).ConfigureAwait(false);
        return sessions.Count == 0 ? null : sessions[0];
    }

    public static async Task<IReadOnlyList<SessionEntry>> ListSessionsAsync(NpgsqlDataSource source, int limit, CancellationToken ct)
    {
        await using var command = Command(source, ListSessions, Long(limit));
        return await ReadSessionsAsync(command, ct).ConfigureAwait(false);
    }

    public static async Task<bool> SetSessionItemAsync(NpgsqlDataSource source, string sessionId, string key, string? value, CancellationToken ct)
    {
        await using var command = value is null
            ? Command(source, RemoveItem, Text(sessionId), Text(key))
            : Command(source, SetItem, Text(sessionId), Text(key), Text(value));
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        if (!await reader.ReadAsync(ct).ConfigureAwait(false)) throw new NpgsqlException("The session item statement returned no row.");
        if (!reader.GetBoolean(0)) throw ClusterRules.UnknownSession(sessionId);
        return true;
    }

    public static async Task<bool> CloseSessionAsync(NpgsqlDataSource source, string sessionId, CancellationToken ct)
    {
        await using var command = Command(source, CloseSession, Text(sessionId));
        if (await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false) != 1) throw ClusterRules.UnknownSession(sessionId);
        return true;
    }

    /// <summary>Sessions from rows of (id, status, reserved, opens, created_at, last_opened_at, item_key, item_value, token_hash), in row order.</summary>
    private static async Task<List<SessionEntry>> ReadSessionsAsync(NpgsqlCommand command, CancellationToken ct)
    {
        var sessions = new List<SessionEntry>();
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            var id = reader.GetString(0);
            if (sessions.Count == 0 || sessions[^1].SessionId != id)
            {
                sessions.Add(new SessionEntry(id, (SessionStatus)reader.GetInt16(1), reader.GetInt64(2), reader.GetInt32(3),
                    Utc(reader.GetFieldValue<DateTime>(4)), Utc(reader.GetFieldValue<DateTime>(5)), new Dictionary<string, string>(StringComparer.Ordinal),
                    reader.IsDBNull(8) ? null : reader.GetString(8)));
            }

            if (!reader.IsDBNull(6)) ((Dictionary<string, string>)sessions[^1].Items)[reader.GetString(6)] = reader.GetString(7);
        }

        return sessions;
    }

    /// <summary>
    /// Runs <paramref name="sql"/> (an open or a further block, returning the session row) and reads the session's items, in
    /// one transaction. No row back means the session is closed, or unknown to a further block.
    /// </summary>
    private static async Task<SessionReservation> ReserveAsync(NpgsqlDataSource source, string sql, string sessionId, int reserve, CancellationToken ct, NpgsqlParameter? tokenHash = null)
    {
        await using var connection = await source.OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
        SessionEntry? session = null;
        await using (var reserveCommand = new NpgsqlCommand(sql, connection, transaction))
        {
            reserveCommand.Parameters.Add(Text(sessionId));
            reserveCommand.Parameters.Add(Long(reserve));
            if (tokenHash is not null) reserveCommand.Parameters.Add(tokenHash);
            await using var reader = await reserveCommand.ExecuteReaderAsync(ct).ConfigureAwait(false);
            if (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                session = new SessionEntry(sessionId, (SessionStatus)reader.GetInt16(0), reader.GetInt64(1), reader.GetInt32(2),
                    Utc(reader.GetFieldValue<DateTime>(3)), Utc(reader.GetFieldValue<DateTime>(4)), new Dictionary<string, string>(StringComparer.Ordinal),
                    reader.IsDBNull(5) ? null : reader.GetString(5));
            }
        }

        if (session is null)
        {
            await using var status = new NpgsqlCommand(StatusOf, connection, transaction);
            status.Parameters.Add(Text(sessionId));
            throw await status.ExecuteScalarAsync(ct).ConfigureAwait(false) is null ? ClusterRules.UnknownSession(sessionId) : ClusterRules.SessionClosed(sessionId);
        }

        await using (var items = new NpgsqlCommand(Items, connection, transaction))
        {
            items.Parameters.Add(Text(sessionId));
            await using var reader = await items.ExecuteReaderAsync(ct).ConfigureAwait(false);
            var into = (Dictionary<string, string>)session.Items;
            while (await reader.ReadAsync(ct).ConfigureAwait(false)) into[reader.GetString(0)] = reader.GetString(1);
        }

        await transaction.CommitAsync(ct).ConfigureAwait(false);
        return ClusterRules.Reservation(session, reserve);
    }
}
