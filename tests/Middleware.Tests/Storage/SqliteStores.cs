using Middleware.Recovery.Sqlite;
using Middleware.Recovery.Storage;

namespace Middleware.Tests.Storage;

/// <summary>
/// The SQLite store on a fresh file in a temp directory of its own per test, in a sub-folder that does not exist yet
/// (so every test also checks that opening creates it). It survives a reopen, and several instances on one file fence
/// each other through SQLite's write lock as processes do.
/// </summary>
public sealed class SqliteStores : StoreFactory
{
    /// <summary>The test's directory, deleted afterwards.</summary>
    public string Directory { get; } = Path.Combine(Path.GetTempPath(), "mw-sqlite-" + Guid.NewGuid().ToString("N"));

    /// <summary>The store's file.</summary>
    public string DbPath => Path.Combine(Directory, "data", "store.db");

    public override bool CanReopen => true;

    public override bool IsSharedAcrossProcesses => true;

    public override Task<ILogStore> CreateStoreAsync() => OpenStoreAsync();

    public override Task<ILogStore> OpenStoreAsync() => Task.FromResult<ILogStore>(SqliteLogStore.Open(DbPath));

    public override Task CleanupAsync()
    {
        if (System.IO.Directory.Exists(Directory)) System.IO.Directory.Delete(Directory, recursive: true);
        return Task.CompletedTask;
    }
}

/// <summary>The storage contract against SQLite; what only the file store has is in SqliteLogStoreContractTests.cs.</summary>
public sealed partial class SqliteLogStoreContractTests : LogStoreContract<SqliteStores>;

/// <summary>The cluster contract against SQLite; what only the file store has is in SqliteClusterStoreContractTests.cs.</summary>
public sealed partial class SqliteClusterStoreContractTests : ClusterStoreContract<SqliteStores>;
