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
/// (<see cref="IClusterStore"/>, SqlServerLogStore.Cluster.cs).
/// </summary>
/// <remarks>The table layout: sql/sqlserver/001_initial.sql, and sql/sqlserver/002_cluster.sql and 003_silo_contact.sql for the cluster tables.</remarks>
public sealed partial class SqlServerLogStore : ILogStore, IClusterStore
{
    private readonly string _connectionString;
    private int _disposed;

    private SqlServerLogStore(string connectionString, string name)
    {
        _connectionString = connectionString;
        Name = name;
    }

    /// <summary><c>sqlserver:</c> and the connection string without its password.</summary>
    public string Name { get; }

    /// <summary>
    /// Opens the store on <paramref name="connectionString"/> (a SqlClient connection string), checks that the
    /// server is reachable and brings the schema up to this build's version.
    /// </summary>
    /// <exception cref="ArgumentException">The connection string cannot be parsed.</exception>
    /// <exception cref="StoreUnavailableException">The server cannot be reached, refuses the login, or the database is missing.</exception>
    /// <exception cref="SchemaVersionException">A newer middleware wrote the database, or it is not a log store.</exception>
    public static async Task<SqlServerLogStore> OpenAsync(string connectionString, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        var name = DescribeWithoutPassword(connectionString);
        try
        {
            await using var connection = new SqlConnection(connectionString);
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            await SqlServerSchema.MigrateAsync(connection, name, cancellationToken).ConfigureAwait(false);
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
    public Task<ComponentHead?> GetHeadAsync(string componentId, CancellationToken cancellationToken = default) =>
        Run("reading the head of " + componentId, false, () => SqlServerQueries.GetHeadAsync(_connectionString, componentId, cancellationToken));

    /// <inheritdoc />
    /// <remarks>An epoch-only claim is one conditional statement; one that respects live silos is one batch (<see cref="SqlServerCluster"/>).</remarks>
    public Task<ClaimResult> ClaimAsync(ClaimRequest request, CancellationToken cancellationToken = default) =>
        Run("claiming " + request?.ComponentId + (request?.RespectsLiveSilo == true ? " for silo " + request.Owner : ""), true, async () =>
        {
            ClusterRules.CheckClaim(request!);
            return request!.RespectsLiveSilo
                ? await SqlServerCluster.ClaimForSiloAsync(_connectionString, request.ComponentId, request.ExpectedEpoch, request.Owner, cancellationToken).ConfigureAwait(false)
                : new ClaimResult(await SqlServerQueries.ClaimAsync(_connectionString, request.ComponentId, request.ExpectedEpoch, request.Owner, cancellationToken).ConfigureAwait(false));
        });

    /// <inheritdoc />
    /// <remarks>Safe to call concurrently: each call is its own transaction on its own connection.</remarks>
    public Task<IReadOnlyList<AppendStatus>> AppendAsync(IReadOnlyList<AppendGroup> groups, CancellationToken cancellationToken = default) =>
        Run<IReadOnlyList<AppendStatus>>("appending", true, async () => await SqlServerAppend.RunAsync(_connectionString, groups, cancellationToken).ConfigureAwait(false));

    /// <inheritdoc />
    public Task<IReadOnlyList<LogRecord>> ReadAsync(string componentId, long fromSeq, long toSeq, CancellationToken cancellationToken = default) =>
        Run("reading the log of " + componentId, false, () => SqlServerQueries.ReadAsync(_connectionString, componentId, fromSeq, toSeq, cancellationToken));

    /// <inheritdoc />
    /// <remarks>The returned checkpoint's <see cref="CheckpointRecord.Dedup"/> is empty: dedup entries are looked up with <see cref="FindRequestAsync"/>.</remarks>
    public Task<CheckpointRecord?> GetCheckpointAsync(string componentId, long atOrBeforeSeq = long.MaxValue, CancellationToken cancellationToken = default) =>
        Run("reading a checkpoint of " + componentId, false, () => SqlServerQueries.GetCheckpointAsync(_connectionString, componentId, atOrBeforeSeq, cancellationToken));

    /// <inheritdoc />
    public Task<DedupEntry?> FindRequestAsync(string componentId, string requestId, CancellationToken cancellationToken = default) =>
        Run("looking up a request of " + componentId, false, () => SqlServerQueries.FindRequestAsync(_connectionString, componentId, requestId, cancellationToken));

    /// <inheritdoc />
    public Task<long> TruncateAsync(string componentId, long beforeSeq, CancellationToken cancellationToken = default) =>
        Run("truncating " + componentId, true, () => SqlServerQueries.TruncateAsync(_connectionString, componentId, beforeSeq, cancellationToken));

    /// <inheritdoc />
    public Task<IReadOnlyList<ComponentHead>> ListComponentsAsync(CancellationToken cancellationToken = default) =>
        Run("listing components", false, () => SqlServerQueries.ListComponentsAsync(_connectionString, cancellationToken));

    /// <inheritdoc />
    public Task<IReadOnlyList<ComponentHead>> ListInDoubtAsync(CancellationToken cancellationToken = default) =>
        Run("listing turns in doubt", false, () => SqlServerQueries.ListInDoubtAsync(_connectionString, cancellationToken));

    /// <summary>Marks the store closed; pooled connections stay with SqlClient's pool, which is keyed by connection string.</summary>
    public ValueTask DisposeAsync()
    {
        Interlocked.Exchange(ref _disposed, 1);
        return ValueTask.CompletedTask;
    }

    private async Task<T> Run<T>(string operation, bool write, Func<Task<T>> work)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) == 1, this);
        try
        {
            return await work().ConfigureAwait(false);
        }
        catch (SqlException e)
        {
            throw Unavailable($"SQL Server log store '{Name}' failed while {operation}", e, write);
        }
    }

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
