using System.Reflection;
using Middleware.Recovery.Storage;
using Npgsql;

namespace Middleware.Recovery.Postgres;

/// <summary>
/// Brings a database up to the schema this build ships. The scripts are the files in sql/postgres, embedded
/// as resources <c>postgres/NNN_name.sql</c>; each one runs once, in order, and is recorded in
/// <c>schema_version</c> in the same transaction. The whole upgrade runs under a transaction-level advisory
/// lock, so two processes starting at once against a new database do not both create the tables: the
/// second waits, then finds the schema current.
/// </summary>
internal static class PostgresSchema
{
    /// <summary>The advisory lock key of schema upgrades ("mwschema" in ASCII); advisory locks are per database.</summary>
    public const long AdvisoryLockKey = 0x6d77736368656d61;

    private const string ResourcePrefix = "postgres/";

    /// <summary>The scripts this build ships, ordered by version (1..N, no gaps).</summary>
    public static IReadOnlyList<SchemaScript> Scripts { get; } = LoadScripts();

    /// <summary>The highest schema version this build knows.</summary>
    public static int CurrentVersion => Scripts.Count == 0 ? 0 : Scripts[^1].Version;

    /// <summary>
    /// Applies the missing scripts in one transaction under the advisory lock. Throws
    /// <see cref="SchemaVersionException"/> for a database this build must not touch.
    /// </summary>
    public static async Task MigrateAsync(NpgsqlConnection connection, string storeName, CancellationToken cancellationToken)
    {
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using (var lockCommand = new NpgsqlCommand("SELECT pg_advisory_xact_lock($1)", connection, transaction))
        {
            lockCommand.Parameters.Add(new NpgsqlParameter<long> { TypedValue = AdvisoryLockKey });
            await lockCommand.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        var found = await ReadVersionAsync(connection, transaction, storeName, cancellationToken).ConfigureAwait(false);
        foreach (var script in Scripts.Where(s => s.Version > found))
        {
            await using var run = new NpgsqlCommand(script.Sql, connection, transaction);
            await run.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            await using var record = new NpgsqlCommand("INSERT INTO schema_version(version, script) VALUES ($1, $2)", connection, transaction);
            record.Parameters.Add(new NpgsqlParameter<int> { TypedValue = script.Version });
            record.Parameters.Add(new NpgsqlParameter<string> { TypedValue = script.FileName });
            await record.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// For a read-only open: reads the version in a read-only transaction, without the advisory lock or any script, and
    /// requires this build's version (<see cref="SchemaVersions.RequireCurrent"/>): an empty database, one of another
    /// program and an older schema are refused, and nothing is created.
    /// </summary>
    public static async Task CheckCurrentAsync(NpgsqlConnection connection, string storeName, CancellationToken cancellationToken)
    {
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using (var readOnly = new NpgsqlCommand("SET TRANSACTION READ ONLY", connection, transaction))
            await readOnly.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        var found = await ReadVersionAsync(connection, transaction, storeName, cancellationToken).ConfigureAwait(false);
        await transaction.RollbackAsync(cancellationToken).ConfigureAwait(false);
        SchemaVersions.RequireCurrent(found, CurrentVersion, Location(storeName), CreateHint);
    }

    /// <summary>How to create or upgrade a PostgreSQL store, for the messages of a read-only open.</summary>
    public const string CreateHint = "start a silo of this build on it (a silo creates or upgrades the schema when it opens the store)";

    private static SchemaLocation Location(string storeName) => new("PostgreSQL", storeName, "database", "its schema", "a new (empty) database");

    /// <summary>The version recorded in the database: 0 for an empty schema; throws when it is unusable (<see cref="SchemaVersions.Check"/>).</summary>
    private static async Task<int> ReadVersionAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string storeName, CancellationToken cancellationToken)
    {
        var tables = await ReadListAsync<string>(connection, transaction,
            "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename", cancellationToken).ConfigureAwait(false);
        var versions = tables.Contains("schema_version")
            ? await ReadListAsync<long>(connection, transaction, "SELECT version::bigint FROM schema_version ORDER BY version", cancellationToken).ConfigureAwait(false)
            : [];
        return SchemaVersions.Check(tables, versions, CurrentVersion, Location(storeName));
    }

    private static async Task<List<T>> ReadListAsync<T>(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, CancellationToken cancellationToken)
    {
        var list = new List<T>();
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false)) list.Add(reader.GetFieldValue<T>(0));
        return list;
    }

    private static List<SchemaScript> LoadScripts() => [.. SchemaScripts.Load(typeof(PostgresSchema).Assembly, ResourcePrefix)];
}
