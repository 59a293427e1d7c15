using Middleware.Recovery.SqlServer;
using Middleware.Recovery.Storage;
using Middleware.Tests.Support;

namespace Middleware.Tests.Storage;

/// <summary>
/// The cluster contract against SQL Server. It runs only when MIDDLEWARE_TEST_SQLSERVER holds a SqlClient
/// connection string (of a login that may create databases); otherwise every test is skipped with that reason.
/// Each test gets a fresh database, dropped afterwards; the second instance is another store on it.
/// </summary>
[RequiresSqlServer]
public sealed class SqlServerClusterStoreContractTests : ClusterStoreContract
{
    private SqlServerTestDatabase? _database;
    private string _connectionString = "";

    protected override async Task<ILogStore> CreateStoreAsync()
    {
        _database = await SqlServerTestDatabase.CreateAsync();
        _connectionString = _database.ConnectionString;
        return await SqlServerLogStore.OpenAsync(_connectionString);
    }

    protected override async Task<ILogStore?> OpenOtherAsync() => await SqlServerLogStore.OpenAsync(_connectionString);

    protected override async Task CleanupAsync()
    {
        if (_database is not null) await _database.DropAsync();
    }

    [StoreFact]
    public void The_cluster_tables_come_with_schema_versions_2_and_3()
    {
        Assert.Equal(3, SqlServerSchema.CurrentVersion);
        Assert.Equal("002_cluster.sql", SqlServerSchema.Scripts[1].FileName);
        Assert.Equal("003_silo_contact.sql", SqlServerSchema.Scripts[2].FileName);
    }
}
