namespace Middleware.Recovery.Storage;

/// <summary>The cluster operations of <see cref="LogStoreBase"/>: the argument rules of <see cref="ClusterRules"/>, then the core.</summary>
public abstract partial class LogStoreBase
{
    /// <inheritdoc />
    public Task<SiloEntry> JoinAsync(string siloId, string address, string? httpAddress, TimeSpan deadAfter, CancellationToken cancellationToken = default) =>
        Run("joining silo", siloId, true, () => JoinCoreAsync(siloId, address, httpAddress, ClusterRules.CheckJoin(siloId, address, deadAfter), cancellationToken));

    /// <inheritdoc />
    public Task<bool> HeartbeatAsync(string siloId, int activations, CancellationToken cancellationToken = default) =>
        Run("recording a heartbeat of silo", siloId, true, () =>
        {
            ClusterRules.CheckHeartbeat(siloId, activations);
            return HeartbeatCoreAsync(siloId, activations, cancellationToken);
        });

    /// <inheritdoc />
    public Task LeaveAsync(string siloId, CancellationToken cancellationToken = default) =>
        Run("removing silo", siloId, true, () =>
        {
            ClusterRules.CheckSiloId(siloId);
            return Done(LeaveCoreAsync(siloId, cancellationToken));
        });

    /// <inheritdoc />
    public Task<IReadOnlyList<SiloEntry>> ListSilosAsync(CancellationToken cancellationToken = default) =>
        Run("listing silos", null, true, () => ListSilosCoreAsync(cancellationToken));

    /// <inheritdoc />
    public Task<bool> DeclareDeadAsync(string siloId, DateTimeOffset joinedAt, string declaredBy, CancellationToken cancellationToken = default) =>
        Run("declaring dead silo", siloId, true, () =>
        {
            ClusterRules.CheckSiloId(siloId);
            ClusterRules.CheckSiloId(declaredBy, nameof(declaredBy));
            // A silo cannot declare itself dead: it leaves instead.
            return siloId == declaredBy ? Task.FromResult(false) : DeclareDeadCoreAsync(siloId, joinedAt.ToUniversalTime(), declaredBy, cancellationToken);
        });

    /// <inheritdoc />
    public Task<bool> HandOverAsync(string componentId, long epoch, string fromSiloId, string? toSiloId, CancellationToken cancellationToken = default) =>
        Run("handing over", componentId, true, () =>
        {
            ArgumentException.ThrowIfNullOrEmpty(componentId);
            ClusterRules.CheckSiloId(fromSiloId, nameof(fromSiloId));
            return HandOverCoreAsync(componentId, epoch, fromSiloId, toSiloId, cancellationToken);
        });

    /// <inheritdoc />
    public Task<SessionReservation> OpenSessionAsync(string? sessionId, int reserve, string? tokenHash = null, CancellationToken cancellationToken = default) =>
        Run("opening session", sessionId ?? "(new)", true, () =>
        {
            var id = ClusterRules.SessionIdToOpen(sessionId, reserve);
            ClusterRules.CheckTokenHash(tokenHash);
            return OpenSessionCoreAsync(id, reserve, tokenHash, cancellationToken);
        });

    /// <inheritdoc />
    public Task<SessionReservation> ReserveSessionAsync(string sessionId, int reserve, CancellationToken cancellationToken = default) =>
        Run("reserving request numbers of session", sessionId, true, () =>
        {
            ClusterRules.CheckReservation(sessionId, reserve);
            return ReserveSessionCoreAsync(sessionId, reserve, cancellationToken);
        });

    /// <inheritdoc />
    public Task<SessionEntry?> GetSessionAsync(string sessionId, CancellationToken cancellationToken = default) =>
        Run("reading session", sessionId, false, () =>
        {
            ClusterRules.CheckSessionId(sessionId);
            return GetSessionCoreAsync(sessionId, cancellationToken);
        });

    /// <inheritdoc />
    public Task<IReadOnlyList<SessionEntry>> ListSessionsAsync(int limit = 1000, CancellationToken cancellationToken = default) =>
        Run("listing sessions", null, false, () =>
        {
            ClusterRules.CheckLimit(limit);
            return ListSessionsCoreAsync(limit, cancellationToken);
        });

    /// <inheritdoc />
    public Task SetSessionItemAsync(string sessionId, string key, string? value, CancellationToken cancellationToken = default) =>
        Run("setting an item of session", sessionId, true, () =>
        {
            ClusterRules.CheckItem(sessionId, key);
            return Done(SetSessionItemCoreAsync(sessionId, key, value, cancellationToken));
        });

    /// <inheritdoc />
    public Task CloseSessionAsync(string sessionId, CancellationToken cancellationToken = default) =>
        Run("closing session", sessionId, true, () =>
        {
            ClusterRules.CheckSessionId(sessionId);
            return Done(CloseSessionCoreAsync(sessionId, cancellationToken));
        });

    /// <summary>Registers the silo with a window of <paramref name="deadAfterMs"/> (at least 1) (<see cref="IClusterStore.JoinAsync"/>).</summary>
    protected abstract Task<SiloEntry> JoinCoreAsync(string siloId, string address, string? httpAddress, long deadAfterMs, CancellationToken cancellationToken);

    /// <summary>Refreshes a heartbeat, starting a new run of contact after a gap (<see cref="IClusterStore.HeartbeatAsync"/>).</summary>
    protected abstract Task<bool> HeartbeatCoreAsync(string siloId, int activations, CancellationToken cancellationToken);

    /// <summary>Marks the silo left and releases its components in one transaction (<see cref="IClusterStore.LeaveAsync"/>).</summary>
    protected abstract Task LeaveCoreAsync(string siloId, CancellationToken cancellationToken);

    /// <summary>Marks condemned silos dead (rule 2), then lists them all in <see cref="ClusterRules.Order"/> (<see cref="IClusterStore.ListSilosAsync"/>).</summary>
    protected abstract Task<IReadOnlyList<SiloEntry>> ListSilosCoreAsync(CancellationToken cancellationToken);

    /// <summary>The store's <see cref="IClusterStore.DeclareDeadAsync"/> (arguments checked; the two ids differ; joinedAt in UTC).</summary>
    protected abstract Task<bool> DeclareDeadCoreAsync(string siloId, DateTimeOffset joinedAt, string declaredBy, CancellationToken cancellationToken);

    /// <summary>Hands a component over without an epoch bump (<see cref="IClusterStore.HandOverAsync"/>).</summary>
    protected abstract Task<bool> HandOverCoreAsync(string componentId, long epoch, string fromSiloId, string? toSiloId, CancellationToken cancellationToken);

    /// <summary>
    /// Creates (storing <paramref name="tokenHash"/>) or resumes (leaving the stored hash as it is) the session
    /// <paramref name="sessionId"/> (already chosen and checked) and reserves numbers (<see cref="IClusterStore.OpenSessionAsync"/>).
    /// </summary>
    protected abstract Task<SessionReservation> OpenSessionCoreAsync(string sessionId, int reserve, string? tokenHash, CancellationToken cancellationToken);

    /// <summary>Reserves a further block of an open session (<see cref="IClusterStore.ReserveSessionAsync"/>).</summary>
    protected abstract Task<SessionReservation> ReserveSessionCoreAsync(string sessionId, int reserve, CancellationToken cancellationToken);

    /// <summary>A session with its items, or null (<see cref="IClusterStore.GetSessionAsync"/>).</summary>
    protected abstract Task<SessionEntry?> GetSessionCoreAsync(string sessionId, CancellationToken cancellationToken);

    /// <summary>Sessions, latest opened first, at most <paramref name="limit"/> (<see cref="IClusterStore.ListSessionsAsync"/>).</summary>
    protected abstract Task<IReadOnlyList<SessionEntry>> ListSessionsCoreAsync(int limit, CancellationToken cancellationToken);

    /// <summary>Sets or removes one item of a session (<see cref="IClusterStore.SetSessionItemAsync"/>).</summary>
    protected abstract Task SetSessionItemCoreAsync(string sessionId, string key, string? value, CancellationToken cancellationToken);

    /// <summary>Marks a session closed (<see cref="IClusterStore.CloseSessionAsync"/>).</summary>
    protected abstract Task CloseSessionCoreAsync(string sessionId, CancellationToken cancellationToken);
}
