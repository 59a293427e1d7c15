using Middleware.Admin.Cli;
using Middleware.Admin.Output;
using Middleware.Recovery.Sqlite;
using SQLitePCL;

namespace Middleware.Admin.Stores;

/// <summary>
/// Reads a SQLite store's <c>schema_version</c> table read-only and compares it with the scripts this build
/// ships (the provider's embedded <c>sqlite/NNN_name.sql</c> resources), without applying anything.
/// </summary>
internal static class SqliteSchema
{
    private const string ResourcePrefix = "sqlite/";

    /// <summary>The script file names this build ships, in version order.</summary>
    public static IReadOnlyList<string> Shipped { get; } = typeof(SqliteLogStore).Assembly.GetManifestResourceNames()
        .Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal) && n.EndsWith(".sql", StringComparison.Ordinal))
        .Select(n => n[ResourcePrefix.Length..])
        .Order(StringComparer.Ordinal)
        .ToList();

    /// <summary>The version recorded in the file and the scripts applied to it.</summary>
    public static SchemaShape Read(string path)
    {
        Batteries_V2.Init();
        var scripts = new List<(long Version, string Script)>();
        var rc = raw.sqlite3_open_v2(path, out var db, raw.SQLITE_OPEN_READONLY, null);
        try
        {
            if (rc != raw.SQLITE_OK) throw new AdminException($"Cannot open SQLite store '{path}': {raw.sqlite3_errstr(rc).utf8_to_string()}.");
            if (Query(db, path, "SELECT count(*) FROM sqlite_master WHERE type = 'table'", _ => { }) == 0)
                throw new AdminException($"'{path}' is empty (no tables), so it is not a log store yet; create it with mw db migrate.");
            if (Query(db, path, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'", _ => { }) == 0)
                throw new AdminException($"'{path}' has no schema_version table, so it is not a log store of this middleware (or was never set up: run mw db migrate).");
            Query(db, path, "SELECT version, script FROM schema_version ORDER BY version", s =>
                scripts.Add((raw.sqlite3_column_int64(s, 0), raw.sqlite3_column_text(s, 1).utf8_to_string())));
        }
        finally
        {
            raw.sqlite3_close_v2(db);
        }

        var found = scripts.Count == 0 ? 0 : (int)scripts[^1].Version;
        var expected = Shipped.Count;
        var consistent = scripts.Select((s, i) => s.Version == i + 1).All(ok => ok);
        return new SchemaShape("sqlite:" + path, found, expected, consistent && found == expected, scripts.Select(s => s.Script).ToList());
    }

    /// <summary>Runs a query, calling <paramref name="row"/> per row; returns the first column of the first row.</summary>
    private static long Query(sqlite3 db, string path, string sql, Action<sqlite3_stmt> row)
    {
        if (raw.sqlite3_prepare_v2(db, sql, out var stmt) != raw.SQLITE_OK)
            throw new AdminException($"Cannot read the schema of SQLite store '{path}': {raw.sqlite3_errmsg(db).utf8_to_string()}.");
        try
        {
            long first = 0;
            var any = false;
            int rc;
            while ((rc = raw.sqlite3_step(stmt)) == raw.SQLITE_ROW)
            {
                if (!any) first = raw.sqlite3_column_int64(stmt, 0);
                any = true;
                row(stmt);
            }

            if (rc != raw.SQLITE_DONE)
                throw new AdminException($"Cannot read the schema of SQLite store '{path}': {raw.sqlite3_errmsg(db).utf8_to_string()}.");
            return first;
        }
        finally
        {
            raw.sqlite3_finalize(stmt);
        }
    }
}
