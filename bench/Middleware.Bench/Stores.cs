using Middleware.Recovery.Sqlite;
using Middleware.Recovery.Storage;
using Middleware.Recovery.Stores;

namespace Middleware.Bench;

/// <summary>Opens the store of a scenario (server stores through LogStores) and removes a temporary SQLite file afterwards.</summary>
internal sealed class BenchStore : IAsyncDisposable
{
    private readonly string? _tempPath;

    private BenchStore(ILogStore store, string? path, string? tempPath)
    {
        Store = store;
        Path = path;
        _tempPath = tempPath;
    }

    public ILogStore Store { get; }

    /// <summary>The SQLite file, the name of a server store (without password), or null for the memory store.</summary>
    public string? Path { get; }

    /// <summary>Opens <paramref name="kind"/>; for a server store <paramref name="dbPath"/> holds the whole --store setting.</summary>
    public static async Task<BenchStore> OpenAsync(StoreKind kind, string? dbPath)
    {
        if (kind is StoreKind.Postgres or StoreKind.SqlServer)
        {
            var server = await LogStores.OpenAsync(dbPath ?? throw new UsageException("A server store needs its connection setting.")).ConfigureAwait(false);
            return new BenchStore(server, server.Name, null);
        }

        return Open(kind, dbPath);
    }

    private static BenchStore Open(StoreKind kind, string? dbPath)
    {
        if (kind == StoreKind.Memory) return new BenchStore(new MemoryLogStore(), null, null);
        if (dbPath is not null) return new BenchStore(SqliteLogStore.Open(dbPath), dbPath, null);
        // The system temp dir is on the same disk as the repo here (not tmpfs), so fsync costs what it would in production.
        var temp = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"middleware-bench-{Environment.ProcessId}-{Guid.NewGuid():N}.db");
        return new BenchStore(SqliteLogStore.Open(temp), temp, temp);
    }

    public async ValueTask DisposeAsync()
    {
        await Store.DisposeAsync().ConfigureAwait(false);
        if (_tempPath is null) return;
        foreach (var suffix in new[] { "", "-wal", "-shm", "-journal" })
        {
            try
            {
                File.Delete(_tempPath + suffix);
            }
            catch (IOException e)
            {
                // A leftover temp file is harmless to the result; say so instead of failing the run.
                Console.Error.WriteLine($"warning: could not delete {_tempPath + suffix}: {e.Message}");
            }
        }
    }
}
