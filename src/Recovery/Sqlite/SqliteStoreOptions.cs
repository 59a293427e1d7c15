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

    /// <summary>The clock that stamps committed_at, created_at and claimed_at. Default: the system clock.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}
