using Microsoft.Data.SqlClient;
using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;

namespace Middleware.Recovery.SqlServer;

/// <summary>
/// The SQL Server log store, on Microsoft.Data.SqlClient and its connection pool. Appends are one transaction
/// per call, fenced by epoch on component rows locked <c>WITH (UPDLOCK, HOLDLOCK)</c> in that transaction (see
/// <see cref="SqlServerAppend"/>); a commit is durable when SQL Server acknowledges it (full durability, the
/// default; delayed durability must stay off for the database). Claims are conditional updates. Every method
/// may be called concurrently; each call takes its own pooled connection. It also keeps the cluster tables
/// (<see cref="IClusterStore"/>: batches in <see cref="SqlServerCluster"/>, each operation one batch, liveness judged by
/// the server's clock). Argument rules and error wrapping are <see cref="LogStoreBase"/>'s. Closing the store only
/// marks it closed: pooled connections stay with SqlClient's pool, which is keyed by connection string.
/// </summary>
/// <remarks>The table layout: sql/sqlserver/001_initial.sql, and sql/sqlserver/002_cluster.sql and 003_silo_contact.sql for the cluster tables.</remarks>
public sealed class SqlServerLogStore : LogStoreBase
{
    private readonly string _connectionString;

    private SqlServerLogStore(string connectionString, string name)
    {
        _connectionString = connectionString;
        Name = name;
    }

    /// <summary><c>sqlserver:</c> and the connection string without its password.</summary>
    public override string Name { get; }

    /// <summary>
    /// Opens the store on <paramref name="connectionString"/> (a SqlClient connection string), checks that the
    /// server is reachable and brings the schema up to this build's version.
    /// </summary>
    /// <exception cref="ArgumentException">The connection string cannot be parsed.</exception>
    /// <exception cref="StoreUnavailableException">The server cannot be reached, refuses the login, or the database is missing.</exception>
    /// <exception cref="SchemaVersionException">A newer middleware wrote the database, or it is not a log store.</exception>
    public static Task<SqlServerLogStore> OpenAsync(string connectionString, CancellationToken cancellationToken = default) =>
        OpenAsync(connectionString, StoreAccess.ReadWrite, cancellationToken);

    /// <summary>
    /// Opens the store; with <see cref="StoreAccess.ReadOnly"/> the schema is only checked (an empty database, one of another
    /// program or an older schema is refused and nothing is created). Not run on the machine this was written on.
    /// </summary>
    /// <exception cref="ArgumentException">The connection string cannot be parsed.</exception>
    /// <exception cref="StoreUnavailableException">The server cannot be reached, refuses the login, or the database is missing.</exception>
    /// <exception cref="SchemaVersionException">A newer middleware wrote the database, or it is not a log store; read-only: it is empty or older.</exception>
    public static async Task<SqlServerLogStore> OpenAsync(string connectionString, StoreAccess access, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        var name = DescribeWithoutPassword(connectionString);
        try
        {
            await using var connection = new SqlConnection(connectionString);
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            if (access == StoreAccess.ReadOnly) await SqlServerSchema.CheckCurrentAsync(connection, name, cancellationToken).ConfigureAwait(false);
            else await SqlServerSchema.MigrateAsync(connection, name, cancellationToken).ConfigureAwait(false);
        }
        catch (SqlException e)
        {
            throw Unavailable($"Cannot open the SQL Server log store '{name}'", e, write: false);
        }

        return new SqlServerLogStore(connectionString, name);
    }

    /// <summary>The store name for a connection string: its settings without Password.</summary>
    internal static string DescribeWithoutPassword(string connectionString)
    {
        var settings = new SqlConnectionStringBuilder(connectionString);
        settings.Remove("Password");
        return "sqlserver:" + settings.ConnectionString;
    }

    /// <inheritdoc />
    protected override Task<ComponentHead?> GetHeadCoreAsync(string componentId, CancellationToken cancellationToken) =>
        SqlServerQueries.GetHeadAsync(_connectionString, componentId, cancellationToken);

    /// <inheritdoc />
    protected override async Task<ClaimResult> ClaimCoreAsync(ClaimRequest request, CancellationToken cancellationToken) => request.RespectsLiveSilo
        ? await SqlServerCluster.ClaimForSiloAsync(_connectionString, request.ComponentId, request.ExpectedEpoch, request.Owner, cancellationToken).ConfigureAwait(false)
        : new ClaimResult(await SqlServerQueries.ClaimAsync(_connectionString, request.ComponentId, request.ExpectedEpoch, request.Owner, cancellationToken).ConfigureAwait(false));

    /// <inheritdoc />
    /// <remarks>Safe to call concurrently: each call is its own transaction on its own connection.</remarks>
    protected override async Task<IReadOnlyList<AppendStatus>> AppendCoreAsync(IReadOnlyList<AppendGroup> groups, CancellationToken cancellationToken) =>
        await SqlServerAppend.RunAsync(_connectionString, groups, cancellationToken).ConfigureAwait(false);

    /// <inheritdoc />
    protected override Task<IReadOnlyList<LogRecord>> ReadCoreAsync(string componentId, long fromSeq, long toSeq, CancellationToken cancellationToken) =>
        SqlServerQueries.ReadAsync(_connectionString, componentId, fromSeq, toSeq, cancellationToken);

    /// <inheritdoc />
    /// <remarks>The returned checkpoint's <see cref="CheckpointRecord.Dedup"/> is empty: dedup entries are looked up with <see cref="LogStoreBase.FindRequestAsync"/>.</remarks>
    protected override Task<CheckpointRecord?> GetCheckpointCoreAsync(string componentId, long atOrBeforeSeq, CancellationToken cancellationToken) =>
        SqlServerQueries.GetCheckpointAsync(_connectionString, componentId, atOrBeforeSeq, cancellationToken);

    /// <inheritdoc />
    protected override Task<DedupEntry?> FindRequestCoreAsync(string componentId, string requestId, CancellationToken cancellationToken) =>
        SqlServerQueries.FindRequestAsync(_connectionString, componentId, requestId, cancellationToken);

    /// <inheritdoc />
    protected override Task<IReadOnlyList<DedupEntry>> ListDedupCoreAsync(string componentId, CancellationToken cancellationToken) =>
        SqlServerQueries.ListDedupAsync(_connectionString, componentId, cancellationToken);

    /// <inheritdoc />
    /// <remarks>Through the full listing (never run here: no SQL Server on the development machine).</remarks>
    protected override async Task<IReadOnlyList<string>?> ListRequestIdsCoreAsync(string componentId, int limit, CancellationToken cancellationToken) =>
        WithinLimit([.. (await ListDedupCoreAsync(componentId, cancellationToken).ConfigureAwait(false)).Select(e => e.RequestId)], limit);

    /// <inheritdoc />
    protected override Task<long> TruncateCoreAsync(string componentId, long beforeSeq, CancellationToken cancellationToken) =>
        SqlServerQueries.TruncateAsync(_connectionString, componentId, beforeSeq, cancellationToken);

    /// <inheritdoc />
    protected override Task<IReadOnlyList<ComponentHead>> ListComponentsCoreAsync(CancellationToken cancellationToken) =>
        SqlServerQueries.ListComponentsAsync(_connectionString, cancellationToken);

    /// <inheritdoc />
    protected override Task<IReadOnlyList<ComponentHead>> ListInDoubtCoreAsync(CancellationToken cancellationToken) =>
        SqlServerQueries.ListInDoubtAsync(_connectionString, cancellationToken);

    /// <inheritdoc />
    protected override Task<SiloEntry> JoinCoreAsync(string siloId, string address, string? httpAddress, long deadAfterMs, CancellationToken cancellationToken) =>
        SqlServerCluster.JoinAsync(_connectionString, siloId, address, httpAddress, deadAfterMs, cancellationToken);

    /// <inheritdoc />
    protected override Task<bool> HeartbeatCoreAsync(string siloId, int activations, CancellationToken cancellationToken) =>
        SqlServerCluster.HeartbeatAsync(_connectionString, siloId, activations, cancellationToken);

    /// <inheritdoc />
    protected override Task LeaveCoreAsync(string siloId, CancellationToken cancellationToken) => SqlServerCluster.LeaveAsync(_connectionString, siloId, cancellationToken);

    /// <inheritdoc />
    protected override Task<IReadOnlyList<SiloEntry>> ListSilosCoreAsync(CancellationToken cancellationToken) => SqlServerCluster.ListSilosAsync(_connectionString, cancellationToken);

    /// <inheritdoc />
    protected override Task<bool> DeclareDeadCoreAsync(string siloId, DateTimeOffset joinedAt, string declaredBy, CancellationToken cancellationToken) =>
        SqlServerCluster.DeclareDeadAsync(_connectionString, siloId, joinedAt.UtcDateTime, declaredBy, cancellationToken);

    /// <inheritdoc />
    protected override Task<bool> HandOverCoreAsync(string componentId, long epoch, string fromSiloId, string? toSiloId, CancellationToken cancellationToken) =>
        SqlServerCluster.HandOverAsync(_connectionString, componentId, epoch, fromSiloId, toSiloId, cancellationToken);

    /// <inheritdoc />
    protected override Task<SessionReservation> OpenSessionCoreAsync(string sessionId, int reserve, string? tokenHash, CancellationToken cancellationToken) =>
        SqlServerCluster.OpenSessionAsync(_connectionString, sessionId, reserve, tokenHash, cancellationToken);

    /// <inheritdoc />
    protected override Task<SessionReservation> ReserveSessionCoreAsync(string sessionId, int reserve, CancellationToken cancellationToken) =>
        SqlServerCluster.ReserveSessionAsync(_connectionString, sessionId, reserve, cancellationToken);

    /// <inheritdoc />
    protected override Task<SessionEntry?> GetSessionCoreAsync(string sessionId, CancellationToken cancellationToken) =>
        SqlServerCluster.GetSessionAsync(_connectionString, sessionId, cancellationToken);

    /// <inheritdoc />
    protected override Task<IReadOnlyList<SessionEntry>> ListSessionsCoreAsync(int limit, CancellationToken cancellationToken) =>
        SqlServerCluster.ListSessionsAsync(_connectionString, limit, cancellationToken);

    /// <inheritdoc />
    protected override Task SetSessionItemCoreAsync(string sessionId, string key, string? value, CancellationToken cancellationToken) =>
        SqlServerCluster.SetSessionItemAsync(_connectionString, sessionId, key, value, cancellationToken);

    /// <inheritdoc />
    protected override Task CloseSessionCoreAsync(string sessionId, CancellationToken cancellationToken) =>
        SqlServerCluster.CloseSessionAsync(_connectionString, sessionId, cancellationToken);

    /// <inheritdoc />
    protected override StoreUnavailableException? DescribeFailure(Exception exception, string operation, bool write) =>
        exception is SqlException e ? Unavailable($"SQL Server log store '{Name}' failed while {operation}", e, write) : null;

    private static StoreUnavailableException Unavailable(string what, SqlException e, bool write)
    {
        var fix = e.Number switch
        {
            18456 or 18452 => "The server refused the login: check User ID and Password in the connection string (the password is not shown here), or Integrated Security.",
            4060 => "The database cannot be opened: create it (CREATE DATABASE ...) or fix Database/Initial Catalog in the connection string, and grant this login access.",
            262 or 229 or 2760 => "The login lacks a permission: grant it CREATE TABLE and CREATE TYPE (first start) and read/write on the store's tables.",
            1205 => "The transaction was chosen as a deadlock victim: retry the operation.",
            -2 => "The command timed out: check the server's load and blocking sessions, or raise Command Timeout.",
            _ => "Check that SQL Server is running and reachable at Server/Data Source of the connection string (TCP enabled, port, firewall, TLS settings such as TrustServerCertificate).",
        };
        return new StoreUnavailableException(
            $"{what}: {e.Message} (error {e.Number}).{(write ? " Nothing from this call was acknowledged; a later read tells what was committed." : "")} {fix}", e);
    }
}
