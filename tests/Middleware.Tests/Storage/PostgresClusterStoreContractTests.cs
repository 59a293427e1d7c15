using Middleware.Recovery.Postgres;
using Middleware.Recovery.Storage;
using Middleware.Tests.Support;

namespace Middleware.Tests.Storage;

/// <summary>
/// The cluster contract against PostgreSQL (a fresh database per test on the process-wide throwaway cluster; the
/// second instance is another store with its own data source, as another silo process would open it).
/// </summary>
[RequiresPostgres]
public sealed class PostgresClusterStoreContractTests : ClusterStoreContract
{
    private string _connectionString = "";

    protected override async Task<ILogStore> CreateStoreAsync()
    {
        var server = await PostgresServer.GetAsync();
        _connectionString = await server.CreateDatabaseAsync();
        return await PostgresLogStore.OpenAsync(_connectionString);
    }

    protected override async Task<ILogStore?> OpenOtherAsync() => await PostgresLogStore.OpenAsync(_connectionString);

    [StoreFact]
    public async Task The_cluster_tables_come_with_schema_version_2()
    {
        Assert.Equal(2, PostgresSchema.CurrentVersion);
        Assert.Equal("002_cluster.sql", PostgresSchema.Scripts[1].FileName);
        Assert.Equal(3L, await PostgresServer.ExecuteAsync(_connectionString,
            "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename IN ('silos', 'sessions', 'session_items')"));
    }
}
