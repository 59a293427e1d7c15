using Middleware.Recovery.Log;

namespace Middleware.Recovery.Storage;

/// <summary>
/// The cluster tables of the in-memory store: the reference for <see cref="IClusterStore"/>. Every operation
/// runs under the store's one lock, so it is atomic with claims and appends, and its clock is the store's
/// <see cref="TimeProvider"/>.
/// </summary>
public sealed partial class MemoryLogStore
{
    private readonly Dictionary<string, SiloRow> _silos = new(StringComparer.Ordinal);
    private readonly Dictionary<string, SessionRow> _sessions = new(StringComparer.Ordinal);

    /// <inheritdoc />
    protected override Task<SiloEntry> JoinCoreAsync(string siloId, string address, string? httpAddress, long windowMs, CancellationToken cancellationToken) =>
        Run(() =>
        {
            var now = _time.GetUtcNow();
            var row = new SiloRow(address, httpAddress, SiloStatus.Active, now, windowMs, 0, now, now);
            _silos[siloId] = row;
            return row.Entry(siloId, now);
        });

    /// <inheritdoc />
    protected override Task<bool> HeartbeatCoreAsync(string siloId, int activations, CancellationToken cancellationToken) =>
        Run(() =>
        {
            if (!_silos.TryGetValue(siloId, out var row) || row.Status != SiloStatus.Active) return false;
            var now = _time.GetUtcNow();
            // A gap of more than half the smallest window ends the run of contact (the store, or this silo, was away
            // long enough for a silo with that window to miss two heartbeats): it vouches for nobody until its new run
            // covers a suspect's whole window.
            var smallestWindowMs = _silos.Values.Where(s => s.Status == SiloStatus.Active).Min(s => s.DeadAfterMs);
            var contactSince = 2 * (now - row.Heartbeat).TotalMilliseconds > smallestWindowMs ? now : row.ContactSince;
            _silos[siloId] = row with { Heartbeat = now, Activations = activations, ContactSince = contactSince };
            return true;
        });

    /// <inheritdoc />
    protected override Task LeaveCoreAsync(string siloId, CancellationToken cancellationToken) =>
        Run(() =>
        {
            if (_silos.TryGetValue(siloId, out var row)) _silos[siloId] = row with { Status = SiloStatus.Left };
            foreach (var e in _components.Values)
            {
                if (string.Equals(e.Owner, siloId, StringComparison.Ordinal)) e.Owner = null;
            }

            return true;
        });

    /// <inheritdoc />
    protected override Task<IReadOnlyList<SiloEntry>> ListSilosCoreAsync(CancellationToken cancellationToken) =>
        Run<IReadOnlyList<SiloEntry>>(() =>
        {
            var now = _time.GetUtcNow();
            MarkExpiredDead(now);
            return ClusterRules.Order(_silos.Select(kv => kv.Value.Entry(kv.Key, now)));
        });

    /// <inheritdoc />
    protected override Task<bool> DeclareDeadCoreAsync(string siloId, DateTimeOffset joinedAt, string declaredBy, CancellationToken cancellationToken) =>
        Run(() =>
        {
            var now = _time.GetUtcNow();
            MarkExpiredDead(now);
            if (!_silos.TryGetValue(declaredBy, out var by) || !by.Entry(declaredBy, now).IsLive) return false;
            if (!_silos.TryGetValue(siloId, out var row) || row.Status != SiloStatus.Active || !ClusterRules.SameJoin(row.JoinedAt, joinedAt)) return false;
            _silos[siloId] = row with { Status = SiloStatus.Dead };
            return true;
        });

    /// <inheritdoc />
    protected override Task<ClaimResult> ClaimCoreAsync(ClaimRequest request, CancellationToken cancellationToken) =>
        Run(() => ClaimLocked(request, null));

    /// <summary>Rule 5's claim (and, for a claim inside an append, a conflict unless the last seq is <paramref name="expectedLastSeq"/>). Call under the lock.</summary>
    private ClaimResult ClaimLocked(ClaimRequest request, long? expectedLastSeq)
    {
        var (componentId, expectedEpoch, owner, _) = request;
        if (request.RespectsLiveSilo) MarkExpiredDead(_time.GetUtcNow());
        _components.TryGetValue(componentId, out var e);
        if (request.RespectsLiveSilo && e?.Owner is { } current && !string.Equals(current, owner, StringComparison.Ordinal) &&
            _silos.TryGetValue(current, out var ownerRow) && ownerRow.Status == SiloStatus.Active)
        {
            return new ClaimResult(null, current, ownerRow.Address);
        }

        if (e is null)
        {
            if (expectedEpoch != 0) return new ClaimResult(null);
            e = new Entry();
            _components.Add(componentId, e);
        }
        else if (e.Epoch != expectedEpoch || (expectedLastSeq is { } lastSeq && e.LastSeq != lastSeq))
        {
            return new ClaimResult(null);
        }

        e.Epoch++;
        e.Owner = owner;
        return new ClaimResult(e.Head(componentId));
    }

    /// <inheritdoc />
    protected override Task<bool> HandOverCoreAsync(string componentId, long epoch, string fromSiloId, string? toSiloId, CancellationToken cancellationToken) =>
        Run(() =>
        {
            if (!_components.TryGetValue(componentId, out var e) || e.Epoch != epoch || !string.Equals(e.Owner, fromSiloId, StringComparison.Ordinal))
                return false;
            e.Owner = toSiloId;
            return true;
        });

    /// <inheritdoc />
    protected override Task<SessionReservation> OpenSessionCoreAsync(string id, int reserve, string? tokenHash, CancellationToken cancellationToken) =>
        Run(() =>
        {
            var now = _time.GetUtcNow();
            if (!_sessions.TryGetValue(id, out var row))
            {
                row = new SessionRow { Reserved = reserve, Opens = 1, CreatedAt = now, LastOpenedAt = now, TokenHash = tokenHash };
                _sessions.Add(id, row);
            }
            else
            {
                if (row.Status == SessionStatus.Closed) throw ClusterRules.SessionClosed(id);
                row.Reserved += reserve;
                row.Opens++;
                row.LastOpenedAt = now;
            }

            return ClusterRules.Reservation(row.Entry(id), reserve);
        });

    /// <inheritdoc />
    protected override Task<SessionReservation> ReserveSessionCoreAsync(string sessionId, int reserve, CancellationToken cancellationToken) =>
        Run(() =>
        {
            if (!_sessions.TryGetValue(sessionId, out var row)) throw ClusterRules.UnknownSession(sessionId);
            if (row.Status == SessionStatus.Closed) throw ClusterRules.SessionClosed(sessionId);
            row.Reserved += reserve; // a further block, not an open: Opens and LastOpenedAt stay
            return ClusterRules.Reservation(row.Entry(sessionId), reserve);
        });

    /// <inheritdoc />
    protected override Task<SessionEntry?> GetSessionCoreAsync(string sessionId, CancellationToken cancellationToken) =>
        Run(() =>
        {
            return _sessions.TryGetValue(sessionId, out var row) ? row.Entry(sessionId) : null;
        });

    /// <inheritdoc />
    protected override Task<IReadOnlyList<SessionEntry>> ListSessionsCoreAsync(int limit, CancellationToken cancellationToken) =>
        Run<IReadOnlyList<SessionEntry>>(() =>
        {
            return _sessions.OrderByDescending(kv => kv.Value.LastOpenedAt).ThenBy(kv => kv.Key, StringComparer.Ordinal)
                .Take(limit).Select(kv => kv.Value.Entry(kv.Key)).ToList();
        });

    /// <inheritdoc />
    protected override Task SetSessionItemCoreAsync(string sessionId, string key, string? value, CancellationToken cancellationToken) =>
        Run(() =>
        {
            if (!_sessions.TryGetValue(sessionId, out var row)) throw ClusterRules.UnknownSession(sessionId);
            if (value is null) row.Items.Remove(key);
            else row.Items[key] = value;
            return true;
        });

    /// <inheritdoc />
    protected override Task CloseSessionCoreAsync(string sessionId, CancellationToken cancellationToken) =>
        Run(() =>
        {
            if (!_sessions.TryGetValue(sessionId, out var row)) throw ClusterRules.UnknownSession(sessionId);
            row.Status = SessionStatus.Closed;
            return true;
        });

    /// <summary>
    /// Marks dead every active silo whose window passed at <paramref name="now"/> while another silo was in contact
    /// with the store throughout that window (<see cref="IClusterStore"/>, rule 2). Call under the lock.
    /// </summary>
    private void MarkExpiredDead(DateTimeOffset now)
    {
        var rows = _silos.ToList();
        foreach (var (id, row) in rows)
        {
            if (row.Status == SiloStatus.Active && (now - row.Heartbeat).TotalMilliseconds >= row.DeadAfterMs &&
                rows.Any(w => w.Key != id && w.Value.Vouches(now, row.DeadAfterMs)))
            {
                _silos[id] = row with { Status = SiloStatus.Dead };
            }
        }
    }

    /// <summary>Runs <paramref name="work"/> under the store's lock; its exceptions escape to <see cref="LogStoreBase"/>, which faults the task.</summary>
    private Task<T> Run<T>(Func<T> work)
    {
        lock (_gate)
        {
            return Task.FromResult(work());
        }
    }

    /// <summary>A silos row. <c>ContactSince</c> starts the current run of heartbeats no more than half the smallest active window apart.</summary>
    private sealed record SiloRow(string Address, string? HttpAddress, SiloStatus Status, DateTimeOffset Heartbeat, long DeadAfterMs, int Activations, DateTimeOffset JoinedAt,
        DateTimeOffset ContactSince)
    {
        /// <summary>
        /// True when this silo is live, its run of contact covers the last <paramref name="suspectWindowMs"/> up to
        /// <paramref name="now"/>, and its last heartbeat is at most half that window old: a suspect silent through
        /// that window failed while the store served others.
        /// </summary>
        public bool Vouches(DateTimeOffset now, long suspectWindowMs)
        {
            var ageMs = (now - Heartbeat).TotalMilliseconds;
            return Status == SiloStatus.Active && ageMs < DeadAfterMs && 2 * ageMs <= suspectWindowMs &&
                (now - ContactSince).TotalMilliseconds >= suspectWindowMs;
        }

        public SiloEntry Entry(string id, DateTimeOffset now) =>
            new(id, Address, HttpAddress, Status, now > Heartbeat ? now - Heartbeat : TimeSpan.Zero, TimeSpan.FromMilliseconds(DeadAfterMs), Activations, JoinedAt);
    }

    private sealed class SessionRow
    {
        public SessionStatus Status = SessionStatus.Open;
        public long Reserved;
        public int Opens;
        public DateTimeOffset CreatedAt;
        public DateTimeOffset LastOpenedAt;
        public string? TokenHash;
        public readonly Dictionary<string, string> Items = new(StringComparer.Ordinal);

        public SessionEntry Entry(string id) =>
            new(id, Status, Reserved, Opens, CreatedAt, LastOpenedAt, new Dictionary<string, string>(Items, StringComparer.Ordinal), TokenHash);
    }
}
