using System.Reflection;
using Middleware.Recovery.Storage;

namespace Middleware.Recovery.Sqlite;

/// <summary>
/// Brings a database file up to the schema this build ships. The scripts are the files in sql/sqlite,
/// embedded as resources <c>sqlite/NNN_name.sql</c>; each one runs once, in order, and is recorded in
/// <c>schema_version</c> in the same transaction, so a crash mid-upgrade leaves the previous version intact.
/// </summary>
internal static class SchemaMigrator
{
    private const string ResourcePrefix = "sqlite/";

    /// <summary>The scripts this build ships, ordered by version (1..N, no gaps).</summary>
    public static IReadOnlyList<SchemaScript> Scripts { get; } = LoadScripts();

    /// <summary>The highest schema version this build knows.</summary>
    public static int CurrentVersion => Scripts.Count == 0 ? 0 : Scripts[^1].Version;

    /// <summary>
    /// Applies the missing scripts under a write lock (BEGIN IMMEDIATE), so two processes opening the same new
    /// file do not both create the tables. Throws <see cref="SchemaVersionException"/> for a file this build
    /// must not touch. A file already at this build's version is only read (no write lock): a process that opens a
    /// busy store beside running silos does not compete with their writers for the lock it does not need.
    /// </summary>
    public static void Migrate(SqliteDb db, long nowTicks)
    {
        if (ReadVersion(db) == CurrentVersion) return;
        db.Exec("BEGIN IMMEDIATE");
        try
        {
            var found = ReadVersion(db);
            foreach (var script in Scripts.Where(s => s.Version > found))
            {
                db.Exec(script.Sql);
                var insert = db.Prepare("INSERT INTO schema_version(version, script, applied_at) VALUES (?1, ?2, ?3)");
                insert.Bind(1, script.Version).Bind(2, script.FileName).Bind(3, nowTicks).Run();
            }

            db.Exec("COMMIT");
        }
        catch
        {
            if (!db.InAutocommit) db.Exec("ROLLBACK");
            throw;
        }
    }

    /// <summary>The version recorded in the file: 0 for an empty file; throws when it is unusable (<see cref="SchemaVersions.Check"/>).</summary>
    private static int ReadVersion(SqliteDb db)
    {
        var tables = ReadList(db, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'", s => s.Text(0) ?? "");
        List<long> versions = tables.Contains("schema_version") ? ReadList(db, "SELECT version FROM schema_version ORDER BY version", s => s.Int64(0)) : [];
        return SchemaVersions.Check(tables, versions, CurrentVersion, new SchemaLocation("SQLite", db.Path, "file", null, "a new data file"));
    }

    private static List<T> ReadList<T>(SqliteDb db, string sql, Func<SqliteStatement, T> read)
    {
        var list = new List<T>();
        var statement = db.Prepare(sql);
        try
        {
            while (statement.Step()) list.Add(read(statement));
        }
        finally
        {
            statement.Reset();
        }

        return list;
    }

    private static List<SchemaScript> LoadScripts() => [.. SchemaScripts.Load(typeof(SchemaMigrator).Assembly, ResourcePrefix)];
}
