namespace Middleware.Recovery.Sqlite;

/// <summary>
/// A SQLite call returned an error code. Internal: the store translates it into a
/// <see cref="Storage.StoreUnavailableException"/> that names the store and the fix.
/// </summary>
internal sealed class SqliteCallException(int resultCode, string message) : Exception(message)
{
    /// <summary>The extended SQLite result code (for example 5 for SQLITE_BUSY, 10 for SQLITE_IOERR).</summary>
    public int ResultCode { get; } = resultCode;
}
