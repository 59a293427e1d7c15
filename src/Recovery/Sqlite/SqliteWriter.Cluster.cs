using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;

namespace Middleware.Recovery.Sqlite;

/// <summary>
/// The cluster writes (membership, claims for silos, hand-overs, sessions): each one BEGIN IMMEDIATE
/// transaction on the writer connection, under the same lock as appends and claims. Nothing of the cluster
/// state is cached: every decision reads the file inside the write transaction, so it holds against other
/// processes writing the same file. The store clock is SQLite's: one reading of <c>julianday('now')</c> in unix
/// milliseconds per operation, used for every comparison and stamp of that operation.
/// </summary>
internal sealed partial class SqliteWriter
{
    private ClusterStatements? _clusterStatements;

    /// <summary>The cluster statements, prepared on first use (a store that never sees a cluster call pays nothing).</summary>
    private ClusterStatements Cluster => _clusterStatements ??= new ClusterStatements(_db);

    public SiloEntry Join(string siloId, string address, string? httpAddress, long deadAfterMs) =>
        InTransaction(() =>
        {
            var c = Cluster;
            var now = NowMs(c);
            c.Join.Bind(1, siloId).Bind(2, address).Bind(3, httpAddress).Bind(4, now).Bind(5, deadAfterMs).Run();
            return new SiloEntry(siloId, address, httpAddress, SiloStatus.Active, TimeSpan.Zero, TimeSpan.FromMilliseconds(deadAfterMs), 0,
                DateTimeOffset.FromUnixTimeMilliseconds(now));
        });

    public bool Heartbeat(string siloId, int activations) =>
        InTransaction(() =>
        {
            var c = Cluster;
            c.Heartbeat.Bind(1, siloId).Bind(2, NowMs(c)).Bind(3, activations).Run();
            return _db.Changes() == 1;
        });

    public bool Leave(string siloId) =>
        InTransaction(() =>
        {
            var c = Cluster;
            c.Leave.Bind(1, siloId).Run();
            c.Release.Bind(1, siloId).Run();
            return true;
        });

    public List<SiloEntry> ListSilos() =>
        InTransaction(() =>
        {
            var c = Cluster;
            var now = NowMs(c);
            c.MarkDead.Bind(1, now).Run();
            var silos = new List<SiloEntry>();
            var list = c.ListSilos.Bind(1, now);
            try
            {
                while (list.Step())
                {
                    silos.Add(new SiloEntry(list.Text(0) ?? "", list.Text(1) ?? "", list.Text(2), (SiloStatus)list.Int64(3),
                        TimeSpan.FromMilliseconds(Math.Max(0, list.Int64(4))), TimeSpan.FromMilliseconds(list.Int64(5)), (int)list.Int64(6),
                        DateTimeOffset.FromUnixTimeMilliseconds(list.Int64(7))));
                }
            }
            finally
            {
                list.Reset();
            }

            return ClusterRules.Order(silos);
        });

    /// <summary>Rule 6 of <see cref="IClusterStore"/>: marks the incarnation of <paramref name="siloId"/> that joined at <paramref name="joinedAtMs"/> dead when <paramref name="declaredBy"/> is live.</summary>
    public bool DeclareDead(string siloId, long joinedAtMs, string declaredBy) =>
        InTransaction(() =>
        {
            var c = Cluster;
            var now = NowMs(c);
            c.MarkDead.Bind(1, now).Run();
            c.DeclareDead.Bind(1, siloId).Bind(2, joinedAtMs).Bind(3, declaredBy).Bind(4, now).Run();
            return _db.Changes() == 1;
        });

    /// <summary>
    /// The claim (rule 5 of <see cref="ILogStore"/>), all under the write lock: in <see cref="ClaimMode.RespectLiveSilo"/>
    /// condemned silos are marked dead and an owner that is an active silo refuses it; then the conditional epoch bump.
    /// </summary>
    public ClaimResult Claim(ClaimRequest request, long nowTicks) => ClaimMany([request], nowTicks)[0];

    /// <summary>
    /// Several claims in one transaction (one fsync), each decided as <see cref="Claim"/> decides it alone, in order: a
    /// later claim of the same component sees an earlier one's epoch. A failure of the store fails them all.
    /// </summary>
    public IReadOnlyList<ClaimResult> ClaimMany(IReadOnlyList<ClaimRequest> requests, long nowTicks)
    {
        lock (_gate)
        {
            var created = new List<(string Id, long Cid)>();
            var results = InTransaction(() => ClaimAllInTransaction(requests, nowTicks, created));

            // Only now are the new rows committed; caching their cids earlier could keep a number a rollback freed.
            foreach (var (id, cid) in created) RememberCid(id, cid);
            return results;
        }
    }

    /// <summary>
    /// Takes one batch of the claims and the hand-overs waiting in <paramref name="claims"/> and decides it in its own
    /// transaction (the claims first, then the hand-overs), answering each once committed (or failing them all); false when
    /// none waited.
    /// </summary>
    public bool DrainClaims(ClaimCombiner claims, long nowTicks)
    {
        List<ClaimQueue.Pending>? batch;
        List<ClaimCombiner.PendingHandOver>? handOvers;
        IReadOnlyList<ClaimResult> results = [];
        bool[]? moved = null;
        lock (_gate)
        {
            batch = claims.Take();
            handOvers = claims.TakeHandOvers();
            if (batch is null && handOvers is null) return false;
            try
            {
                var created = new List<(string Id, long Cid)>();
                InTransaction(() =>
                {
                    results = batch is null ? [] : ClaimAllInTransaction(batch.ConvertAll(p => p.Request), nowTicks, created);
                    moved = HandOverAll(handOvers);
                    return true;
                });

                // Only now are the new rows committed; caching their cids earlier could keep a number a rollback freed.
                foreach (var (id, cid) in created) RememberCid(id, cid);
            }
            catch (Exception e)
            {
                if (batch is not null) ClaimQueue.Fail(batch, e);
                ClaimCombiner.Fail(handOvers, e);
                throw;
            }
        }

        try
        {
            AfterCommit?.Invoke(); // the overlapped WAL sync: the answers wait for a sync that started after the commit
        }
        catch (Exception e)
        {
            if (batch is not null) ClaimQueue.Fail(batch, e);
            ClaimCombiner.Fail(handOvers, e);
            throw;
        }

        if (batch is not null) ClaimQueue.Complete(batch, results);
        ClaimCombiner.Complete(handOvers, moved);
        return true;
    }

    /// <summary>The claims of one transaction, in order (the caller holds the write lock inside BEGIN IMMEDIATE).</summary>
    private ClaimResult[] ClaimAllInTransaction(IReadOnlyList<ClaimRequest> requests, long nowTicks, List<(string Id, long Cid)> created)
    {
        created.Clear();
        var respectLive = false;
        for (var i = 0; i < requests.Count && !respectLive; i++) respectLive = requests[i].RespectsLiveSilo;
        if (respectLive) Cluster.MarkDead.Bind(1, NowMs(Cluster)).Run();
        var decided = new ClaimResult[requests.Count];
        for (var i = 0; i < requests.Count; i++) decided[i] = ClaimInTransaction(requests[i], nowTicks, created);
        return decided;
    }

    /// <param name="request">The claim.</param>
    /// <param name="nowTicks">When.</param>
    /// <param name="created">Collects the components this transaction created (their cids cached after the commit).</param>
    /// <param name="expectedLastSeq">For a claim inside an append (<see cref="AppendClaim"/>): a conflict unless the last seq is this.</param>
    private ClaimResult ClaimInTransaction(ClaimRequest request, long nowTicks, List<(string Id, long Cid)> created, long? expectedLastSeq = null)
    {
        var (componentId, expectedEpoch, owner, _) = request;
        if (CidOf(componentId) is not { } cid)
        {
            if (expectedEpoch != 0) return new ClaimResult(null);
            _newComponent.Bind(1, componentId).Bind(2, owner).Bind(3, nowTicks).Run();
            var newCid = _db.LastInsertRowId();
            _newHead.Bind(1, newCid).Run();
            created.Add((componentId, newCid));
            return new ClaimResult(new ComponentHead(componentId, 1, owner, 0, 0));
        }

        if (request.RespectsLiveSilo && Owner(Cluster, cid) is { } current && !string.Equals(current, owner, StringComparison.Ordinal) &&
            LiveAddress(Cluster, current) is { } address)
        {
            return new ClaimResult(null, current, address);
        }

        if (expectedLastSeq is { } lastSeq && (ReadHead(cid) is not { } read || read.LastSeq != lastSeq)) return new ClaimResult(null);
        _claimNext.Bind(1, cid).Bind(2, expectedEpoch).Run();
        if (_db.Changes() != 1) return new ClaimResult(null);
        _setOwner.Bind(1, cid).Bind(2, owner).Bind(3, nowTicks).Run();
        return ReadHead(cid) is { } stored
            ? new ClaimResult(new ComponentHead(componentId, stored.Epoch, owner, stored.LastSeq, stored.CheckpointSeq))
            : new ClaimResult(null);
    }

    public bool HandOver(string componentId, long epoch, string fromSiloId, string? toSiloId) =>
        InTransaction(() => HandOverInTransaction(componentId, epoch, fromSiloId, toSiloId));

    /// <summary>The conditional owner change of <see cref="HandOver"/> (the caller holds the write lock inside BEGIN IMMEDIATE).</summary>
    private bool HandOverInTransaction(string componentId, long epoch, string fromSiloId, string? toSiloId)
    {
        Cluster.HandOver.Bind(1, componentId).Bind(2, fromSiloId).Bind(3, toSiloId).Bind(4, epoch).Run();
        return _db.Changes() == 1;
    }

    /// <summary>
    /// The hand-overs <see cref="ClaimCombiner.TakeHandOvers"/> took, in order, each decided as <see cref="HandOver"/> decides
    /// it alone (the caller holds the write lock inside BEGIN IMMEDIATE); null when there were none.
    /// </summary>
    internal bool[]? HandOverAll(List<ClaimCombiner.PendingHandOver>? handOvers)
    {
        if (handOvers is null) return null;
        var moved = new bool[handOvers.Count];
        for (var i = 0; i < handOvers.Count; i++)
        {
            var h = handOvers[i];
            moved[i] = HandOverInTransaction(h.ComponentId, h.Epoch, h.FromSiloId, h.ToSiloId);
        }

        return moved;
    }

    public SessionReservation OpenSession(string sessionId, int reserve, string? tokenHash) =>
        InTransaction(() =>
        {
            var c = Cluster;
            var now = NowMs(c);
            long? status;
            try
            {
                status = c.StatusOf.Bind(1, sessionId).Step() ? c.StatusOf.Int64(0) : null;
            }
            finally
            {
                c.StatusOf.Reset();
            }

            if (status is null) c.NewSession.Bind(1, sessionId).Bind(2, reserve).Bind(3, now).Bind(4, tokenHash).Run();
            else if (status != (long)SessionStatus.Open) throw ClusterRules.SessionClosed(sessionId);
            else c.ResumeSession.Bind(1, sessionId).Bind(2, reserve).Bind(3, now).Run();

            var session = SqliteSessions.Read(c.SessionRow, c.SessionItems, sessionId)
                ?? throw new InvalidOperationException($"Session '{sessionId}' was written but cannot be read back in the same transaction.");
            return ClusterRules.Reservation(session, reserve);
        });

    /// <summary>A further block of an open session: reserved grows, opens and last_opened_at stay.</summary>
    public SessionReservation ReserveSession(string sessionId, int reserve) =>
        InTransaction(() =>
        {
            var c = Cluster;
            c.ReserveMore.Bind(1, sessionId).Bind(2, reserve).Run();
            if (_db.Changes() != 1) throw SessionExists(c, sessionId) ? ClusterRules.SessionClosed(sessionId) : ClusterRules.UnknownSession(sessionId);
            var session = SqliteSessions.Read(c.SessionRow, c.SessionItems, sessionId)
                ?? throw new InvalidOperationException($"Session '{sessionId}' was written but cannot be read back in the same transaction.");
            return ClusterRules.Reservation(session, reserve);
        });

    public bool SetSessionItem(string sessionId, string key, string? value) =>
        InTransaction(() =>
        {
            var c = Cluster;
            if (!SessionExists(c, sessionId)) throw ClusterRules.UnknownSession(sessionId);
            if (value is null) c.RemoveItem.Bind(1, sessionId).Bind(2, key).Run();
            else c.SetItem.Bind(1, sessionId).Bind(2, key).Bind(3, value).Run();
            return true;
        });

    public bool CloseSession(string sessionId) =>
        InTransaction(() =>
        {
            var c = Cluster;
            c.CloseSession.Bind(1, sessionId).Run();
            if (_db.Changes() != 1) throw ClusterRules.UnknownSession(sessionId);
            return true;
        });

    /// <summary>The store clock: SQLite's 'now' in unix milliseconds.</summary>
    private static long NowMs(ClusterStatements c)
    {
        try
        {
            if (!c.Now.Step()) throw new InvalidOperationException("SQLite returned no row for the current time.");
            return c.Now.Int64(0);
        }
        finally
        {
            c.Now.Reset();
        }
    }

    private static string? Owner(ClusterStatements c, long cid)
    {
        try
        {
            return c.OwnerOf.Bind(1, cid).Step() ? c.OwnerOf.Text(0) : null;
        }
        finally
        {
            c.OwnerOf.Reset();
        }
    }

    /// <summary>The address of <paramref name="siloId"/> when it is an active silo (expired ones were just marked dead), else null.</summary>
    private static string? LiveAddress(ClusterStatements c, string siloId)
    {
        try
        {
            return c.LiveAddress.Bind(1, siloId).Step() ? c.LiveAddress.Text(0) ?? "" : null;
        }
        finally
        {
            c.LiveAddress.Reset();
        }
    }

    private static bool SessionExists(ClusterStatements c, string sessionId)
    {
        try
        {
            return c.StatusOf.Bind(1, sessionId).Step();
        }
        finally
        {
            c.StatusOf.Reset();
        }
    }

    /// <summary>The writer's prepared cluster statements. ?-numbers are documented per statement.</summary>
    private sealed class ClusterStatements(SqliteDb db)
    {
        public readonly SqliteStatement Now = db.Prepare(SqliteSessions.NowMsSql);

        // ?1 now: an active silo whose window passed is dead from now on when another live silo (w) vouches against it:
        // w's run of contact covers the suspect's whole window and w's last heartbeat is at most half that window old.
        // A suspect's age reaches its window and a voucher's stays under its own, so no row is both, and marking one
        // row cannot change the verdict on another.
        public readonly SqliteStatement MarkDead = db.Prepare(
            "UPDATE silos SET status = 2 WHERE status = 1 AND ?1 - heartbeat >= dead_after_ms AND EXISTS (SELECT 1 FROM silos w " +
            "WHERE w.status = 1 AND ?1 - w.heartbeat < w.dead_after_ms AND 2 * (?1 - w.heartbeat) <= silos.dead_after_ms " +
            "AND w.contact_since + silos.dead_after_ms <= ?1)");

        // A (re)join replaces the row: active, heartbeat now, no activations yet, a new run of contact.
        public readonly SqliteStatement Join = db.Prepare(
            "INSERT OR REPLACE INTO silos(silo_id, address, http_address, status, heartbeat, dead_after_ms, activations, joined_at, contact_since) " +
            "VALUES (?1, ?2, ?3, 1, ?4, ?5, 0, ?4, ?4)");

        // ?2 now: a heartbeat more than half the smallest active window after the previous one starts a new run of
        // contact (SET expressions read the row as it was before the update).
        public readonly SqliteStatement Heartbeat = db.Prepare(
            "UPDATE silos SET contact_since = CASE WHEN 2 * (?2 - heartbeat) > (SELECT min(dead_after_ms) FROM silos WHERE status = 1) " +
            "THEN ?2 ELSE contact_since END, heartbeat = ?2, activations = ?3 WHERE silo_id = ?1 AND status = 1");
        public readonly SqliteStatement Leave = db.Prepare("UPDATE silos SET status = 3 WHERE silo_id = ?1");

        // ?1 the silo, ?2 its joined_at (ms) as the declarer listed it, ?3 the declarer, which must be live at ?4 (now).
        public readonly SqliteStatement DeclareDead = db.Prepare(
            "UPDATE silos SET status = 2 WHERE silo_id = ?1 AND status = 1 AND abs(joined_at - ?2) < 1 " +
            "AND EXISTS (SELECT 1 FROM silos d WHERE d.silo_id = ?3 AND d.status = 1 AND ?4 - d.heartbeat < d.dead_after_ms)");
        public readonly SqliteStatement Release = db.Prepare("UPDATE components SET owner = NULL WHERE owner = ?1");

        public readonly SqliteStatement ListSilos = db.Prepare(
            "SELECT silo_id, address, http_address, status, ?1 - heartbeat, dead_after_ms, activations, joined_at FROM silos");

        public readonly SqliteStatement OwnerOf = db.Prepare("SELECT owner FROM components WHERE cid = ?1");
        public readonly SqliteStatement LiveAddress = db.Prepare("SELECT address FROM silos WHERE silo_id = ?1 AND status = 1");

        // ?1 id, ?2 from, ?3 to (NULL releases), ?4 epoch: the owner changes only when both still hold.
        public readonly SqliteStatement HandOver = db.Prepare(
            "UPDATE components SET owner = ?3 WHERE id = ?1 AND owner = ?2 AND EXISTS (SELECT 1 FROM heads h WHERE h.cid = components.cid AND h.epoch = ?4)");

        public readonly SqliteStatement StatusOf = db.Prepare("SELECT status FROM sessions WHERE session_id = ?1");
        public readonly SqliteStatement NewSession = db.Prepare(
            "INSERT INTO sessions(session_id, status, reserved, opens, created_at, last_opened_at, token_hash) VALUES (?1, 1, ?2, 1, ?3, ?3, ?4)");
        public readonly SqliteStatement ResumeSession = db.Prepare(
            "UPDATE sessions SET reserved = reserved + ?2, opens = opens + 1, last_opened_at = ?3 WHERE session_id = ?1 AND status = 1");
        public readonly SqliteStatement ReserveMore = db.Prepare("UPDATE sessions SET reserved = reserved + ?2 WHERE session_id = ?1 AND status = 1");
        public readonly SqliteStatement CloseSession = db.Prepare("UPDATE sessions SET status = 2 WHERE session_id = ?1");
        public readonly SqliteStatement SessionRow = db.Prepare(SqliteSessions.RowSql);
        public readonly SqliteStatement SessionItems = db.Prepare(SqliteSessions.ItemsSql);
        public readonly SqliteStatement SetItem = db.Prepare("INSERT OR REPLACE INTO session_items(session_id, item_key, item_value) VALUES (?1, ?2, ?3)");
        public readonly SqliteStatement RemoveItem = db.Prepare("DELETE FROM session_items WHERE session_id = ?1 AND item_key = ?2");
    }
}
