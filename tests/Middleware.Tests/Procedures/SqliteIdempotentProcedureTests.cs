using System.Data.Common;
using Microsoft.Data.Sqlite;
using Middleware.Recovery.Procedures;

namespace Middleware.Tests.Procedures;

public sealed class SqliteIdempotentProcedureTests : IdempotentProcedureTests
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mw-ledger-").FullName;

    protected override BackendDialect Dialect => BackendDialect.Sqlite;

    protected override Task<DbDataSource> CreateBackendAsync() =>
        Task.FromResult(SqliteFactory.Instance.CreateDataSource($"Data Source={Path.Combine(_dir, "ledger.db")};Default Timeout=30;Pooling=False"));

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }
}
