using Middleware.Recovery.Postgres;
using Middleware.Recovery.Storage;
using Middleware.Tests.Support;

namespace Middleware.Tests.Storage;

/// <summary>
/// The PostgreSQL store on a fresh database per test, on the process-wide throwaway cluster (<see cref="PostgresServer"/>).
/// It survives a reopen, and another store with its own data source on the same database is a second process.
/// </summary>
public sealed class PostgresStores : StoreFactory
{
    /// <summary>The connection string of the test's database (set by <see cref="CreateStoreAsync"/>).</summary>
    public string ConnectionString { get; private set; } = "";

    public override bool CanReopen => true;

    public override bool IsSharedAcrossProcesses => true;

    public override async Task<ILogStore> CreateStoreAsync()
    {
        var server = await PostgresServer.GetAsync();
        ConnectionString = await server.CreateDatabaseAsync();
        return await OpenStoreAsync();
    }

    public override async Task<ILogStore> OpenStoreAsync() => await PostgresLogStore.OpenAsync(ConnectionString);
}

/// <summary>The storage contract against PostgreSQL; what only this store has is in PostgresLogStoreContractTests.cs.</summary>
[RequiresPostgres]
public sealed partial class PostgresLogStoreContractTests : LogStoreContract<PostgresStores>;

/// <summary>The cluster contract against PostgreSQL; what only this store has is in PostgresClusterStoreContractTests.cs.</summary>
[RequiresPostgres]
public sealed partial class PostgresClusterStoreContractTests : ClusterStoreContract<PostgresStores>;
