using Bank;
using Microsoft.Data.Sqlite;
using Middleware.Recovery.Procedures;
using Middleware.Recovery.Runtime;

namespace Middleware.Tests.Support;

/// <summary>The Bank sample posts withdrawals to a "ledger" back end: a SQLite file for tests.</summary>
public static class TestLedger
{
    /// <summary>Registers a SQLite ledger (with its table) in <paramref name="directory"/> and returns the environment.</summary>
    public static RuntimeEnvironment Register(RuntimeEnvironment environment, string directory)
    {
        var source = SqliteFactory.Instance.CreateDataSource($"Data Source={Path.Combine(directory, "ledger.db")};Default Timeout=30;Pooling=False");
        using (var connection = source.OpenConnection())
        using (var command = connection.CreateCommand())
        {
            command.CommandText = Ledger.CreateTableSql;
            command.ExecuteNonQuery();
        }

        environment.Backends.Add(Ledger.BackendName, source, BackendDialect.Sqlite);
        return environment;
    }
}
