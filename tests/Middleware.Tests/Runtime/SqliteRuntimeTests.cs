using Middleware.Recovery.Sqlite;
using Middleware.Recovery.Storage;

namespace Middleware.Tests.Runtime;

/// <summary>Store recovery on a SQLite file in a temporary directory.</summary>
public sealed class SqliteRuntimeTests : StoreRecoveryTests, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mw-rt-").FullName;

    protected override Task<ILogStore> OpenStoreAsync() => Task.FromResult<ILogStore>(SqliteLogStore.Open(Path.Combine(_dir, "log.db")));

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
