using System.Data;
using Microsoft.Data.SqlClient;
using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;

namespace Middleware.Recovery.SqlServer;

/// <summary>
/// The cluster operations in T-SQL (tables of sql/sqlserver/002_cluster.sql and 003_silo_contact.sql), each one batch
/// (one round trip) on a pooled connection; the batches that decide on several rows run in one transaction with
/// <c>XACT_ABORT ON</c>. Liveness is judged by the server's clock (<c>SYSUTCDATETIME()</c>), read once per batch.
/// Results are selected after COMMIT from variables captured inside the transaction. Never run here (no SQL Server
/// engine on this machine): written to mirror the PostgreSQL and SQLite statements, checked by the same contract
/// suite when <c>MIDDLEWARE_TEST_SQLSERVER</c> is set.
/// </summary>
internal static class SqlServerCluster
{
    private const string Prologue = "SET XACT_ABORT ON; SET NOCOUNT ON;\nDECLARE @now datetime2(7) = SYSUTCDATETIME();\n";

    // An active silo (s) whose window passed at @now is dead from now on when another live silo (w) vouches against it:
    // w's run of contact covers s's whole window and w's last heartbeat is at most half that window old. A suspect's
    // age reaches its window and a voucher's stays under its own, so no row is both. READPAST skips rows
    // another transaction holds (a silo heartbeating, or a suspect being marked): that can only withhold a verdict
    // until the next listing, never add one, and it keeps two marking transactions from deadlocking on each other.
    private const string MarkDead =
        "UPDATE s SET status = 2 FROM dbo.silos AS s WHERE s.status = 1 AND DATEDIFF_BIG(microsecond, s.heartbeat, @now) >= s.dead_after_ms * 1000\n" +
        "  AND EXISTS (SELECT 1 FROM dbo.silos AS w WITH (READPAST) WHERE w.status = 1\n" +
        "    AND DATEDIFF_BIG(microsecond, w.heartbeat, @now) < w.dead_after_ms * 1000\n" +
        "    AND 2 * DATEDIFF_BIG(microsecond, w.heartbeat, @now) <= s.dead_after_ms * 1000\n" +
        "    AND DATEDIFF_BIG(microsecond, w.contact_since, @now) >= s.dead_after_ms * 1000);\n";

    private const string Join = Prologue +
        "BEGIN TRANSACTION;\n" +
        "UPDATE dbo.silos WITH (SERIALIZABLE) SET address = @address, http_address = @http, status = 1, heartbeat = @now,\n" +
        "  dead_after_ms = @window, activations = 0, joined_at = @now, contact_since = @now WHERE silo_id = @silo;\n" +
        "IF @@ROWCOUNT = 0\n" +
        "  INSERT INTO dbo.silos(silo_id, address, http_address, status, heartbeat, dead_after_ms, activations, joined_at, contact_since)\n" +
        "  VALUES (@silo, @address, @http, 1, @now, @window, 0, @now, @now);\n" +
        "COMMIT TRANSACTION;\n" +
        "SELECT @now;";

    // A heartbeat more than half the smallest active window after the previous one starts a new run of contact
    // (SET expressions read the row as it was before the update).
    private const string Heartbeat = Prologue +
        "DECLARE @smallest_window bigint = (SELECT MIN(dead_after_ms) FROM dbo.silos WHERE status = 1);\n" +
        "UPDATE dbo.silos SET\n" +
        "  contact_since = CASE WHEN 2 * DATEDIFF_BIG(microsecond, heartbeat, @now) > ISNULL(@smallest_window, dead_after_ms) * 1000 THEN @now ELSE contact_since END,\n" +
        "  heartbeat = @now, activations = @activations WHERE silo_id = @silo AND status = 1;\n" +
        "SELECT CAST(@@ROWCOUNT AS int);";

    private const string Leave = Prologue +
        "BEGIN TRANSACTION;\n" +
        "UPDATE dbo.silos SET status = 3 WHERE silo_id = @silo;\n" +
        "UPDATE dbo.components SET owner = NULL, updated_at = @now WHERE owner = @silo;\n" +
        "COMMIT TRANSACTION;";

    private const string ListSilos = Prologue +
        "BEGIN TRANSACTION;\n" + MarkDead + "COMMIT TRANSACTION;\n" +
        "SELECT silo_id, address, http_address, status, DATEDIFF_BIG(microsecond, heartbeat, @now) / 1000, dead_after_ms, activations, joined_at FROM dbo.silos;";

    // UPDLOCK + HOLDLOCK on the component's key (a key-range lock when it is missing) serializes claims of one
    // component, first claims included, to the commit. @outcome: 1 claimed, 2 a live owner refused it, 3 conflict.
    private const string Claim = Prologue +
        "DECLARE @found bit = 0, @epoch bigint, @owner nvarchar(400), @address nvarchar(400), @outcome tinyint = 3,\n" +
        "  @new_epoch bigint, @last_seq bigint, @checkpoint_seq bigint;\n" +
        "BEGIN TRANSACTION;\n" + MarkDead +
        "SELECT @found = 1, @epoch = epoch, @owner = owner FROM dbo.components WITH (UPDLOCK, HOLDLOCK, ROWLOCK) WHERE id = @id;\n" +
        "IF @owner IS NOT NULL AND @owner COLLATE Latin1_General_100_BIN2 <> @silo\n" +
        "  SELECT @address = address FROM dbo.silos WHERE silo_id = @owner AND status = 1;\n" +
        "IF @address IS NOT NULL\n" +
        "  SET @outcome = 2;\n" +
        "ELSE IF @found = 0 AND @expected = 0\n" +
        "BEGIN\n" +
        "  INSERT INTO dbo.components(id, epoch, owner, last_seq, checkpoint_seq, updated_at) VALUES (@id, 1, @silo, 0, 0, @now);\n" +
        "  SET @outcome = 1;\n" +
        "END\n" +
        "ELSE IF @found = 1 AND @epoch = @expected\n" +
        "BEGIN\n" +
        "  UPDATE dbo.components SET epoch = epoch + 1, owner = @silo, updated_at = @now WHERE id = @id;\n" +
        "  SET @outcome = 1;\n" +
        "END;\n" +
        "IF @outcome = 1\n" +
        "  SELECT @new_epoch = epoch, @last_seq = last_seq, @checkpoint_seq = checkpoint_seq FROM dbo.components WHERE id = @id;\n" +
        "COMMIT TRANSACTION;\n" +
        "SELECT @outcome, @new_epoch, @last_seq, @checkpoint_seq, @owner, @address;";

    // Rule 6: the incarnation that joined at @joined (to the millisecond), declared by a silo live at @now.
    private const string DeclareDead = Prologue +
        "BEGIN TRANSACTION;\n" + MarkDead +
        "UPDATE dbo.silos SET status = 2 WHERE silo_id = @silo AND status = 1 AND ABS(DATEDIFF_BIG(microsecond, joined_at, @joined)) < 1000\n" +
        "  AND EXISTS (SELECT 1 FROM dbo.silos AS d WHERE d.silo_id = @by AND d.status = 1 AND DATEDIFF_BIG(microsecond, d.heartbeat, @now) < d.dead_after_ms * 1000);\n" +
        "DECLARE @marked int = @@ROWCOUNT;\n" +
        "COMMIT TRANSACTION;\n" +
        "SELECT @marked;";

    private const string HandOver = Prologue +
        "UPDATE dbo.components SET owner = @to, updated_at = @now WHERE id = @id AND epoch = @epoch AND owner = @from;\n" +
        "SELECT CAST(@@ROWCOUNT AS int);";

    // The update lock on the session's key (a key-range lock when it is new) makes concurrent opens add up one
    // by one. A closed session is left as it is and reported with its status.
    private const string OpenSession = Prologue +
        "DECLARE @status tinyint, @reserved bigint, @opens int, @created datetime2(7), @last datetime2(7), @hash char(64);\n" +
        "BEGIN TRANSACTION;\n" +
        "SELECT @status = status FROM dbo.sessions WITH (UPDLOCK, HOLDLOCK, ROWLOCK) WHERE session_id = @id;\n" +
        "IF @status IS NULL\n" +
        "  INSERT INTO dbo.sessions(session_id, status, reserved, opens, created_at, last_opened_at, token_hash) VALUES (@id, 1, @reserve, 1, @now, @now, @token_hash);\n" +
        "ELSE IF @status = 1\n" +
        "  UPDATE dbo.sessions SET reserved = reserved + @reserve, opens = opens + 1, last_opened_at = @now WHERE session_id = @id;\n" +
        "SELECT @status = status, @reserved = reserved, @opens = opens, @created = created_at, @last = last_opened_at, @hash = token_hash FROM dbo.sessions WHERE session_id = @id;\n" +
        "COMMIT TRANSACTION;\n" +
        "SELECT @status, @reserved, @opens, @created, @last, @hash;\n" +
        "SELECT item_key, item_value FROM dbo.session_items WHERE session_id = @id;";

    // A further block of a session its client has open: reserved grows under the row's exclusive lock; opens and
    // last_opened_at stay. A closed session is left as it is and reported with its status, an unknown one with none.
    private const string ReserveSession = Prologue +
        "DECLARE @status tinyint, @reserved bigint, @opens int, @created datetime2(7), @last datetime2(7), @hash char(64);\n" +
        "BEGIN TRANSACTION;\n" +
        "UPDATE dbo.sessions SET reserved = reserved + @reserve WHERE session_id = @id AND status = 1;\n" +
        "SELECT @status = status, @reserved = reserved, @opens = opens, @created = created_at, @last = last_opened_at, @hash = token_hash FROM dbo.sessions WHERE session_id = @id;\n" +
        "COMMIT TRANSACTION;\n" +
        "SELECT @status, @reserved, @opens, @created, @last, @hash;\n" +
        "SELECT item_key, item_value FROM dbo.session_items WHERE session_id = @id;";

    private const string GetSession =
        "SELECT s.session_id, s.status, s.reserved, s.opens, s.created_at, s.last_opened_at, i.item_key, i.item_value, s.token_hash " +
        "FROM dbo.sessions AS s LEFT JOIN dbo.session_items AS i ON i.session_id = s.session_id WHERE s.session_id = @id;";

    private const string ListSessions =
        "SELECT s.session_id, s.status, s.reserved, s.opens, s.created_at, s.last_opened_at, i.item_key, i.item_value, s.token_hash " +
        "FROM (SELECT TOP (@limit) session_id, status, reserved, opens, created_at, last_opened_at, token_hash FROM dbo.sessions ORDER BY last_opened_at DESC, session_id) AS s " +
        "LEFT JOIN dbo.session_items AS i ON i.session_id = s.session_id ORDER BY s.last_opened_at DESC, s.session_id;";

    private const string SetItem = Prologue +
        "BEGIN TRANSACTION;\n" +
        "DECLARE @found bit = CASE WHEN EXISTS (SELECT 1 FROM dbo.sessions WITH (HOLDLOCK) WHERE session_id = @id) THEN 1 ELSE 0 END;\n" +
        "IF @found = 1 AND @value IS NULL\n" +
        "  DELETE FROM dbo.session_items WHERE session_id = @id AND item_key = @key;\n" +
        "ELSE IF @found = 1\n" +
        "BEGIN\n" +
        "  UPDATE dbo.session_items WITH (SERIALIZABLE) SET item_value = @value WHERE session_id = @id AND item_key = @key;\n" +
        "  IF @@ROWCOUNT = 0 INSERT INTO dbo.session_items(session_id, item_key, item_value) VALUES (@id, @key, @value);\n" +
        "END;\n" +
        "COMMIT TRANSACTION;\n" +
        "SELECT @found;";

    private const string CloseSession = Prologue +
        "UPDATE dbo.sessions SET status = 2 WHERE session_id = @id;\n" +
        "SELECT CAST(@@ROWCOUNT AS int);";

    public static async Task<SiloEntry> JoinAsync(string cs, string siloId, string address, string? httpAddress, long deadAfterMs, CancellationToken ct)
    {
        var results = await QueryAsync(cs, Join, ct, Id("@silo", siloId), Text("@address", address), Text("@http", httpAddress), Long("@window", deadAfterMs)).ConfigureAwait(false);
        var joinedAt = (DateTime)Single(results, 0)[0]!;
        return new SiloEntry(siloId, address, httpAddress, SiloStatus.Active, TimeSpan.Zero, TimeSpan.FromMilliseconds(deadAfterMs), 0, Utc(joinedAt));
    }

    public static async Task<bool> HeartbeatAsync(string cs, string siloId, int activations, CancellationToken ct)
    {
        var results = await QueryAsync(cs, Heartbeat, ct, Id("@silo", siloId), new SqlParameter("@activations", SqlDbType.Int) { Value = activations }).ConfigureAwait(false);
        return (int)Single(results, 0)[0]! == 1;
    }

    public static async Task<bool> LeaveAsync(string cs, string siloId, CancellationToken ct)
    {
        await QueryAsync(cs, Leave, ct, Id("@silo", siloId)).ConfigureAwait(false);
        return true;
    }

    public static async Task<IReadOnlyList<SiloEntry>> ListSilosAsync(string cs, CancellationToken ct)
    {
        var results = await QueryAsync(cs, ListSilos, ct).ConfigureAwait(false);
        var rows = results.Count == 0 ? [] : results[0];
        return ClusterRules.Order(rows.Select(r => new SiloEntry((string)r[0]!, (string)r[1]!, (string?)r[2], (SiloStatus)(byte)r[3]!,
            TimeSpan.FromMilliseconds(Math.Max(0, (long)r[4]!)), TimeSpan.FromMilliseconds((long)r[5]!), (int)r[6]!, Utc((DateTime)r[7]!))));
    }

    public static async Task<ClaimResult> ClaimForSiloAsync(string cs, string componentId, long expectedEpoch, string siloId, CancellationToken ct)
    {
        var results = await QueryAsync(cs, Claim, ct, Id("@id", componentId), Id("@silo", siloId), Long("@expected", expectedEpoch)).ConfigureAwait(false);
        var row = Single(results, 0);
        return (byte)row[0]! switch
        {
            1 => new ClaimResult(new ComponentHead(componentId, (long)row[1]!, siloId, (long)row[2]!, (long)row[3]!)),
            2 => new ClaimResult(null, (string)row[4]!, (string)row[5]!),
            _ => new ClaimResult(null),
        };
    }

    public static async Task<bool> DeclareDeadAsync(string cs, string siloId, DateTime joinedAt, string declaredBy, CancellationToken ct)
    {
        var results = await QueryAsync(cs, DeclareDead, ct, Id("@silo", siloId), new SqlParameter("@joined", SqlDbType.DateTime2) { Value = joinedAt }, Id("@by", declaredBy)).ConfigureAwait(false);
        return Convert.ToInt32(Single(results, 0)[0]) == 1;
    }

    public static async Task<bool> HandOverAsync(string cs, string componentId, long epoch, string fromSiloId, string? toSiloId, CancellationToken ct)
    {
        var results = await QueryAsync(cs, HandOver, ct, Id("@id", componentId), Long("@epoch", epoch), Id("@from", fromSiloId), Id("@to", toSiloId)).ConfigureAwait(false);
        return (int)Single(results, 0)[0]! == 1;
    }

    public static async Task<SessionReservation> OpenSessionAsync(string cs, string sessionId, int reserve, string? tokenHash, CancellationToken ct)
    {
        var results = await QueryAsync(cs, OpenSession, ct, Id("@id", sessionId), Long("@reserve", reserve),
            new SqlParameter("@token_hash", SqlDbType.Char, 64) { Value = (object?)tokenHash ?? DBNull.Value }).ConfigureAwait(false);
        return Reservation(results, sessionId, reserve);
    }

    public static async Task<SessionReservation> ReserveSessionAsync(string cs, string sessionId, int reserve, CancellationToken ct)
    {
        var results = await QueryAsync(cs, ReserveSession, ct, Id("@id", sessionId), Long("@reserve", reserve)).ConfigureAwait(false);
        return Reservation(results, sessionId, reserve);
    }

    /// <summary>The reservation from a batch that selected (status, reserved, opens, created, last opened, token hash), then the items.</summary>
    private static SessionReservation Reservation(List<List<object?[]>> results, string sessionId, int reserve)
    {
        var row = Single(results, 0);
        if (row[0] is null) throw ClusterRules.UnknownSession(sessionId);
        if ((SessionStatus)(byte)row[0]! != SessionStatus.Open) throw ClusterRules.SessionClosed(sessionId);
        var items = new Dictionary<string, string>(StringComparer.Ordinal);
        if (results.Count > 1)
        {
            foreach (var item in results[1]) items[(string)item[0]!] = (string)item[1]!;
        }

        var session = new SessionEntry(sessionId, SessionStatus.Open, (long)row[1]!, (int)row[2]!, Utc((DateTime)row[3]!), Utc((DateTime)row[4]!), items, row[5] as string);
        return ClusterRules.Reservation(session, reserve);
    }

    public static async Task<SessionEntry?> GetSessionAsync(string cs, string sessionId, CancellationToken ct)
    {
        var results = await QueryAsync(cs, GetSession, ct, Id("@id", sessionId)).ConfigureAwait(false);
        var sessions = Sessions(results);
        return sessions.Count == 0 ? null : sessions[0];
    }

    public static async Task<IReadOnlyList<SessionEntry>> ListSessionsAsync(string cs, int limit, CancellationToken ct)
    {
        var results = await QueryAsync(cs, ListSessions, ct, new SqlParameter("@limit", SqlDbType.Int) { Value = limit }).ConfigureAwait(false);
        return Sessions(results);
    }

    public static async Task<bool> SetSessionItemAsync(string cs, string sessionId, string key, string? value, CancellationToken ct)
    {
        var results = await QueryAsync(cs, SetItem, ct, Id("@id", sessionId), Id("@key", key),
            new SqlParameter("@value", SqlDbType.NVarChar, -1) { Value = (object?)value ?? DBNull.Value }).ConfigureAwait(false);
        if (!(bool)Single(results, 0)[0]!) throw ClusterRules.UnknownSession(sessionId);
        return true;
    }

    public static async Task<bool> CloseSessionAsync(string cs, string sessionId, CancellationToken ct)
    {
        var results = await QueryAsync(cs, CloseSession, ct, Id("@id", sessionId)).ConfigureAwait(false);
        if ((int)Single(results, 0)[0]! != 1) throw ClusterRules.UnknownSession(sessionId);
        return true;
    }

    /// <summary>Sessions from rows of (id, status, reserved, opens, created_at, last_opened_at, item_key, item_value, token_hash), in row order.</summary>
    private static List<SessionEntry> Sessions(List<List<object?[]>> results)
    {
        var sessions = new List<SessionEntry>();
        foreach (var r in results.Count == 0 ? [] : results[0])
        {
            var id = (string)r[0]!;
            if (sessions.Count == 0 || sessions[^1].SessionId != id)
            {
                sessions.Add(new SessionEntry(id, (SessionStatus)(byte)r[1]!, (long)r[2]!, (int)r[3]!, Utc((DateTime)r[4]!), Utc((DateTime)r[5]!),
                    new Dictionary<string, string>(StringComparer.Ordinal), r[8] as string));
            }

            if (r[6] is string key) ((Dictionary<string, string>)sessions[^1].Items)[key] = (string)r[7]!;
        }

        return sessions;
    }

    /// <summary>The first row of result set <paramref name="index"/>; the batches always select one there.</summary>
    private static object?[] Single(List<List<object?[]>> results, int index) =>
        results.Count > index && results[index].Count > 0
            ? results[index][0]
            : throw new InvalidOperationException($"The cluster batch returned no row in result set {index}.");

    /// <summary>Runs a batch and reads every result set completely (so the whole batch has run when this returns); DBNull becomes null.</summary>
    private static async Task<List<List<object?[]>>> QueryAsync(string cs, string sql, CancellationToken ct, params SqlParameter[] parameters)
    {
        await using var connection = new SqlConnection(cs);
        await connection.OpenAsync(ct).ConfigureAwait(false);
        await using var command = new SqlCommand(sql, connection);
        command.Parameters.AddRange(parameters);
        var results = new List<List<object?[]>>();
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        do
        {
            var rows = new List<object?[]>();
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                var values = new object?[reader.FieldCount];
                reader.GetValues(values!);
                for (var i = 0; i < values.Length; i++)
                {
                    if (values[i] is DBNull) values[i] = null;
                }

                rows.Add(values);
            }

            if (reader.FieldCount > 0) results.Add(rows);
        }
        while (await reader.NextResultAsync(ct).ConfigureAwait(false));

        return results;
    }

    private static DateTimeOffset Utc(DateTime utc) => new(DateTime.SpecifyKind(utc, DateTimeKind.Utc));

    /// <summary>An id-like value (silo, component, session, key): nvarchar(400), null allowed.</summary>
    private static SqlParameter Id(string name, string? value) => new(name, SqlDbType.NVarChar, 400) { Value = (object?)value ?? DBNull.Value };

    private static SqlParameter Text(string name, string? value) => new(name, SqlDbType.NVarChar, 400) { Value = (object?)value ?? DBNull.Value };

    private static SqlParameter Long(string name, long value) => new(name, SqlDbType.BigInt) { Value = value };
}
