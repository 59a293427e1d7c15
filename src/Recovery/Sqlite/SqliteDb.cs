using SQLitePCL;

namespace Middleware.Recovery.Sqlite;

/// <summary>
/// One SQLite connection opened with SQLITE_OPEN_NOMUTEX: SQLite does no locking of its own for it, so the
/// owner must use it from one thread at a time (the writer is guarded by a lock, readers by the pool).
/// It owns the statements prepared on it and finalizes them before closing.
/// </summary>
internal sealed class SqliteDb : IDisposable
{
    private static readonly object InitGate = new();
    private static bool _initialized;

    private readonly sqlite3 _handle;
    private readonly List<SqliteStatement> _statements = [];
    private bool _disposed;

    // The native pointer of _handle, for the calls of SqliteNative (the SafeHandle owns it and is closed in Dispose).
    private readonly IntPtr _native;

    private SqliteDb(sqlite3 handle, string path)
    {
        _handle = handle;
        _native = handle.DangerousGetHandle();
        Path = path;
    }

    /// <summary>The file this connection is open on.</summary>
    public string Path { get; }

    /// <summary>The native handle, for the statement wrapper.</summary>
    internal sqlite3 Handle => _handle;

    /// <summary>Opens the file read-write (and creates it when <paramref name="create"/>) and applies the per-connection pragmas.</summary>
    public static SqliteDb Open(string path, bool create, TimeSpan busyTimeout) => Open(path, create ? SqliteAccess.Create : SqliteAccess.ReadWrite, busyTimeout);

    /// <summary>
    /// Opens the file with <paramref name="access"/> and applies the per-connection pragmas, none of which changes the
    /// file: the journal mode is the store's to set (<see cref="EnableWal"/>), after it checked the schema, so a file of
    /// another program is never switched to WAL. <see cref="SqliteAccess.ReadOnly"/> is SQLITE_OPEN_READONLY (the raw
    /// equivalent of Microsoft.Data.Sqlite's <c>Mode=ReadOnly</c>): nothing this connection does can write the file.
    /// </summary>
    public static SqliteDb Open(string path, SqliteAccess access, TimeSpan busyTimeout)
    {
        EnsureInitialized();
        var flags = raw.SQLITE_OPEN_NOMUTEX | access switch
        {
            SqliteAccess.ReadOnly => raw.SQLITE_OPEN_READONLY,
            SqliteAccess.Create => raw.SQLITE_OPEN_READWRITE | raw.SQLITE_OPEN_CREATE,
            _ => raw.SQLITE_OPEN_READWRITE,
        };
        var rc = raw.sqlite3_open_v2(path, out var handle, flags, null);
        if (rc != raw.SQLITE_OK)
        {
            // sqlite3_open_v2 allocates a handle even on failure; it must be closed to release it.
            var message = handle is null || handle.IsInvalid ? raw.sqlite3_errstr(rc).utf8_to_string() : raw.sqlite3_errmsg(handle).utf8_to_string();
            handle?.Dispose();
            throw new SqliteCallException(rc, $"cannot open '{path}': {message} (code {rc})");
        }

        var db = new SqliteDb(handle, path);
        try
        {
            raw.sqlite3_extended_result_codes(handle, 1);
            db.Check(raw.sqlite3_busy_timeout(handle, (int)Math.Clamp(busyTimeout.TotalMilliseconds, 0, int.MaxValue)), "busy_timeout");
            // FULL syncs the WAL at every commit so an acknowledged append survives power loss, not only a process crash.
            // Both pragmas are per connection: they change nothing in the file.
            db.Exec("PRAGMA synchronous=FULL");
            db.Exec("PRAGMA foreign_keys=OFF");
            return db;
        }
        catch
        {
            db.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Puts the file in WAL mode (persistent: it changes the file's header), so readers run beside the writer. Only
    /// after the schema check: a file that is not a log store of this middleware must be refused untouched.
    /// </summary>
    public void EnableWal() => Exec("PRAGMA journal_mode=WAL");

    /// <summary>Sets how long SQLite itself waits (sleeping) for a lock before answering SQLITE_BUSY.</summary>
    public void SetBusyTimeout(TimeSpan timeout) =>
        Check(raw.sqlite3_busy_timeout(_handle, (int)Math.Clamp(timeout.TotalMilliseconds, 0, int.MaxValue)), "busy_timeout");

    /// <summary>Runs one or more statements that return no rows the caller needs.</summary>
    public void Exec(string sql)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var rc = raw.sqlite3_exec(_handle, sql, out var error);
        if (rc != raw.SQLITE_OK) throw new SqliteCallException(raw.sqlite3_extended_errcode(_handle), $"'{Shorten(sql)}' failed: {error ?? ErrorMessage()}");
    }

    /// <summary>Prepares a statement that lives as long as this connection.</summary>
    public SqliteStatement Prepare(string sql)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Check(raw.sqlite3_prepare_v2(_handle, sql, out var stmt), $"prepare '{Shorten(sql)}'");
        var statement = new SqliteStatement(this, stmt, sql);
        _statements.Add(statement);
        return statement;
    }

    /// <summary>Rows changed by the most recent INSERT, UPDATE or DELETE on this connection.</summary>
    public int Changes() => SqliteNative.Changes(_native);

    /// <summary>The rowid of the most recent successful INSERT on this connection.</summary>
    public long LastInsertRowId() => SqliteNative.LastInsertRowId(_native);

    /// <summary>The native connection pointer, for the calls of <see cref="SqliteNative"/> (valid until <see cref="Dispose"/>).</summary>
    internal IntPtr Native => _native;

    /// <summary>
    /// sqlite3_wal_checkpoint_v2 of the main database in <paramref name="mode"/>: the result code, the WAL's frames, and how
    /// many of them are in the database file afterwards (both -1 when the file is not in WAL mode).
    /// </summary>
    internal unsafe (int Rc, int LogFrames, int Checkpointed) WalCheckpoint(int mode)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int log = -1, done = -1;
        var rc = SqliteNative.WalCheckpoint(_native, IntPtr.Zero, mode, &log, &done);
        return (rc, log, done);
    }

    /// <summary>True when no transaction is open (so a failed statement left nothing to roll back).</summary>
    public bool InAutocommit => raw.sqlite3_get_autocommit(_handle) != 0;

    /// <summary>Throws <see cref="SqliteCallException"/> when <paramref name="rc"/> is an error code.</summary>
    public void Check(int rc, string what)
    {
        if (rc is raw.SQLITE_OK or raw.SQLITE_ROW or raw.SQLITE_DONE) return;
        throw new SqliteCallException(raw.sqlite3_extended_errcode(_handle), $"{what} failed: {ErrorMessage()} (code {raw.sqlite3_extended_errcode(_handle)})");
    }

    /// <summary>The connection's latest error message.</summary>
    public string ErrorMessage() => raw.sqlite3_errmsg(_handle).utf8_to_string();

    /// <summary>Finalizes every statement, then closes the connection.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var s in _statements) s.Close();
        _statements.Clear();
        raw.sqlite3_close_v2(_handle);
        _handle.Dispose();
    }

    private static void EnsureInitialized()
    {
        lock (InitGate)
        {
            if (_initialized) return;
            Batteries_V2.Init();
            _initialized = true;
        }
    }

    private static string Shorten(string sql)
    {
        var oneLine = sql.ReplaceLineEndings(" ");
        return oneLine.Length <= 80 ? oneLine : oneLine[..80] + "...";
    }
}

/// <summary>How a <see cref="SqliteDb"/> opens its file.</summary>
internal enum SqliteAccess
{
    /// <summary>SQLITE_OPEN_READONLY: reads only; the file must exist.</summary>
    ReadOnly,

    /// <summary>SQLITE_OPEN_READWRITE: the file must exist.</summary>
    ReadWrite,

    /// <summary>SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE: an empty file is created when there is none.</summary>
    Create,
}
