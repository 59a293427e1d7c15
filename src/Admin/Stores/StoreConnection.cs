using Middleware.Admin.Cli;
using Middleware.Recovery.Sqlite;
using Middleware.Recovery.Storage;

namespace Middleware.Admin.Stores;

/// <summary>
/// Turns a store connection string into an open <see cref="ILogStore"/>. Only <c>sqlite:PATH</c> exists in
/// this build; this is the one place to switch to the shared <c>LogStores.OpenAsync</c> once the providers
/// land, so every command keeps the same string form.
/// </summary>
internal static class StoreConnection
{
    /// <summary>
    /// Opens the store. Unless <paramref name="create"/> is set (db migrate, dev generate), a SQLite file must
    /// already exist: a typo in a path must not silently create an empty store that then reports nothing.
    /// </summary>
    public static Task<ILogStore> OpenAsync(string? text, bool create, int readers)
    {
        var path = SqlitePath(text, mustExist: !create);
        return Task.FromResult<ILogStore>(SqliteLogStore.Open(path, new SqliteStoreOptions { ReaderConnections = Math.Max(4, readers) }));
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
                throw new AdminException($"Store '{scheme}:' is not available in this build of mw yet; only sqlite:PATH is.");
            case "memory":
                throw new AdminException("Store 'memory:' is empty in a new process, so there is nothing to administer; use sqlite:PATH.");
            default:
                throw new AdminException($"'{text}' is not a store connection string; write it as sqlite:PATH, e.g. sqlite:./data/bank.db.");
        }
    }
}
