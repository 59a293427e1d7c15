using Middleware.Recovery.Storage;

namespace Middleware.Recovery.Sqlite;

/// <summary>The session reads of a reader connection: one read transaction per call, so a session and its items come from one snapshot.</summary>
internal sealed partial class SqliteReader
{
    private SqliteStatement? _sessionRow;
    private SqliteStatement? _sessionItems;
    private SqliteStatement? _sessionList;

    public SessionEntry? GetSession(string sessionId)
    {
        _sessionRow ??= _db.Prepare(SqliteSessions.RowSql);
        _sessionItems ??= _db.Prepare(SqliteSessions.ItemsSql);
        _begin.Run();
        try
        {
            return SqliteSessions.Read(_sessionRow, _sessionItems, sessionId);
        }
        finally
        {
            _end.Run();
        }
    }

    public List<SessionEntry> ListSessions(int limit)
    {
        _sessionList ??= _db.Prepare(SqliteSessions.ListSql);
        _sessionItems ??= _db.Prepare(SqliteSessions.ItemsSql);
        var sessions = new List<SessionEntry>();
        _begin.Run();
        try
        {
            try
            {
                _sessionList.Bind(1, limit);
                while (_sessionList.Step())
                {
                    var id = _sessionList.Text(0) ?? "";
                    sessions.Add(SqliteSessions.Entry(_sessionList, 1, id, new Dictionary<string, string>(StringComparer.Ordinal)));
                }
            }
            finally
            {
                _sessionList.Reset();
            }

            foreach (var s in sessions) SqliteSessions.ReadItems(_sessionItems, s.SessionId, (Dictionary<string, string>)s.Items);
            return sessions;
        }
        finally
        {
            _end.Run();
        }
    }
}
