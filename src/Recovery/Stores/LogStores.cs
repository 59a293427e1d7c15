using Middleware.Recovery.Postgres;
using Middleware.Recovery.Sharded;
using Middleware.Recovery.Sqlite;
using Middleware.Recovery.SqlServer;
using Middleware.Recovery.Storage;

namespace Middleware.Recovery.Stores;

/// <summary>
/// Store selection in one place: every program (demo host, benchmark, tools) turns its store setting into an
/// <see cref="ILogStore"/> here, so all of them accept the same forms and report the same errors.
/// </summary>
public static class LogStores
{
    /// <summary>The environment variable that selects the store when no <c>--store</c> option is given.</summary>
    public const string EnvironmentVariable = "MIDDLEWARE_STORE";

    /// <summary>The accepted forms, as printed in error messages and usage texts.</summary>
    public const string AcceptedForms =
        "sqlite:PATH (e.g. sqlite:./data/bank.db), " +
        "postgres:<Npgsql connection string> (e.g. postgres:Host=localhost;Port=5432;Database=mw;Username=app;Password=...), " +
        "sqlserver:<SqlClient connection string> (e.g. sqlserver:Server=localhost;Database=mw;User ID=app;Password=...;TrustServerCertificate=true), " +
        "memory: (tests and benchmarks only: nothing survives the process), " +
        "sharded:KIND:A|KIND:B|... (several stores of one kind, e.g. sharded:postgres:Host=db1;Database=mw|postgres:Host=db2;Database=mw; " +
        "always the same stores in the same order)";

    /// <summary>
    /// Opens the store named by <paramref name="connection"/>: <c>sqlite:PATH</c>, <c>postgres:&lt;Npgsql connection
    /// string&gt;</c>, <c>sqlserver:&lt;SqlClient connection string&gt;</c>, <c>memory:</c>, or
    /// <c>sharded:KIND:A|KIND:B|...</c> (a <see cref="ShardedLogStore"/> over several stores of one kind). The schema of a
    /// database store is created or upgraded on open; a shard of a sharded store opened on its own is refused.
    /// </summary>
    /// <exception cref="ArgumentException">An unknown scheme or a malformed value; the message names the setting and lists the accepted forms.</exception>
    /// <exception cref="StoreUnavailableException">The store cannot be reached or opened; the message names the store (never its password) and the fix.</exception>
    /// <exception cref="SchemaVersionException">The database was written by a newer middleware, or is not a log store.</exception>
    public static Task<ILogStore> OpenAsync(string connection, CancellationToken ct = default) => OpenAsync(connection, StoreAccess.ReadWrite, ct);

    /// <summary>
    /// Opens the store named by <paramref name="connection"/> for <paramref name="access"/>. Read-only, nothing is created,
    /// upgraded or written: a missing or empty store and an older schema are refused naming the fix (<c>memory:</c> is
    /// refused too: it is always empty). Either way the schema is checked before anything may change the database.
    /// </summary>
    /// <exception cref="ArgumentException">An unknown scheme or a malformed value; the message names the setting and lists the accepted forms.</exception>
    /// <exception cref="StoreUnavailableException">The store cannot be reached or opened; the message names the store (never its password) and the fix.</exception>
    /// <exception cref="SchemaVersionException">The database was written by a newer middleware, or is not a log store; read-only: it is empty or older.</exception>
    public static async Task<ILogStore> OpenAsync(string connection, StoreAccess access, CancellationToken ct = default)
    {
        var (scheme, value) = Split(connection);
        if (scheme == "sharded") return await OpenShardedAsync(value, access, ct).ConfigureAwait(false);
        var store = await OpenOneAsync(scheme, value, access, ct).ConfigureAwait(false);
        if (access == StoreAccess.ReadWrite) await RefuseShardOpenedAloneAsync(store, ct).ConfigureAwait(false);
        return store;
    }

    /// <summary>The setting's shard settings, split at '|' (blank parts are refused); the values are not echoed.</summary>
    public static IReadOnlyList<string> ShardSettings(string value)
    {
        var parts = value.Split('|').Select(p => p.Trim()).ToList();
        if (parts.Count == 0 || parts.All(p => p.Length == 0))
            throw Malformed("sharded: needs its shards after the colon, separated by '|' (e.g. sharded:postgres:Host=db1;Database=mw|postgres:Host=db2;Database=mw)");
        var blank = parts.FindIndex(p => p.Length == 0);
        if (blank >= 0)
            throw Malformed($"shard {blank} of the sharded: setting is empty (two '|' in a row, or one at an end); a '|' inside a shard's setting is not supported (use a password without '|', or a passfile)");
        return parts;
    }

    private static async Task<ILogStore> OpenShardedAsync(string value, StoreAccess access, CancellationToken ct)
    {
        var parts = ShardSettings(value);
        var kinds = parts.Select(p => Split(p).Scheme).ToList();
        if (kinds.Contains("sharded")) throw Malformed("a shard of a sharded: store cannot itself be sharded:");
        if (kinds.Distinct(StringComparer.Ordinal).Count() > 1)
            throw Malformed($"the shards of a sharded: store must be of one kind; found {string.Join(", ", kinds.Distinct(StringComparer.Ordinal))}");
        for (var i = 0; i < parts.Count; i++)
        {
            for (var j = 0; j < i; j++)
            {
                if (string.Equals(parts[i], parts[j], StringComparison.Ordinal) && kinds[i] != "memory")
                    throw Malformed($"shards {j} and {i} of the sharded: setting are the same store; list each database once");
            }
        }

        var shards = new List<IClusterStore>();
        try
        {
            foreach (var (kind, part) in kinds.Zip(parts))
            {
                var shard = await OpenOneAsync(kind, Split(part).Value, access, ct).ConfigureAwait(false);
                if (shard is not IClusterStore cluster)
                {
                    await shard.DisposeAsync().ConfigureAwait(false);
                    throw Malformed($"{kind}: stores keep no cluster tables, so they cannot be shards");
                }

                shards.Add(cluster);
            }
        }
        catch
        {
            foreach (var shard in shards) await shard.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return await ShardedLogStore.OpenAsync(shards, access, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Refuses a shard of a sharded store opened on its own to write (a silo on it would place components the map puts
    /// elsewhere, where the sharded store never looks). Read-only tools may inspect one shard.
    /// </summary>
    private static async Task RefuseShardOpenedAloneAsync(ILogStore store, CancellationToken ct)
    {
        if (store is MemoryLogStore) return;
        var marker = await store.GetHeadAsync(ShardMap.MarkerId, ct).ConfigureAwait(false);
        if (marker is null) return;
        await store.DisposeAsync().ConfigureAwait(false);
        throw new ShardMapException($"{store.Name} is {ShardMap.Parse(marker.Owner) switch
        {
            { } d => $"shard {d.Index} of {d.Count} of a sharded store (set {d.SetId})",
            null => "a shard of a sharded store",
        }}: open it read-write only through its sharded: setting (sharded:KIND:SHARD0|KIND:SHARD1|..., all shards in their original order). " +
            "Tools that only read (mw components, mw log, mw audit) may inspect one shard on its own.");
    }

    private static async Task<ILogStore> OpenOneAsync(string scheme, string value, StoreAccess access, CancellationToken ct)
    {
        switch (scheme)
        {
            case "memory":
                if (value.Length > 0) throw Malformed("memory: takes nothing after the colon");
                if (access == StoreAccess.ReadOnly) throw Malformed("memory: is empty in a new process, so there is nothing to read");
                return new MemoryLogStore();
            case "sqlite":
                if (string.IsNullOrWhiteSpace(value)) throw Malformed("sqlite: needs a file path after the colon");
                return SqliteLogStore.Open(value, new SqliteStoreOptions { ReadOnly = access == StoreAccess.ReadOnly });
            case "postgres":
                if (string.IsNullOrWhiteSpace(value)) throw Malformed("postgres: needs an Npgsql connection string after the colon");
                ValidateConnectionString("postgres", () => _ = new Npgsql.NpgsqlConnectionStringBuilder(value));
                return await PostgresLogStore.OpenAsync(value, access, ct).ConfigureAwait(false);
            case "sqlserver":
                if (string.IsNullOrWhiteSpace(value)) throw Malformed("sqlserver: needs a SqlClient connection string after the colon");
                ValidateConnectionString("sqlserver", () => _ = new Microsoft.Data.SqlClient.SqlConnectionStringBuilder(value));
                return await SqlServerLogStore.OpenAsync(value, access, ct).ConfigureAwait(false);
            default:
                throw Malformed($"'{scheme}' is not a known store kind");
        }
    }

    /// <summary>
    /// The store setting with its precedence applied: <paramref name="cliValue"/> (the <c>--store</c> option) when
    /// given, else the <c>MIDDLEWARE_STORE</c> environment variable when set and not empty, else
    /// <paramref name="defaultValue"/>.
    /// </summary>
    public static string FromEnvironmentOrDefault(string? cliValue, string defaultValue)
    {
        if (!string.IsNullOrWhiteSpace(cliValue)) return cliValue;
        var fromEnvironment = Environment.GetEnvironmentVariable(EnvironmentVariable);
        return string.IsNullOrWhiteSpace(fromEnvironment) ? defaultValue : fromEnvironment;
    }

    /// <summary>The scheme of a store setting (<c>sqlite</c>, <c>postgres</c>, ...), lower case; the value is not echoed.</summary>
    public static string SchemeOf(string connection) => Split(connection).Scheme;

    private static (string Scheme, string Value) Split(string connection)
    {
        if (string.IsNullOrWhiteSpace(connection)) throw Malformed("the value is empty");
        var colon = connection.IndexOf(':', StringComparison.Ordinal);
        // Only the part before the colon is ever echoed: the rest may hold a password.
        if (colon <= 0) throw Malformed($"it has no 'kind:' prefix (it starts with '{Prefix(connection)}')");
        return (connection[..colon].Trim().ToLowerInvariant(), connection[(colon + 1)..]);
    }

    private static void ValidateConnectionString(string scheme, Action parse)
    {
        try
        {
            parse();
        }
        catch (Exception e) when (e is ArgumentException or FormatException or KeyNotFoundException)
        {
            // The parser's message names the bad keyword without echoing values.
            throw Malformed($"the {scheme} connection string cannot be parsed: {e.Message}");
        }
    }

    private static string Prefix(string value) => value.Length <= 8 ? value : value[..8] + "...";

    private static ArgumentException Malformed(string reason) =>
        new($"The store setting (--store / {EnvironmentVariable}) is not usable: {reason}. Accepted forms: {AcceptedForms}.");
}
