using Middleware.Recovery.Storage;

namespace Middleware.Recovery.Sqlite;

/// <summary>
/// <see cref="IClusterStore"/> on the SQLite file (tables of sql/sqlite/002_cluster.sql and 003_silo_contact.sql).
/// Every operation that writes, or decides on liveness, runs on the writer connection in one BEGIN IMMEDIATE
/// transaction, so it is serialized with appends and claims of this process and, through SQLite's write lock, of
/// every other process on the file. Session reads use the reader pool. Liveness is judged by SQLite's clock, never this process's.
/// </summary>
public sealed partial class SqliteLogStore
{
    /// <inheritdoc />
    public Task<SiloEntry> JoinAsync(string siloId, string address, string? httpAddress, TimeSpan deadAfter, CancellationToken cancellationToken = default) =>
        Write("joining silo " + siloId, () => _writer.Join(siloId, address, httpAddress, ClusterRules.CheckJoin(siloId, address, deadAfter)), cancellationToken);

    /// <inheritdoc />
    public Task<bool> HeartbeatAsync(string siloId, int activations, CancellationToken cancellationToken = default) =>
        Write("recording a heartbeat of silo " + siloId, () =>
        {
            ClusterRules.CheckHeartbeat(siloId, activations);
            return _writer.Heartbeat(siloId, activations);
        }, cancellationToken);

    /// <inheritdoc />
    public Task LeaveAsync(string siloId, CancellationToken cancellationToken = default) =>
        Write("removing silo " + siloId, () =>
        {
            ClusterRules.CheckSiloId(siloId);
            return _writer.Leave(siloId);
        }, cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<SiloEntry>> ListSilosAsync(CancellationToken cancellationToken = default) =>
        Write<IReadOnlyList<SiloEntry>>("listing silos", () => _writer.ListSilos(), cancellationToken);

    /// <inheritdoc />
    public Task<bool> HandOverAsync(string componentId, long epoch, string fromSiloId, string? toSiloId, CancellationToken cancellationToken = default) =>
        Write("handing over " + componentId, () =>
        {
            ArgumentException.ThrowIfNullOrEmpty(componentId);
            ClusterRules.CheckSiloId(fromSiloId, nameof(fromSiloId));
            return _writer.HandOver(componentId, epoch, fromSiloId, toSiloId);
        }, cancellationToken);

    /// <inheritdoc />
    public Task<SessionReservation> OpenSessionAsync(string? sessionId, int reserve, CancellationToken cancellationToken = default) =>
        Write("opening session " + (sessionId ?? "(new)"), () => _writer.OpenSession(ClusterRules.SessionIdToOpen(sessionId, reserve), reserve), cancellationToken);

    /// <inheritdoc />
    public Task<SessionReservation> ReserveSessionAsync(string sessionId, int reserve, CancellationToken cancellationToken = default) =>
        Write("reserving request numbers of session " + sessionId, () =>
        {
            ClusterRules.CheckReservation(sessionId, reserve);
            return _writer.ReserveSession(sessionId, reserve);
        }, cancellationToken);

    /// <inheritdoc />
    public Task<SessionEntry?> GetSessionAsync(string sessionId, CancellationToken cancellationToken = default)
    {
        try
        {
            ClusterRules.CheckSessionId(sessionId);
        }
        catch (ArgumentException e)
        {
            return Task.FromException<SessionEntry?>(e);
        }

        return ReadAsync("reading session " + sessionId, r => r.GetSession(sessionId), cancellationToken);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<SessionEntry>> ListSessionsAsync(int limit = 1000, CancellationToken cancellationToken = default)
    {
        try
        {
            ClusterRules.CheckLimit(limit);
        }
        catch (ArgumentException e)
        {
            return Task.FromException<IReadOnlyList<SessionEntry>>(e);
        }

        return ReadAsync<IReadOnlyList<SessionEntry>>("listing sessions", r => r.ListSessions(limit), cancellationToken);
    }

    /// <inheritdoc />
    public Task SetSessionItemAsync(string sessionId, string key, string? value, CancellationToken cancellationToken = default) =>
        Write("setting an item of session " + sessionId, () =>
        {
            ClusterRules.CheckItem(sessionId, key);
            return _writer.SetSessionItem(sessionId, key, value);
        }, cancellationToken);

    /// <inheritdoc />
    public Task CloseSessionAsync(string sessionId, CancellationToken cancellationToken = default) =>
        Write("closing session " + sessionId, () =>
        {
            ClusterRules.CheckSessionId(sessionId);
            return _writer.CloseSession(sessionId);
        }, cancellationToken);
}
