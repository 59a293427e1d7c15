using Middleware.Admin.Cli;
using Middleware.Recovery.Sqlite;
using Middleware.Recovery.Storage;
using Middleware.Recovery.Stores;

namespace Middleware.Admin.Stores;

/// <summary>
/// Turns a store connection string into an open <see cref="ILogStore"/>: <c>sqlite:PATH</c> here (with a check
/// that the file exists), <c>postgres:</c>, <c>sqlserver:</c> and <c>sharded:</c> through the shared <see cref="LogStores"/>.
/// </summary>
internal static class StoreConnection
{
    /// <summary>
    /// Opens the store. Nothing is created or changed before the schema check, and only <paramref name="create"/> (db
    /// migrate, dev generate) may create or upgrade a store: every other command first opens it read-only (SQLite:
    /// SQLITE_OPEN_READONLY; PostgreSQL: read-only transactions), which refuses a missing, empty, foreign or older store
    /// with one line and leaves it as it was. A command that writes (<paramref name="access"/> ReadWrite) then reopens
    /// the store it has checked for writing.
    /// </summary>
    public static async Task<ILogStore> OpenAsync(string? text, StoreAccess access, bool create, int readers)
    {
        if (text is not null && (text.StartsWith("postgres:", StringComparison.OrdinalIgnoreCase) || text.StartsWith("sqlserver:", StringComparison.OrdinalIgnoreCase) ||
            text.StartsWith("sharded:", StringComparison.OrdinalIgnoreCase)))
        {
            try
            {
                if (create) return await LogStores.OpenAsync(text, StoreAccess.ReadWrite).ConfigureAwait(false);
                var checkedStore = await LogStores.OpenAsync(text, StoreAccess.ReadOnly).ConfigureAwait(false);
                if (access == StoreAccess.ReadOnly) return checkedStore;
                await checkedStore.DisposeAsync().ConfigureAwait(false);
                return await LogStores.OpenAsync(text, StoreAccess.ReadWrite).ConfigureAwait(false);
            }
            catch (Exception e) when (e is StoreUnavailableException or SchemaVersionException or ArgumentException or Recovery.Sharded.ShardMapException)
            {
                throw new AdminException(e.Message);
            }
        }

        var path = SqlitePath(text, mustExist: !create);
        var options = new SqliteStoreOptions { ReaderConnections = Math.Max(4, readers) };
        if (create) return SqliteLogStore.Open(path, options);
        var checkedFile = SqliteLogStore.Open(path, new SqliteStoreOptions { ReaderConnections = options.ReaderConnections, ReadOnly = true });
        if (access == StoreAccess.ReadOnly) return checkedFile;
        await checkedFile.DisposeAsync().ConfigureAwait(false);
        return SqliteLogStore.Open(path, options);
    }

    /// <summary>The file of a <c>sqlite:PATH</c> string; any other form is an <see cref="AdminException"/> saying what to write.</summary>
    public static string SqlitePath(string? text, bool mustExist)
    {
        if (string.IsNullOrWhiteSpace(text))
            throw new AdminException($"No store given: pass --store sqlite:PATH or set {CliOptions.StoreVariable}.");
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        var scheme = colon > 0 ? text[..colon].ToLowerInvariant() : "";
        var rest = colon > 0 ? text[(colon + 1)..] : "";
        switch (scheme)
        {
            case "sqlite":
                if (rest.Length == 0) throw new AdminException($"--store '{text}' has no path; write it as sqlite:PATH, e.g. sqlite:./data/bank.db.");
                if (Directory.Exists(rest)) throw new AdminException($"--store '{text}' names a directory; give the store's file, e.g. sqlite:{Path.Combine(rest, "bank.db")}.");
                if (mustExist && !File.Exists(rest))
                    throw new AdminException($"No SQLite store at '{rest}' (from --store '{text}'); check the path, or create it with mw db migrate.");
                return rest;
            case "postgres" or "sqlserver":
                throw new AdminException($"--store '{scheme}:' is a server store, not a file; this command needs sqlite:PATH.");
            case "memory":
                throw new AdminException("--store 'memory:' is empty in a new process, so there is nothing to administer; use sqlite:PATH.");
            default:
                throw new AdminException($"'{text}' is not a store connection string; write it as --store sqlite:PATH, e.g. sqlite:./data/bank.db.");
        }
    }
}
