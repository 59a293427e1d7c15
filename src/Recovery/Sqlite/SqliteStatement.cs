using SQLitePCL;

namespace Middleware.Recovery.Sqlite;

/// <summary>
/// A prepared statement reused for the life of its connection: bind, step, reset. Binding and reading go
/// straight to the raw API because per-record overhead decides append throughput.
/// </summary>
internal sealed class SqliteStatement
{
    private readonly SqliteDb _db;
    private readonly sqlite3_stmt _stmt;
    private readonly string _sql;

    internal SqliteStatement(SqliteDb db, sqlite3_stmt stmt, string sql)
    {
        _db = db;
        _stmt = stmt;
        _sql = sql;
    }

    public SqliteStatement Bind(int index, long value)
    {
        _db.Check(raw.sqlite3_bind_int64(_stmt, index, value), "bind");
        return this;
    }

    public SqliteStatement Bind(int index, string? value)
    {
        _db.Check(value is null ? raw.sqlite3_bind_null(_stmt, index) : raw.sqlite3_bind_text(_stmt, index, value), "bind");
        return this;
    }

    public SqliteStatement Bind(int index, ReadOnlySpan<byte> value)
    {
        // An empty span could bind as NULL, which the NOT NULL blob columns refuse; a zero-length blob is meant.
        _db.Check(value.IsEmpty ? raw.sqlite3_bind_zeroblob(_stmt, index, 0) : raw.sqlite3_bind_blob(_stmt, index, value), "bind");
        return this;
    }

    /// <summary>Steps once; true when a row is available. Errors reset the statement and throw.</summary>
    public bool Step()
    {
        var rc = raw.sqlite3_step(_stmt);
        if (rc == raw.SQLITE_ROW) return true;
        if (rc == raw.SQLITE_DONE) return false;
        var code = raw.sqlite3_extended_errcode(_db.Handle);
        var message = _db.ErrorMessage();
        raw.sqlite3_reset(_stmt);
        throw new SqliteCallException(code, $"'{_sql}' failed: {message} (code {code})");
    }

    /// <summary>Runs a statement that returns no rows, then resets it for reuse.</summary>
    public void Run()
    {
        try
        {
            Step();
        }
        finally
        {
            Reset();
        }
    }

    /// <summary>Makes the statement ready for the next bind/step (bindings are kept, then overwritten).</summary>
    public void Reset() => raw.sqlite3_reset(_stmt);

    public long Int64(int column) => raw.sqlite3_column_int64(_stmt, column);

    public string? Text(int column) =>
        raw.sqlite3_column_type(_stmt, column) == raw.SQLITE_NULL ? null : raw.sqlite3_column_text(_stmt, column).utf8_to_string();

    public byte[] Blob(int column) => raw.sqlite3_column_blob(_stmt, column).ToArray();

    /// <summary>Finalizes the statement; called by the connection before it closes.</summary>
    internal void Close() => raw.sqlite3_finalize(_stmt);
}
