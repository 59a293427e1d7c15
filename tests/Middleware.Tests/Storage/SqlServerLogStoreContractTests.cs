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
    private SqlServerTestDatabase? _database;
    private string _connectionString = "";

    protected override async Task<ILogStore> CreateStoreAsync()
    {
        _database = await SqlServerTestDatabase.CreateAsync();
        _connectionString = _database.ConnectionString;
        return await SqlServerLogStore.OpenAsync(_connectionString);
    }

    protected override async Task<ILogStore?> ReopenAsync(ILogStore old)
    {
        await old.DisposeAsync();
        return await SqlServerLogStore.OpenAsync(_connectionString);
    }

    protected override async Task CleanupAsync()
    {
        if (_database is not null) await _database.DropAsync();
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
        await SqlServerTestDatabase.ExecuteAsync(_connectionString, "INSERT INTO dbo.schema_version(version, script) VALUES (7, '007_future.sql')");
        var error = await Assert.ThrowsAsync<SchemaVersionException>(() => SqlServerLogStore.OpenAsync(_connectionString));
        Assert.Contains("schema version 7", error.Message);
        Assert.Contains($"up to {SqlServerSchema.CurrentVersion}", error.Message);
    }
}
