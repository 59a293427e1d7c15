using Microsoft.Data.Sqlite;
using Middleware.Recovery.Sqlite;

namespace Middleware.Tests.Storage;

/// <summary>
/// The SQLite writer connection's page cache (<see cref="SqliteStoreOptions.WriterCacheMiB"/>): 128 MiB unless set, so
/// the heads and id-index pages of a million components (about 55 MiB) stay in memory instead of being read from the
/// file on every warm turn (bench/README.md, "Warm at a million live components (session 13)"); a setting reaches the
/// connection, and 0 leaves SQLite's own default.
/// </summary>
public sealed class SqliteWriterCacheTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mw-writercache-").FullName;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task The_writer_cache_is_128_MiB_unless_set()
    {
        await using var store = SqliteLogStore.Open(Path.Combine(_dir, "default.db"));
        Assert.Equal(128 * 1024, store.WriterCacheKiB);
    }

    [Fact]
    public async Task A_set_writer_cache_reaches_the_connection_and_zero_keeps_sqlites_default()
    {
        await using (var store = SqliteLogStore.Open(Path.Combine(_dir, "set.db"), new SqliteStoreOptions { WriterCacheMiB = 8 }))
            Assert.Equal(8 * 1024, store.WriterCacheKiB);

        await using var unset = SqliteLogStore.Open(Path.Combine(_dir, "unset.db"), new SqliteStoreOptions { WriterCacheMiB = 0 });
        Assert.Equal(2000, unset.WriterCacheKiB); // SQLite's compiled-in default: cache_size=-2000
    }
}
