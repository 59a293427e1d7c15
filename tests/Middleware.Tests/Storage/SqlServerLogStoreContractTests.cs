using Middleware.Recovery.SqlServer;
using Middleware.Recovery.Storage;
using Middleware.Tests.Support;

namespace Middleware.Tests.Storage;

/// <summary>What only the SQL Server store has, run with its fixture (<see cref="SqlServerStores"/>): the name and the schema version check.</summary>
public sealed partial class SqlServerLogStoreContractTests
{
    [StoreFact]
    public void The_name_says_sqlserver_but_not_the_password()
    {
        Assert.StartsWith("sqlserver:", Store.Name);
        Assert.DoesNotContain("Password=", SqlServerLogStore.DescribeWithoutPassword("Server=db;User ID=app;Password=secret"));
    }

    [StoreFact]
    public async Task A_database_written_by_a_newer_schema_is_refused_with_both_versions()
    {
        await SqlServerTestDatabase.ExecuteAsync(Stores.ConnectionString, "INSERT INTO dbo.schema_version(version, script) VALUES (7, '007_future.sql')");
        var error = await Assert.ThrowsAsync<SchemaVersionException>(() => SqlServerLogStore.OpenAsync(Stores.ConnectionString));
        Assert.Contains("schema version 7", error.Message);
        Assert.Contains($"up to {SqlServerSchema.CurrentVersion}", error.Message);
    }
}
