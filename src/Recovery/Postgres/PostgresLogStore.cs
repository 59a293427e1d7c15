using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;
using Npgsql;

namespace Middleware.Recovery.Postgres;

/// <summary>
/// The PostgreSQL log store, on an <see cref="NpgsqlDataSource"/> (a connection pool). Appends are one
/// transaction per call, fenced by epoch on rows locked in that transaction (see <see cref="PostgresAppend"/>);
/// the commit is durable when the server runs with <c>fsync=on</c> and <c>synchronous_commit=on</c>, its
/// defaults. Claims that arrive together share one transaction (<see cref="PostgresClaimBatch"/>).
/// Every method may be called concurrently, including <see cref="LogStoreBase.AppendAsync"/>: each call takes its own
/// pooled connection (appends from the few the store keeps open for them, <see cref="PostgresAppendConnections"/>). Several processes may share one database; the fence is checked by the server inside each write
/// transaction. It also keeps the cluster tables (<see cref="IClusterStore"/>: statements in
/// <see cref="PostgresCluster"/> and <see cref="PostgresSessions"/>, each operation one transaction, liveness judged by
/// the server's clock). Argument rules and error wrapping are <see cref="LogStoreBase"/>'s.
/// </summary>
/// <remarks>The table layout and why: sql/postgres/001_initial.sql, and sql/postgres/002_cluster.sql and 003_silo_contact.sql for the cluster tables.</remarks>
public sealed class PostgresLogStore : LogStoreBase
{
    private readonly NpgsqlDataSource _source;
    private readonly bool _ownsSource;
    private readonly PostgresClaimBatch _claims;
    private readonly PostgresAppendConnections _appendConnections;

    private PostgresLogStore(NpgsqlDataSource source, bool ownsSource, string name)
    {
        _source = source;
        _ownsSource = ownsSource;
        _claims = new PostgresClaimBatch(source);
        _appendConnections = new PostgresAppendConnections(source, AppendConnections);
        Name = name;
    }

    /// <summary>
    /// <c>postgres:</c> and the connection string without its password, e.g.
    /// <c>postgres:Host=db;Port=5432;Database=mw;Username=app</c>.
    /// </summary>
    public override string Name { get; }

    /// <summary>
    /// Opens the store on a new data source built from <paramref name="connectionString"/> (an Npgsql
    /// connection string), checks that the server is reachable and brings the schema up to this build's
    /// version. Prepared statements are turned on (<c>Max Auto Prepare</c>) unless the string sets them.
    /// </summary>
    /// <exception cref="ArgumentException">The connection string cannot be parsed.</exception>
    /// <exception cref="StoreUnavailableException">The server cannot be reached, refuses the login, or the database is missing.</exception>
    /// <exception cref="SchemaVersionException">A newer middleware wrote the database, or it is not a log store.</exception>
    public static Task<PostgresLogStore> OpenAsync(string connectionString, CancellationToken cancellationToken = default) =>
        OpenAsync(connectionString, StoreAccess.ReadWrite, cancellationToken);

    /// <summary>
    /// Opens the store on a new data source built from <paramref name="connectionString"/>. With
    /// <see cref="StoreAccess.ReadWrite"/> as <see cref="OpenAsync(string, CancellationToken)"/>; with
    /// <see cref="StoreAccess.ReadOnly"/> the schema is only checked (an empty database, one of another program or an older
    /// schema is refused and nothing is created) and every session runs with <c>default_transaction_read_only=on</c>, so
    /// the server refuses any write.
    /// </summary>
    /// <exception cref="ArgumentException">The connection string cannot be parsed.</exception>
    /// <exception cref="StoreUnavailableException">The server cannot be reached, refuses the login, or the database is missing.</exception>
    /// <exception cref="SchemaVersionException">A newer middleware wrote the database, or it is not a log store; read-only: it is empty or older.</exception>
    public static async Task<PostgresLogStore> OpenAsync(string connectionString, StoreAccess access, CancellationToken cancellationToken = default)
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
        // The append joins its groups to the components table by primary key. At the server's default random_page_cost (4,
        // spinning disks) the planner prefers a hash join over a scan of the WHOLE components table to a dozen index look-ups
        // while that table has fewer than a few thousand rows: every append then reads every head (0.15-0.5 ms of server CPU
        // per commit at 1,000 components). The store's statements are key look-ups on rows that stay in the buffer cache,
        // where 1.1 (the usual SSD setting) is the true ratio and gives the index plan (bench/README.md, "PostgreSQL at 64 in
        // flight"). Only the store's own sessions; a setting already in the connection string wins.
        if (string.IsNullOrEmpty(settings.Options) || !settings.Options.Contains("random_page_cost", StringComparison.OrdinalIgnoreCase))
            settings.Options = (settings.Options + " -c random_page_cost=1.1").Trim();
        if (access == StoreAccess.ReadOnly) settings.Options = (settings.Options + " -c default_transaction_read_only=on").Trim();
        var source = builder.Build();
        try
        {
            return await OpenAsync(source, ownsSource: true, access, cancellationToken).ConfigureAwait(false);
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
        OpenAsync(source, ownsSource: false, StoreAccess.ReadWrite, cancellationToken);

    private static async Task<PostgresLogStore> OpenAsync(NpgsqlDataSource source, bool ownsSource, StoreAccess access, CancellationToken cancellationToken)
    {
        var name = DescribeWithoutPassword(source.ConnectionString);
        try
        {
            await using var connection = await source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            // Either way the version is read before anything runs: MigrateAsync creates or upgrades only an empty database or ours.
            if (access == StoreAccess.ReadOnly) await PostgresSchema.CheckCurrentAsync(connection, name, cancellationToken).ConfigureAwait(false);
            else await PostgresSchema.MigrateAsync(connection, name, cancellationToken).ConfigureAwait(false);
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
    /// <remarks>
    /// Two: while one append waits for its commit's WAL flush, the next batch is sent, so the writer is never idle for a
    /// whole flush; a third and later append only split the same records into more, smaller commits. Each commit costs the
    /// server and the silo a fixed share of CPU whatever its size (statement start, the WAL flush's <c>fdatasync</c>, the
    /// round trip: ~0.3-0.45 ms of server CPU against ~10 µs per record), so at 64 requests in flight 8 appends in flight
    /// made commits of 16-17 records and 2 make commits of 24-26, for 10-16 % less server CPU per record (and up to 12 % less
    /// in silo and client when the box is not crowded; bench/README.md, "PostgreSQL at 64 in flight (session 14)").
    /// </remarks>
    public override int MaxConcurrentAppends => AppendConnections;

    private const int AppendConnections = 2;

    /// <inheritdoc />
    protected override Task<ComponentHead?> GetHeadCoreAsync(string componentId, CancellationToken cancellationToken) =>
        PostgresQueries.GetHeadAsync(_source, componentId, cancellationToken);

    /// <inheritdoc />
    /// <remarks>Claims that arrive together are decided in one transaction (<see cref="PostgresClaimBatch"/>).</remarks>
    protected override Task<ClaimResult> ClaimCoreAsync(ClaimRequest request, CancellationToken cancellationToken) =>
        cancellationToken.IsCancellationRequested ? Task.FromCanceled<ClaimResult>(cancellationToken) : _claims.ClaimAsync(request);

    /// <inheritdoc />
    protected override async Task<IReadOnlyList<AppendStatus>> AppendCoreAsync(IReadOnlyList<AppendGroup> groups, CancellationToken cancellationToken) =>
        await PostgresAppend.RunAsync(_appendConnections, groups, cancellationToken).ConfigureAwait(false);

    /// <inheritdoc />
    protected override async Task<IReadOnlyList<LogRecord>> ReadCoreAsync(string componentId, long fromSeq, long toSeq, CancellationToken cancellationToken) =>
        await PostgresQueries.ReadAsync(_source, componentId, fromSeq, toSeq, cancellationToken).ConfigureAwait(false);

    /// <inheritdoc />
    /// <remarks>The returned checkpoint's <see cref="CheckpointRecord.Dedup"/> is empty: dedup entries are looked up with <see cref="LogStoreBase.FindRequestAsync"/>.</remarks>
    protected override Task<CheckpointRecord?> GetCheckpointCoreAsync(string componentId, long atOrBeforeSeq, CancellationToken cancellationToken) =>
        PostgresQueries.GetCheckpointAsync(_source, componentId, atOrBeforeSeq, cancellationToken);

    /// <inheritdoc />
    /// <remarks>One statement, one round trip (<see cref="PostgresActivationRead"/>).</remarks>
    protected override Task<ActivationRead> ReadForActivationCoreAsync(string componentId, CancellationToken cancellationToken) =>
        PostgresActivationRead.RunAsync(_source, componentId, cancellationToken);

    /// <inheritdoc />
    /// <remarks>The same statement also probes the dedup key for <paramref name="requestId"/>.</remarks>
    protected override Task<ActivationRead> ReadForActivationCoreAsync(string componentId, string requestId, CancellationToken cancellationToken) =>
        PostgresActivationRead.RunAsync(_source, componentId, cancellationToken, requestId);

    /// <inheritdoc />
    protected override Task<DedupEntry?> FindRequestCoreAsync(string componentId, string requestId, CancellationToken cancellationToken) =>
        PostgresQueries.FindRequestAsync(_source, componentId, requestId, cancellationToken);

    /// <inheritdoc />
    protected override Task<IReadOnlyList<DedupEntry>> ListDedupCoreAsync(string componentId, CancellationToken cancellationToken) =>
        PostgresQueries.ListDedupAsync(_source, componentId, cancellationToken);

    /// <inheritdoc />
    protected override async Task<IReadOnlyList<string>?> ListRequestIdsCoreAsync(string componentId, int limit, CancellationToken cancellationToken) =>
        WithinLimit(await PostgresQueries.ListRequestIdsAsync(_source, componentId, limit, cancellationToken).ConfigureAwait(false), limit);

    /// <inheritdoc />
    protected override Task<long> TruncateCoreAsync(string componentId, long beforeSeq, CancellationToken cancellationToken) =>
        PostgresQueries.TruncateAsync(_source, componentId, beforeSeq, cancellationToken);

    /// <inheritdoc />
    protected override async Task<IReadOnlyList<ComponentHead>> ListComponentsCoreAsync(CancellationToken cancellationToken) =>
        await PostgresQueries.ListComponentsAsync(_source, cancellationToken).ConfigureAwait(false);

    /// <inheritdoc />
    protected override async Task<IReadOnlyList<ComponentHead>> ListInDoubtCoreAsync(CancellationToken cancellationToken) =>
        await PostgresQueries.ListInDoubtAsync(_source, cancellationToken).ConfigureAwait(false);

    /// <inheritdoc />
    protected override Task<SiloEntry> JoinCoreAsync(string siloId, string address, string? httpAddress, long deadAfterMs, CancellationToken cancellationToken) =>
        PostgresCluster.JoinAsync(_source, siloId, address, httpAddress, deadAfterMs, cancellationToken);

    /// <inheritdoc />
    protected override Task<bool> HeartbeatCoreAsync(string siloId, int activations, CancellationToken cancellationToken) =>
        PostgresCluster.HeartbeatAsync(_source, siloId, activations, cancellationToken);

    /// <inheritdoc />
    protected override Task LeaveCoreAsync(string siloId, CancellationToken cancellationToken) => PostgresCluster.LeaveAsync(_source, siloId, cancellationToken);

    /// <inheritdoc />
    protected override Task<IReadOnlyList<SiloEntry>> ListSilosCoreAsync(CancellationToken cancellationToken) => PostgresCluster.ListSilosAsync(_source, cancellationToken);

    /// <inheritdoc />
    protected override Task<bool> DeclareDeadCoreAsync(string siloId, DateTimeOffset joinedAt, string declaredBy, CancellationToken cancellationToken) =>
        PostgresCluster.DeclareDeadAsync(_source, siloId, joinedAt.UtcDateTime, declaredBy, cancellationToken);

    /// <inheritdoc />
    protected override Task<bool> HandOverCoreAsync(string componentId, long epoch, string fromSiloId, string? toSiloId, CancellationToken cancellationToken) =>
        PostgresCluster.HandOverAsync(_source, componentId, epoch, fromSiloId, toSiloId, cancellationToken);

    /// <inheritdoc />
    protected override Task<SessionReservation> OpenSessionCoreAsync(string sessionId, int reserve, string? tokenHash, CancellationToken cancellationToken) =>
        PostgresSessions.OpenSessionAsync(_source, sessionId, reserve, tokenHash, cancellationToken);

    /// <inheritdoc />
    protected override Task<SessionReservation> ReserveSessionCoreAsync(string sessionId, int reserve, CancellationToken cancellationToken) =>
        PostgresSessions.ReserveSessionAsync(_source, sessionId, reserve, cancellationToken);

    /// <inheritdoc />
    protected override Task<SessionEntry?> GetSessionCoreAsync(string sessionId, CancellationToken cancellationToken) =>
        PostgresSessions.GetSessionAsync(_source, sessionId, cancellationToken);

    /// <inheritdoc />
    protected override Task<IReadOnlyList<SessionEntry>> ListSessionsCoreAsync(int limit, CancellationToken cancellationToken) =>
        PostgresSessions.ListSessionsAsync(_source, limit, cancellationToken);

    /// <inheritdoc />
    protected override Task SetSessionItemCoreAsync(string sessionId, string key, string? value, CancellationToken cancellationToken) =>
        PostgresSessions.SetSessionItemAsync(_source, sessionId, key, value, cancellationToken);

    /// <inheritdoc />
    protected override Task CloseSessionCoreAsync(string sessionId, CancellationToken cancellationToken) =>
        PostgresSessions.CloseSessionAsync(_source, sessionId, cancellationToken);

    /// <inheritdoc />
    protected override StoreUnavailableException? DescribeFailure(Exception exception, string operation, bool write) =>
        PostgresErrors.IsStoreFailure(exception) ? PostgresErrors.Failed(Name, operation, exception, write) : null;

    /// <summary>Gives back the append connections, and closes the pool's connections when the store built the data source itself.</summary>
    protected override async ValueTask DisposeCoreAsync()
    {
        await _appendConnections.DisposeAsync().ConfigureAwait(false);
        if (_ownsSource) await _source.DisposeAsync().ConfigureAwait(false);
    }
}
