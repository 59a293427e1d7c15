using Middleware.Recovery.Postgres;
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
        "memory: (tests and benchmarks only: nothing survives the process)";

    /// <summary>
    /// Opens the store named by <paramref name="connection"/>: <c>sqlite:PATH</c>, <c>postgres:&lt;Npgsql connection
    /// string&gt;</c>, <c>sqlserver:&lt;SqlClient connection string&gt;</c> or <c>memory:</c>. The schema of a
    /// database store is created or upgraded on open.
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
