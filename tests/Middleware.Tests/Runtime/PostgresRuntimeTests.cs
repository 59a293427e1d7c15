using Middleware.Recovery.Postgres;
using Middleware.Recovery.Storage;
using Middleware.Tests.Support;

namespace Middleware.Tests.Runtime;

/// <summary>Store recovery on a fresh database of the throwaway PostgreSQL cluster.</summary>
[RequiresPostgres]
public sealed class PostgresRuntimeTests : StoreRecoveryTests
{
    private string? _database;

    protected override async Task<ILogStore> OpenStoreAsync()
    {
        _database ??= await (await PostgresServer.GetAsync()).CreateDatabaseAsync();
        return await PostgresLogStore.OpenAsync(_database);
    }
}
