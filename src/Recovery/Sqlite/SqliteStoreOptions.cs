namespace Middleware.Recovery.Sqlite;

/// <summary>Settings of a <see cref="SqliteLogStore"/>. The defaults suit one process writing one file.</summary>
public sealed class SqliteStoreOptions
{
    /// <summary>
    /// How long a statement waits for another connection's lock (another process on the same file, or a WAL
    /// checkpoint) before the operation fails with a <see cref="Storage.StoreUnavailableException"/>. Default 5 seconds.
    /// </summary>
    public TimeSpan BusyTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The most reader connections open at once; reads beyond that wait for a free one. Default 4.</summary>
    public int ReaderConnections { get; init; } = 4;

    /// <summary>
    /// Open for reading only (tools that inspect a store): every connection is SQLITE_OPEN_READONLY, a missing file or
    /// directory is not created, the schema is checked but never created or upgraded (a missing, empty or older store is
    /// refused), the journal mode is left as it is, and every write operation throws <see cref="InvalidOperationException"/>.
    /// Default false: the store creates the file and brings its schema up to date.
    /// </summary>
    public bool ReadOnly { get; init; }

    /// <summary>
    /// The page cache of the writer connection, in MiB (SQLite's own default is 2). The writer is the one thread every
    /// claim and append goes through; with many components its probes of the id index and the heads table miss a small
    /// cache and go to the file on every transaction (reader connections lose their cache whenever the file changed, so
    /// only the writer's is kept warm). Filled only as pages are touched. Default 32; 0 (or less) leaves SQLite's default.
    /// </summary>
    public int WriterCacheMiB { get; init; } = 32;

    /// <summary>The clock that stamps committed_at, created_at and claimed_at. Default: the system clock.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}
