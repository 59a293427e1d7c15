using Middleware.Admin.Cli;
using Middleware.Recovery.Sqlite;
using Middleware.Recovery.Storage;
using Middleware.Recovery.Stores;

namespace Middleware.Admin.Stores;

/// <summary>
/// Turns a store connection string into an open <see cref="ILogStore"/>: <c>sqlite:PATH</c> here (with a check
/// that the file exists), <c>postgres:</c> and <c>sqlserver:</c> through the shared <see cref="LogStores"/>.
/// </summary>
internal static class StoreConnection
{
    /// <summary>
    /// Opens the store. Unless <paramref name="create"/> is set (db migrate, dev generate), a SQLite file must
    /// already exist: a typo in a path must not silently create an empty store that then reports nothing.
    /// </summary>
    public static async Task<ILogStore> OpenAsync(string? text, bool create, int readers)
    {
        if (text is not null && (text.StartsWith("postgres:", StringComparison.OrdinalIgnoreCase) || text.StartsWith("sqlserver:", StringComparison.OrdinalIgnoreCase)))
        {
            try
            {
                return await LogStores.OpenAsync(text).ConfigureAwait(false);
            }
            catch (Exception e) when (e is StoreUnavailableException or SchemaVersionException or ArgumentException)
            {
                throw new AdminException(e.Message);
            }
        }

        var path = SqlitePath(text, mustExist: !create);
        return SqliteLogStore.Open(path, new SqliteStoreOptions { ReaderConnections = Math.Max(4, readers) });
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
                if (rest.Length == 0) throw new AdminException($"Store '{text}' has no path; write it as sqlite:PATH, e.g. sqlite:./data/bank.db.");
                if (mustExist && !File.Exists(rest))
                    throw new AdminException($"No SQLite store at '{rest}' (from '{text}'); check the path, or create it with mw db migrate.");
                return rest;
            case "postgres" or "sqlserver":
                throw new AdminException($"Store '{scheme}:' is a server store, not a file; this command needs sqlite:PATH.");
            case "memory":
                throw new AdminException("Store 'memory:' is empty in a new process, so there is nothing to administer; use sqlite:PATH.");
            default:
                throw new AdminException($"'{text}' is not a store connection string; write it as sqlite:PATH, e.g. sqlite:./data/bank.db.");
        }
    }
}
