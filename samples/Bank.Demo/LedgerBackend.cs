using System.Data.Common;
using Microsoft.Data.Sqlite;
using Middleware.Recovery.Procedures;
using Middleware.Recovery.Stores;
using Npgsql;

namespace Bank.Demo;

/// <summary>
/// Where the demo's external ledger lives: for a SQLite log store, a separate database file <c>ledger.db</c>
/// beside it; for a PostgreSQL log store, the same PostgreSQL database (table <c>ledger</c>).
/// </summary>
public static class LedgerBackend
{
    /// <summary>One posted withdrawal, as the ledger holds it.</summary>
    public sealed record Entry(string EntryId, string RequestId, string Account, long Amount);

    /// <summary>The ledger's data source and dialect for a log store setting.</summary>
    public static (DbDataSource Source, BackendDialect Dialect, string Description) For(string storeSetting)
    {
        var scheme = LogStores.SchemeOf(storeSetting);
        var value = storeSetting[(scheme.Length + 1)..];
        return scheme switch
        {
            "sqlite" => SqliteLedger(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(value)) ?? ".", "ledger.db")),
            "postgres" => (NpgsqlDataSource.Create(value), BackendDialect.Postgres, "the log's PostgreSQL database, table ledger"),
            // A sharded log: the ledger lives in the first shard's database (a back end of its own, beside the cluster tables).
            "sharded" => For(LogStores.ShardSettings(value)[0]),
            _ => throw new ArgumentException($"The demo keeps its ledger in SQLite or PostgreSQL; the store '{scheme}:' has no ledger. Use --store sqlite:PATH or --store postgres:..."),
        };
    }

    /// <summary>The ledger file of a SQLite log file (wiped together with it).</summary>
    public static string SqlitePathFor(string dbPath) => Path.Combine(Path.GetDirectoryName(dbPath) ?? ".", "ledger.db");

    /// <summary>Creates the ledger table if needed.</summary>
    public static async Task EnsureTableAsync(DbDataSource source)
    {
        await using var connection = await source.OpenConnectionAsync().ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = Ledger.CreateTableSql;
        await command.ExecuteNonQueryAsync().ConfigureAwait(false);
        if (connection is SqliteConnection)
        {
            // WAL (persistent in the file): a ledger commit is one fsync, and readers do not block writers.
            command.CommandText = "PRAGMA journal_mode=WAL";
            await command.ExecuteNonQueryAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Every ledger row of the given accounts.</summary>
    public static async Task<List<Entry>> ReadAsync(DbDataSource source, IReadOnlyCollection<string> accounts, CancellationToken cancellationToken)
    {
        var wanted = accounts.ToHashSet(StringComparer.Ordinal);
        var entries = new List<Entry>();
        await using var connection = await source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT entry_id, request_id, account, amount FROM ledger";
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var account = reader.GetString(2);
            if (wanted.Contains(account)) entries.Add(new Entry(reader.GetString(0), reader.GetString(1), account, reader.GetInt64(3)));
        }

        return entries;
    }

    private static (DbDataSource, BackendDialect, string) SqliteLedger(string path) =>
        (SqliteFactory.Instance.CreateDataSource($"Data Source={path};Default Timeout=30"), BackendDialect.Sqlite, path);
}
