using Microsoft.Data.SqlClient;
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
    private string _database = "";
    private string _connectionString = "";

    protected override async Task<ILogStore> CreateStoreAsync()
    {
        var server = RequiresSqlServerAttribute.ConnectionString
            ?? throw new InvalidOperationException($"{RequiresSqlServerAttribute.Variable} is not set (the test should have been skipped).");
        _database = "mw_t_" + Guid.NewGuid().ToString("N");
        await ExecuteAsync(server, $"CREATE DATABASE [{_database}]");
        _connectionString = new SqlConnectionStringBuilder(server) { InitialCatalog = _database, Pooling = false }.ConnectionString;
        return await SqlServerLogStore.OpenAsync(_connectionString);
    }

    protected override async Task<ILogStore?> OpenOtherAsync() => await SqlServerLogStore.OpenAsync(_connectionString);

    protected override async Task CleanupAsync()
    {
        if (RequiresSqlServerAttribute.ConnectionString is { } server && _database.Length > 0)
            await ExecuteAsync(server, $"ALTER DATABASE [{_database}] SET SINGLE_USER WITH ROLLBACK IMMEDIATE; DROP DATABASE [{_database}]");
    }

    [StoreFact]
    public void The_cluster_tables_come_with_schema_version_2()
    {
        Assert.Equal(2, SqlServerSchema.CurrentVersion);
        Assert.Equal("002_cluster.sql", SqlServerSchema.Scripts[1].FileName);
    }

    private static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new SqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new SqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
