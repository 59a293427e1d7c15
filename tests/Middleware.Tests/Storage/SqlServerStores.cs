using Middleware.Recovery.SqlServer;
using Middleware.Recovery.Storage;
using Middleware.Tests.Support;

namespace Middleware.Tests.Storage;

/// <summary>
/// The SQL Server store on a fresh database per test, dropped afterwards. It runs only when MIDDLEWARE_TEST_SQLSERVER holds
/// a SqlClient connection string (of a login that may create databases); otherwise every test is skipped with that reason.
/// It survives a reopen, and another store on the same database is a second process.
/// </summary>
public sealed class SqlServerStores : StoreFactory
{
    private SqlServerTestDatabase? _database;

    /// <summary>The connection string of the test's database (set by <see cref="CreateStoreAsync"/>).</summary>
    public string ConnectionString => _database?.ConnectionString ?? "";

    public override bool CanReopen => true;

    public override bool IsSharedAcrossProcesses => true;

    public override async Task<ILogStore> CreateStoreAsync()
    {
        _database = await SqlServerTestDatabase.CreateAsync();
        return await OpenStoreAsync();
    }

    public override async Task<ILogStore> OpenStoreAsync() => await SqlServerLogStore.OpenAsync(ConnectionString);

    public override async Task CleanupAsync()
    {
        if (_database is not null) await _database.DropAsync();
    }
}

/// <summary>The storage contract against SQL Server; what only this store has is in SqlServerLogStoreContractTests.cs.</summary>
[RequiresSqlServer]
public sealed partial class SqlServerLogStoreContractTests : LogStoreContract<SqlServerStores>;

/// <summary>The cluster contract against SQL Server; what only this store has is in SqlServerClusterStoreContractTests.cs.</summary>
[RequiresSqlServer]
public sealed partial class SqlServerClusterStoreContractTests : ClusterStoreContract<SqlServerStores>;
