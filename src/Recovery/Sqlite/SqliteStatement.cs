using System.Text;
using SQLitePCL;

namespace Middleware.Recovery.Sqlite;

/// <summary>
/// A prepared statement reused for the life of its connection: bind, step, reset. Binding and reading go
/// straight to the native library (<see cref="SqliteNative"/>, with the statement's native handle) because per-record
/// overhead decides append throughput.
/// </summary>
internal sealed class SqliteStatement
{
    private readonly SqliteDb _db;
    private readonly sqlite3_stmt _stmt;
    // The native handle of _stmt, which owns it (finalized in Close, by the connection, after the last use).
    private readonly IntPtr _handle;
    private readonly string _sql;

    internal SqliteStatement(SqliteDb db, sqlite3_stmt stmt, string sql)
    {
        _db = db;
        _stmt = stmt;
        _handle = stmt.DangerousGetHandle();
        _sql = sql;
    }

    public SqliteStatement Bind(int index, long value)
    {
        var rc = SqliteNative.BindInt64(_handle, index, value);
        if (rc != raw.SQLITE_OK) _db.Check(rc, "bind");
        return this;
    }

    public SqliteStatement BindNull(int index)
    {
        _db.Check(SqliteNative.BindNull(_handle, index), "bind");
        return this;
    }

    public unsafe SqliteStatement Bind(int index, string? value)
    {
        if (value is null)
        {
            _db.Check(SqliteNative.BindNull(_handle, index), "bind");
            return this;
        }

        // UTF-8 into a stack buffer when it fits (ids and request ids do): no byte[] per bind. SQLite copies it. As the
        // SQLitePCLRaw call this replaces (a NUL-terminated copy, length -1), the text ends at its first U+0000, so the ids
        // stored by earlier builds are found the same way.
        var chars = value.AsSpan();
        var nul = chars.IndexOf('\0');
        if (nul >= 0) chars = chars[..nul];
        var max = Encoding.UTF8.GetMaxByteCount(chars.Length);
        var buffer = max <= 512 ? stackalloc byte[max] : new byte[max];
        var length = Encoding.UTF8.GetBytes(chars, buffer);
        fixed (byte* p = buffer)
        {
            _db.Check(SqliteNative.BindText(_handle, index, p, length, SqliteNative.Transient), "bind");
        }

        return this;
    }

    public unsafe SqliteStatement Bind(int index, ReadOnlySpan<byte> value)
    {
        // An empty span could bind as NULL, which the NOT NULL blob columns refuse; a zero-length blob is meant.
        if (value.IsEmpty)
        {
            _db.Check(SqliteNative.BindZeroBlob(_handle, index, 0), "bind");
            return this;
        }

        fixed (byte* p = value)
        {
            _db.Check(SqliteNative.BindBlob(_handle, index, p, value.Length, SqliteNative.Transient), "bind");
        }

        return this;
    }

    /// <summary>Steps once; true when a row is available. Errors reset the statement and throw.</summary>
    public bool Step()
    {
        var rc = SqliteNative.Step(_handle);
        if (rc == raw.SQLITE_ROW) return true;
        if (rc == raw.SQLITE_DONE) return false;
        var code = raw.sqlite3_extended_errcode(_db.Handle);
        var message = _db.ErrorMessage();
        SqliteNative.Reset(_handle);
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
    public void Reset() => SqliteNative.Reset(_handle);

    public long Int64(int column) => SqliteNative.ColumnInt64(_handle, column);

    public string? Text(int column) =>
        raw.sqlite3_column_type(_stmt, column) == raw.SQLITE_NULL ? null : raw.sqlite3_column_text(_stmt, column).utf8_to_string();

    public byte[] Blob(int column) => raw.sqlite3_column_blob(_stmt, column).ToArray();

    /// <summary>Finalizes the statement; called by the connection before it closes.</summary>
    internal void Close() => raw.sqlite3_finalize(_stmt);
}
