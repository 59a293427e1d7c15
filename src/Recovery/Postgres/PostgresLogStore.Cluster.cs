using Middleware.Recovery.Storage;

namespace Middleware.Recovery.Postgres;

/// <summary>
/// <see cref="IClusterStore"/> on PostgreSQL (tables of sql/postgres/002_cluster.sql and 003_silo_contact.sql,
/// statements in <see cref="PostgresCluster"/> and <see cref="PostgresSessions"/>). Each operation is one transaction
/// on a pooled connection; liveness is judged by the server's clock. Safe to call concurrently, from any number of
/// processes.
/// </summary>
public sealed partial class PostgresLogStore
{
    /// <inheritdoc />
    public Task<SiloEntry> JoinAsync(string siloId, string address, string? httpAddress, TimeSpan deadAfter, CancellationToken cancellationToken = default) =>
        Cluster("joining silo " + siloId, true, () => PostgresCluster.JoinAsync(_source, siloId, address, httpAddress, ClusterRules.CheckJoin(siloId, address, deadAfter), cancellationToken));

    /// <inheritdoc />
    public Task<bool> HeartbeatAsync(string siloId, int activations, CancellationToken cancellationToken = default) =>
        Cluster("recording a heartbeat of silo " + siloId, true, () =>
        {
            ClusterRules.CheckHeartbeat(siloId, activations);
            return PostgresCluster.HeartbeatAsync(_source, siloId, activations, cancellationToken);
        });

    /// <inheritdoc />
    public Task LeaveAsync(string siloId, CancellationToken cancellationToken = default) =>
        Cluster("removing silo " + siloId, true, () =>
        {
            ClusterRules.CheckSiloId(siloId);
            return PostgresCluster.LeaveAsync(_source, siloId, cancellationToken);
        });

    /// <inheritdoc />
    public Task<IReadOnlyList<SiloEntry>> ListSilosAsync(CancellationToken cancellationToken = default) =>
        Cluster("listing silos", true, () => PostgresCluster.ListSilosAsync(_source, cancellationToken));

    /// <inheritdoc />
    public Task<bool> HandOverAsync(string componentId, long epoch, string fromSiloId, string? toSiloId, CancellationToken cancellationToken = default) =>
        Cluster("handing over " + componentId, true, () =>
        {
            ArgumentException.ThrowIfNullOrEmpty(componentId);
            ClusterRules.CheckSiloId(fromSiloId, nameof(fromSiloId));
            return PostgresCluster.HandOverAsync(_source, componentId, epoch, fromSiloId, toSiloId, cancellationToken);
        });

    /// <inheritdoc />
    public Task<SessionReservation> OpenSessionAsync(string? sessionId, int reserve, CancellationToken cancellationToken = default) =>
        Cluster("opening session " + (sessionId ?? "(new)"), true,
            () => PostgresSessions.OpenSessionAsync(_source, ClusterRules.SessionIdToOpen(sessionId, reserve), reserve, cancellationToken));

    /// <inheritdoc />
    public Task<SessionReservation> ReserveSessionAsync(string sessionId, int reserve, CancellationToken cancellationToken = default) =>
        Cluster("reserving request numbers of session " + sessionId, true, () =>
        {
            ClusterRules.CheckReservation(sessionId, reserve);
            return PostgresSessions.ReserveSessionAsync(_source, sessionId, reserve, cancellationToken);
        });

    /// <inheritdoc />
    public Task<SessionEntry?> GetSessionAsync(string sessionId, CancellationToken cancellationToken = default) =>
        Cluster("reading session " + sessionId, false, () =>
        {
            ClusterRules.CheckSessionId(sessionId);
            return PostgresSessions.GetSessionAsync(_source, sessionId, cancellationToken);
        });

    /// <inheritdoc />
    public Task<IReadOnlyList<SessionEntry>> ListSessionsAsync(int limit = 1000, CancellationToken cancellationToken = default) =>
        Cluster("listing sessions", false, () =>
        {
            ClusterRules.CheckLimit(limit);
            return PostgresSessions.ListSessionsAsync(_source, limit, cancellationToken);
        });

    /// <inheritdoc />
    public Task SetSessionItemAsync(string sessionId, string key, string? value, CancellationToken cancellationToken = default) =>
        Cluster("setting an item of session " + sessionId, true, () =>
        {
            ClusterRules.CheckItem(sessionId, key);
            return PostgresSessions.SetSessionItemAsync(_source, sessionId, key, value, cancellationToken);
        });

    /// <inheritdoc />
    public Task CloseSessionAsync(string sessionId, CancellationToken cancellationToken = default) =>
        Cluster("closing session " + sessionId, true, () =>
        {
            ClusterRules.CheckSessionId(sessionId);
            return PostgresSessions.CloseSessionAsync(_source, sessionId, cancellationToken);
        });

    /// <summary>Like <c>Run</c>: argument errors and the contract's refusals pass through, driver failures become <see cref="StoreUnavailableException"/>.</summary>
    private Task<T> Cluster<T>(string operation, bool write, Func<Task<T>> work) => Run(operation, write, work);
}
