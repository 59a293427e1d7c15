using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.Data.SqlClient;
using Middleware.Recovery.Storage;

namespace Middleware.Recovery.SqlServer;

/// <summary>
/// Brings a database up to the schema this build ships. The scripts are the files in sql/sqlserver, embedded
/// as resources <c>sqlserver/NNN_name.sql</c>; each runs once, in order, recorded in <c>schema_version</c> in
/// the same transaction. The upgrade holds an exclusive application lock (<c>sp_getapplock</c>), so two
/// processes starting at once against a new database do not both create the tables.
/// </summary>
internal static partial class SqlServerSchema
{
    /// <summary>The application lock name of schema upgrades; application locks are per database.</summary>
    public const string AppLockName = "middleware-log-store-schema";

    private const string ResourcePrefix = "sqlserver/";

    /// <summary>The scripts this build ships, ordered by version (1..N, no gaps).</summary>
    public static IReadOnlyList<SchemaScript> Scripts { get; } = LoadScripts();

    /// <summary>The highest schema version this build knows.</summary>
    public static int CurrentVersion => Scripts.Count == 0 ? 0 : Scripts[^1].Version;

    /// <summary>Applies the missing scripts in one transaction; throws <see cref="SchemaVersionException"/> for a database this build must not touch.</summary>
    public static async Task MigrateAsync(SqlConnection connection, string storeName, CancellationToken cancellationToken)
    {
        await using var transaction = (SqlTransaction)await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using (var applock = new SqlCommand(
            "DECLARE @r int; EXEC @r = sp_getapplock @Resource = @name, @LockMode = 'Exclusive', @LockOwner = 'Transaction', @LockTimeout = 60000; " +
            "IF @r < 0 THROW 50001, 'Timed out waiting for another process upgrading the log store schema (sp_getapplock).', 1;", connection, transaction))
        {
            applock.Parameters.Add(new SqlParameter("@name", System.Data.SqlDbType.NVarChar, 255) { Value = AppLockName });
            await applock.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        var found = await ReadVersionAsync(connection, transaction, storeName, cancellationToken).ConfigureAwait(false);
        foreach (var script in Scripts.Where(s => s.Version > found))
        {
            foreach (var batch in BatchSeparator().Split(script.Sql).Where(b => !string.IsNullOrWhiteSpace(b)))
            {
                await using var run = new SqlCommand(batch, connection, transaction);
                await run.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            await using var record = new SqlCommand("INSERT INTO dbo.schema_version(version, script) VALUES (@v, @s)", connection, transaction);
            record.Parameters.Add(new SqlParameter("@v", System.Data.SqlDbType.Int) { Value = script.Version });
            record.Parameters.Add(new SqlParameter("@s", System.Data.SqlDbType.NVarChar, 200) { Value = script.FileName });
            await record.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// For a read-only open: reads the version without the application lock or any script and requires this build's
    /// version (<see cref="SchemaVersions.RequireCurrent"/>): an empty database, one of another program and an older
    /// schema are refused, and nothing is created.
    /// </summary>
    public static async Task CheckCurrentAsync(SqlConnection connection, string storeName, CancellationToken cancellationToken)
    {
        await using var transaction = (SqlTransaction)await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        var found = await ReadVersionAsync(connection, transaction, storeName, cancellationToken).ConfigureAwait(false);
        await transaction.RollbackAsync(cancellationToken).ConfigureAwait(false);
        SchemaVersions.RequireCurrent(found, CurrentVersion, Location(storeName), CreateHint);
    }

    /// <summary>How to create or upgrade a SQL Server store, for the messages of a read-only open.</summary>
    public const string CreateHint = "start a silo of this build on it (a silo creates or upgrades the schema when it opens the store)";

    private static SchemaLocation Location(string storeName) => new("SQL Server", storeName, "database", "schema dbo", "a new (empty) database");

    /// <summary>The version recorded in the database: 0 for an empty schema; throws when it is unusable (<see cref="SchemaVersions.Check"/>).</summary>
    private static async Task<int> ReadVersionAsync(SqlConnection connection, SqlTransaction transaction, string storeName, CancellationToken cancellationToken)
    {
        var tables = await ReadListAsync<string>(connection, transaction, "SELECT name FROM sys.tables WHERE schema_id = SCHEMA_ID('dbo') ORDER BY name", cancellationToken).ConfigureAwait(false);
        var versions = tables.Contains("schema_version")
            ? await ReadListAsync<long>(connection, transaction, "SELECT CAST(version AS bigint) FROM dbo.schema_version ORDER BY version", cancellationToken).ConfigureAwait(false)
            : [];
        return SchemaVersions.Check(tables, versions, CurrentVersion, Location(storeName));
    }

    private static async Task<List<T>> ReadListAsync<T>(SqlConnection connection, SqlTransaction transaction, string sql, CancellationToken cancellationToken)
    {
        var list = new List<T>();
        await using var command = new SqlCommand(sql, connection, transaction);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false)) list.Add(reader.GetFieldValue<T>(0));
        return list;
    }

    [GeneratedRegex(@"^\s*GO\s*$", RegexOptions.Multiline | RegexOptions.IgnoreCase)]
    private static partial Regex BatchSeparator();

    private static List<SchemaScript> LoadScripts() => [.. SchemaScripts.Load(typeof(SqlServerSchema).Assembly, ResourcePrefix)];
}
