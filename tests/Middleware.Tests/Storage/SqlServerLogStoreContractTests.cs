using Microsoft.Data.SqlClient;
using Middleware.Recovery.SqlServer;
using Middleware.Recovery.Storage;
using Middleware.Tests.Support;

namespace Middleware.Tests.Storage;

/// <summary>
/// The storage contract against SQL Server. It runs only when MIDDLEWARE_TEST_SQLSERVER holds a SqlClient
/// connection string (of a login that may create databases); otherwise every test is skipped with that reason.
/// Each test gets a fresh database, dropped afterwards.
/// </summary>
[RequiresSqlServer]
public sealed class SqlServerLogStoreContractTests : LogStoreContract
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

    protected override async Task<ILogStore?> ReopenAsync(ILogStore old)
    {
        await old.DisposeAsync();
        return await SqlServerLogStore.OpenAsync(_connectionString);
    }

    protected override async Task CleanupAsync()
    {
        if (RequiresSqlServerAttribute.ConnectionString is { } server && _database.Length > 0)
            await ExecuteAsync(server, $"ALTER DATABASE [{_database}] SET SINGLE_USER WITH ROLLBACK IMMEDIATE; DROP DATABASE [{_database}]");
    }

    [StoreFact]
    public void The_name_says_sqlserver_but_not_the_password()
    {
        Assert.StartsWith("sqlserver:", Store.Name);
        Assert.DoesNotContain("Password=", SqlServerLogStore.DescribeWithoutPassword("Server=db;User ID=app;Password=secret"));
    }

    [StoreFact]
    public async Task A_database_written_by_a_newer_schema_is_refused_with_both_versions()
    {
        await ExecuteAsync(_connectionString, "INSERT INTO dbo.schema_version(version, script) VALUES (7, '007_future.sql')");
        var error = await Assert.ThrowsAsync<SchemaVersionException>(() => SqlServerLogStore.OpenAsync(_connectionString));
        Assert.Contains("schema version 7", error.Message);
        Assert.Contains($"up to {SqlServerSchema.CurrentVersion}", error.Message);
    }

    private static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new SqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new SqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
