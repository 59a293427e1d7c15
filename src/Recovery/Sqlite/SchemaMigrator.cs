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
    /// must not touch.
    /// </summary>
    public static void Migrate(SqliteDb db, long nowTicks)
    {
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

    /// <summary>The version recorded in the file: 0 for an empty file; throws when it is unusable.</summary>
    private static int ReadVersion(SqliteDb db)
    {
        var tables = new List<string>();
        var listTables = db.Prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'");
        try
        {
            while (listTables.Step()) tables.Add(listTables.Text(0) ?? "");
        }
        finally
        {
            listTables.Reset();
        }

        if (!tables.Contains("schema_version"))
        {
            if (tables.Count == 0) return 0;
            throw new SchemaVersionException(
                $"The SQLite file '{db.Path}' has tables ({string.Join(", ", tables.Take(5))}) but no schema_version table, " +
                $"so it is not a log store of this middleware (expected schema version {CurrentVersion}). " +
                "Point the store at a new data file, or restore the right file.");
        }

        var versions = new List<long>();
        var read = db.Prepare("SELECT version FROM schema_version ORDER BY version");
        try
        {
            while (read.Step()) versions.Add(read.Int64(0));
        }
        finally
        {
            read.Reset();
        }

        var max = versions.Count == 0 ? 0 : versions[^1];
        if (max > CurrentVersion)
        {
            throw new SchemaVersionException(
                $"The SQLite log store '{db.Path}' is at schema version {max}, but this build of the middleware knows " +
                $"schema versions up to {CurrentVersion} (expected version {CurrentVersion}). A newer middleware wrote this file; " +
                $"upgrade the middleware to a release that ships schema {max}, or point this one at a new data file.");
        }

        for (var i = 0; i < versions.Count; i++)
        {
            if (versions[i] != i + 1)
            {
                throw new SchemaVersionException(
                    $"The schema_version table of the SQLite log store '{db.Path}' is inconsistent: found versions " +
                    $"[{string.Join(", ", versions)}], expected 1..{max} with no gaps (this build ships up to version {CurrentVersion}). " +
                    "The file was edited by hand or damaged; restore it from a backup or point the store at a new data file.");
            }
        }

        if (versions.Count == 0)
        {
            throw new SchemaVersionException(
                $"The schema_version table of the SQLite log store '{db.Path}' is empty although the table exists " +
                $"(found version none, expected {CurrentVersion}): an earlier setup did not finish. Point the store at a new data file.");
        }

        return (int)max;
    }

    private static List<SchemaScript> LoadScripts() => [.. SchemaScripts.Load(typeof(SchemaMigrator).Assembly, ResourcePrefix)];
}
