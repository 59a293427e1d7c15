using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;
using Npgsql;

namespace Middleware.Recovery.Postgres;

/// <summary>
/// The PostgreSQL log store, on an <see cref="NpgsqlDataSource"/> (a connection pool). Appends are one
/// transaction per call, fenced by epoch on rows locked in that transaction (see <see cref="PostgresAppend"/>);
/// the commit is durable when the server runs with <c>fsync=on</c> and <c>synchronous_commit=on</c>, its
/// defaults. Claims are single conditional statements. Every method may be called concurrently, including
/// <see cref="AppendAsync"/>: each call takes its own pooled connection. Several processes may share one
/// database; the fence is checked by the server inside each write transaction. It also keeps the cluster
/// tables (<see cref="IClusterStore"/>, PostgresLogStore.Cluster.cs).
/// </summary>
/// <remarks>The table layout and why: sql/postgres/001_initial.sql, and sql/postgres/002_cluster.sql and 003_silo_contact.sql for the cluster tables.</remarks>
public sealed partial class PostgresLogStore : ILogStore, IClusterStore
{
    private readonly NpgsqlDataSource _source;
    private readonly bool _ownsSource;
    private int _disposed;

    private PostgresLogStore(NpgsqlDataSource source, bool ownsSource, string name)
    {
        _source = source;
        _ownsSource = ownsSource;
        Name = name;
    }

    /// <summary>
    /// <c>postgres:</c> and the connection string without its password, e.g.
    /// <c>postgres:Host=db;Port=5432;Database=mw;Username=app</c>.
    /// </summary>
    public string Name { get; }

    /// <summary>
    /// Opens the store on a new data source built from <paramref name="connectionString"/> (an Npgsql
    /// connection string), checks that the server is reachable and brings the schema up to this build's
    /// version. Prepared statements are turned on (<c>Max Auto Prepare</c>) unless the string sets them.
    /// </summary>
    /// <exception cref="ArgumentException">The connection string cannot be parsed.</exception>
    /// <exception cref="StoreUnavailableException">The server cannot be reached, refuses the login, or the database is missing.</exception>
    /// <exception cref="SchemaVersionException">A newer middleware wrote the database, or it is not a log store.</exception>
    public static async Task<PostgresLogStore> OpenAsync(string connectionString, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        var builder = new NpgsqlDataSourceBuilder(connectionString);
        var settings = builder.ConnectionStringBuilder;
        // The store runs a handful of statements over and over: preparing them saves parse and plan time per call.
        if (settings.MaxAutoPrepare == 0) settings.MaxAutoPrepare = 32;
        // The store never changes session state, so the DISCARD ALL a pooled connection would get on return is pure cost.
        settings.NoResetOnClose = true;
        // A silo paused (SIGSTOP, VM stall) inside a transaction would hold its row locks (its silos row, component heads)
        // for the whole pause and stall failure detection and claims cluster-wide. The server ends such a transaction
        // after 5 s idle; the store's own transactions never sit idle between statements, and the paused silo's commit
        // then fails, which it treats as not durable. A setting already in the connection string wins.
        if (string.IsNullOrEmpty(settings.Options) || !settings.Options.Contains("idle_in_transaction_session_timeout", StringComparison.OrdinalIgnoreCase))
            settings.Options = (settings.Options + " -c idle_in_transaction_session_timeout=5000").Trim();
        var source = builder.Build();
        try
        {
            return await OpenAsync(source, ownsSource: true, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await source.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Opens the store on a data source the caller built and keeps owning (it is not disposed with the store),
    /// and brings the schema up to this build's version.
    /// </summary>
    /// <exception cref="StoreUnavailableException">The server cannot be reached, refuses the login, or the database is missing.</exception>
    /// <exception cref="SchemaVersionException">A newer middleware wrote the database, or it is not a log store.</exception>
    public static Task<PostgresLogStore> OpenAsync(NpgsqlDataSource source, CancellationToken cancellationToken = default) =>
        OpenAsync(source, ownsSource: false, cancellationToken);

    private static async Task<PostgresLogStore> OpenAsync(NpgsqlDataSource source, bool ownsSource, CancellationToken cancellationToken)
    {
        var name = DescribeWithoutPassword(source.ConnectionString);
        try
        {
            await using var connection = await source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await PostgresSchema.MigrateAsync(connection, name, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (PostgresErrors.IsStoreFailure(e))
        {
            throw PostgresErrors.CannotOpen(name, e);
        }

        return new PostgresLogStore(source, ownsSource, name);
    }

    /// <summary>The store name for a connection string: its settings without Password (and without Passfile).</summary>
    internal static string DescribeWithoutPassword(string connectionString)
    {
        var settings = new NpgsqlConnectionStringBuilder(connectionString);
        settings.Remove("Password");
        settings.Remove("Passfile");
        return "postgres:" + settings.ConnectionString;
    }

    /// <inheritdoc />
    public Task<ComponentHead?> GetHeadAsync(string componentId, CancellationToken cancellationToken = default) =>
        Run("reading the head of " + componentId, false, () => PostgresQueries.GetHeadAsync(_source, componentId, cancellationToken));

    /// <inheritdoc />
    /// <remarks>An epoch-only claim is one conditional statement; one that respects live silos is a transaction (<see cref="PostgresCluster"/>).</remarks>
    public Task<ClaimResult> ClaimAsync(ClaimRequest request, CancellationToken cancellationToken = default) =>
        Run("claiming " + request?.ComponentId + (request?.RespectsLiveSilo == true ? " for silo " + request.Owner : ""), true, async () =>
        {
            ClusterRules.CheckClaim(request!);
            return request!.RespectsLiveSilo
                ? await PostgresCluster.ClaimForSiloAsync(_source, request.ComponentId, request.ExpectedEpoch, request.Owner, cancellationToken).ConfigureAwait(false)
                : new ClaimResult(await PostgresQueries.ClaimAsync(_source, request.ComponentId, request.ExpectedEpoch, request.Owner, cancellationToken).ConfigureAwait(false));
        });

    /// <inheritdoc />
    /// <remarks>
    /// PostgreSQL commits several transactions in parallel and combines their WAL flushes, while one commit at a
    /// time is bound by a single flush (~1 ms here): the writer may keep this many appends in flight.
    /// </remarks>
    public int MaxConcurrentAppends => 8;

    /// <inheritdoc />
    /// <remarks>Safe to call concurrently: each call is its own transaction on its own connection.</remarks>
    public Task<IReadOnlyList<AppendStatus>> AppendAsync(IReadOnlyList<AppendGroup> groups, CancellationToken cancellationToken = default) =>
        Run<IReadOnlyList<AppendStatus>>("appending", true, async () => await PostgresAppend.RunAsync(_source, groups, cancellationToken).ConfigureAwait(false));

    /// <inheritdoc />
    public Task<IReadOnlyList<LogRecord>> ReadAsync(string componentId, long fromSeq, long toSeq, CancellationToken cancellationToken = default) =>
        Run<IReadOnlyList<LogRecord>>("reading the log of " + componentId, false, async () => await PostgresQueries.ReadAsync(_source, componentId, fromSeq, toSeq, cancellationToken).ConfigureAwait(false));

    /// <inheritdoc />
    /// <remarks>The returned checkpoint's <see cref="CheckpointRecord.Dedup"/> is empty: dedup entries are looked up with <see cref="FindRequestAsync"/>.</remarks>
    public Task<CheckpointRecord?> GetCheckpointAsync(string componentId, long atOrBeforeSeq = long.MaxValue, CancellationToken cancellationToken = default) =>
        Run("reading a checkpoint of " + componentId, false, () => PostgresQueries.GetCheckpointAsync(_source, componentId, atOrBeforeSeq, cancellationToken));

    /// <inheritdoc />
    public Task<DedupEntry?> FindRequestAsync(string componentId, string requestId, CancellationToken cancellationToken = default) =>
        Run("looking up a request of " + componentId, false, () => PostgresQueries.FindRequestAsync(_source, componentId, requestId, cancellationToken));

    /// <inheritdoc />
    public Task<long> TruncateAsync(string componentId, long beforeSeq, CancellationToken cancellationToken = default) =>
        Run("truncating " + componentId, true, () => PostgresQueries.TruncateAsync(_source, componentId, beforeSeq, cancellationToken));

    /// <inheritdoc />
    public Task<IReadOnlyList<ComponentHead>> ListComponentsAsync(CancellationToken cancellationToken = default) =>
        Run<IReadOnlyList<ComponentHead>>("listing components", false, async () => await PostgresQueries.ListComponentsAsync(_source, cancellationToken).ConfigureAwait(false));

    /// <inheritdoc />
    public Task<IReadOnlyList<ComponentHead>> ListInDoubtAsync(CancellationToken cancellationToken = default) =>
        Run<IReadOnlyList<ComponentHead>>("listing turns in doubt", false, async () => await PostgresQueries.ListInDoubtAsync(_source, cancellationToken).ConfigureAwait(false));

    /// <summary>Closes the pool's connections when the store built the data source itself.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        if (_ownsSource) await _source.DisposeAsync().ConfigureAwait(false);
    }

    private async Task<T> Run<T>(string operation, bool write, Func<Task<T>> work)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) == 1, this);
        try
        {
            return await work().ConfigureAwait(false);
        }
        catch (Exception e) when (PostgresErrors.IsStoreFailure(e))
        {
            throw PostgresErrors.Failed(Name, operation, e, write);
        }
    }
}
