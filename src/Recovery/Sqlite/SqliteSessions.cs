using Middleware.Recovery.Storage;

namespace Middleware.Recovery.Sqlite;

/// <summary>The session reads shared by the writer (after an open) and the readers (get, list).</summary>
internal static class SqliteSessions
{
    /// <summary>The store clock: SQLite's 'now' as unix milliseconds (julianday keeps milliseconds; ROUND undoes the float error).</summary>
    public const string NowMsSql = "SELECT CAST(ROUND((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)";

    public const string RowSql = "SELECT status, reserved, opens, created_at, last_opened_at, token_hash FROM sessions WHERE session_id = ?1";

    public const string ItemsSql = "SELECT item_key, item_value FROM session_items WHERE session_id = ?1";

    public const string ListSql =
        "SELECT session_id, status, reserved, opens, created_at, last_opened_at, token_hash FROM sessions ORDER BY last_opened_at DESC, session_id LIMIT ?1";

    /// <summary>The session with its items, or null when there is no such row.</summary>
    public static SessionEntry? Read(SqliteStatement row, SqliteStatement items, string sessionId)
    {
        SessionEntry entry;
        try
        {
            if (!row.Bind(1, sessionId).Step()) return null;
            entry = Entry(row, 0, sessionId, new Dictionary<string, string>(StringComparer.Ordinal));
        }
        finally
        {
            row.Reset();
        }

        ReadItems(items, sessionId, (Dictionary<string, string>)entry.Items);
        return entry;
    }

    /// <summary>A session from the columns status, reserved, opens, created_at, last_opened_at, token_hash starting at <paramref name="first"/>.</summary>
    public static SessionEntry Entry(SqliteStatement s, int first, string sessionId, Dictionary<string, string> items) =>
        new(sessionId, (SessionStatus)s.Int64(first), s.Int64(first + 1), (int)s.Int64(first + 2),
            DateTimeOffset.FromUnixTimeMilliseconds(s.Int64(first + 3)), DateTimeOffset.FromUnixTimeMilliseconds(s.Int64(first + 4)), items, s.Text(first + 5));

    public static void ReadItems(SqliteStatement items, string sessionId, Dictionary<string, string> into)
    {
        try
        {
            items.Bind(1, sessionId);
            while (items.Step()) into[items.Text(0) ?? ""] = items.Text(1) ?? "";
        }
        finally
        {
            items.Reset();
        }
    }
}
