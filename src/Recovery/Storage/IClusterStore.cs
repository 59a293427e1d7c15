namespace Middleware.Recovery.Storage;

/// <summary>
/// The cluster tables a store keeps beside the log: membership (silos and their heartbeats), ownership of
/// components by silo, and virtual sessions. It extends <see cref="ILogStore"/> because a claim that respects live
/// silos judges membership and bumps the epoch in one transaction, so the tables must live in the log's database
/// (SQLite, PostgreSQL, SQL Server, memory). Rules, checked by the shared contract suite
/// (<c>ClusterStoreContract</c> in Middleware.Recovery.TestKit):
/// <list type="number">
/// <item>Liveness is judged by the store's clock, never the caller's: a silo is live while its status is
/// <see cref="SiloStatus.Active"/> and its last heartbeat is younger than the window it joined with.</item>
/// <item>A silo is declared <see cref="SiloStatus.Dead"/>, durably, only on evidence that it failed while the store
/// worked: its heartbeat is older than its window W, and another live silo has been in unbroken contact with the store
/// through at least the last W, its latest heartbeat at most W/2 old. A silo's run of contact starts when it joins and
/// again at any heartbeat that comes more than half the smallest window of the active silos after its previous one,
/// so within a run its heartbeats are never further apart than W/2 of any active silo. A suspect heartbeats every W/4,
/// so passing its window takes at least 3W/4 of failed attempts, during which the voucher's store writes succeeded
/// at least once: it failed while another silo did not. A span in which nobody could write (the store was down, or a
/// process frozen inside a write transaction held a shared SQLite file's lock) breaks every run, so it condemns no
/// one; the silos heartbeat again long before anyone has W of new contact. <see cref="ListSilosAsync"/> and every
/// claim in <see cref="ClaimMode.RespectLiveSilo"/> apply the rule, whoever calls them: the evidence is in the rows, judged by the store's clock in one
/// transaction, so a silo that was itself away, the admin tool and a client reach the same verdict, and none of them
/// needs to have seen anything. An active silo past its window that nobody can vouch against (a lone silo, or any
/// silo right after an outage) is a suspect: not live in listings, but still the owner of its components. A silo
/// declared dead finds out at its next <see cref="HeartbeatAsync"/>, which returns false; it must drop its
/// activations and <see cref="JoinAsync"/> again before serving.</item>
/// <item>Ownership by silo is taken with the one claim of the store, <see cref="ILogStore.ClaimAsync"/> in
/// <see cref="ClaimMode.RespectLiveSilo"/>; its rule is rule 5 of <see cref="ILogStore"/> (a suspect keeps its
/// components; an active owner is reported, so the caller can forward the request there).</item>
/// <item>A session's reservations never overlap: every <see cref="OpenSessionAsync"/> and
/// <see cref="ReserveSessionAsync"/> returns a range of request numbers above every range returned before for that
/// session, across processes and restarts.</item>
/// <item>A silo may also be declared dead on direct evidence, before its window passed (<see cref="DeclareDeadAsync"/>):
/// a live silo whose connection to it was reset and whose port then refused connections (the process is gone) says so.
/// Only the incarnation the declarer saw die is marked, and only by a silo that is itself live. Evidence that was wrong
/// (a silo cut off, not dead) is safe for the same reason as rule 2's verdicts: the declared silo finds out at its next
/// heartbeat and rejoins, and anything it still appends is fenced by the epoch of the silo that claimed its components.</item>
/// </list>
/// Arguments are checked by <see cref="ClusterRules"/>, applied once by <see cref="LogStoreBase"/> (same exceptions, same messages). A store that
/// cannot be reached fails with <see cref="StoreUnavailableException"/>, like the log operations.
/// </summary>
public interface IClusterStore : ILogStore
{
    /// <summary>
    /// Registers (or re-registers) a silo as active with a heartbeat at the store's now. <paramref name="deadAfter"/> is
    /// how long it may go without a heartbeat before it is declared dead (at least 1 ms). A rejoin (also after being
    /// declared dead or leaving) replaces the row: new addresses and window, activations 0, joined at now, and a new run
    /// of contact (rule 2) starting now.
    /// </summary>
    Task<SiloEntry> JoinAsync(string siloId, string address, string? httpAddress, TimeSpan deadAfter, CancellationToken cancellationToken = default);

    /// <summary>
    /// Refreshes the silo's heartbeat (store clock) and the number of activations it reports. Returns false when the
    /// silo's row is no longer active (declared dead, left, or absent): the silo must drop its activations and rejoin.
    /// An active row whose window passed but that nobody has marked dead yet is still refreshed: every reader of
    /// liveness (<see cref="ListSilosAsync"/>, a claim that respects live silos) marks first, so no one has acted on it.
    /// A heartbeat more than half the smallest active window after the silo's previous one starts its run of contact
    /// over (rule 2).
    /// </summary>
    Task<bool> HeartbeatAsync(string siloId, int activations, CancellationToken cancellationToken = default);

    /// <summary>
    /// Marks the silo as left and releases every component it owns (owner set to none, epochs unchanged), in one
    /// transaction. An unknown silo id changes no silo row (components owned under that name are still released).
    /// </summary>
    Task LeaveAsync(string siloId, CancellationToken cancellationToken = default);

    /// <summary>
    /// First marks dead every active silo that rule 2 of <see cref="IClusterStore"/> condemns (window passed while another
    /// silo was in contact), then returns all silos, live ones first, each with its heartbeat age as the store measures
    /// it. A suspect (active, window passed, nobody to vouch against it) is listed active and not live.
    /// </summary>
    Task<IReadOnlyList<SiloEntry>> ListSilosAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Declares silo <paramref name="siloId"/> dead on direct evidence (rule 6): in one transaction, marks its row
    /// <see cref="SiloStatus.Dead"/> only when it is active, it is the incarnation that joined at
    /// <paramref name="joinedAt"/> (<see cref="SiloEntry.JoinedAt"/> as listed; a silo that rejoined since is not touched),
    /// and <paramref name="declaredBy"/> is another silo that is live by the store's clock. Its components stay owned by
    /// it, so a claim that respects live silos may take them at once. True when the row was marked.
    /// </summary>
    Task<bool> DeclareDeadAsync(string siloId, DateTimeOffset joinedAt, string declaredBy, CancellationToken cancellationToken = default);

    /// <summary>
    /// Hands a component over without raising its epoch: sets the owner to <paramref name="toSiloId"/> (null releases
    /// it) only when the stored epoch is <paramref name="epoch"/> and the owner is <paramref name="fromSiloId"/>. The
    /// next claim by the new owner raises the epoch and fences any write the old one still attempts. False when the
    /// condition did not hold.
    /// </summary>
    Task<bool> HandOverAsync(string componentId, long epoch, string fromSiloId, string? toSiloId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Opens a virtual session: creates it when <paramref name="sessionId"/> is new (a store-generated id when null,
    /// a GUID in "N" format), or resumes it, and reserves the next <paramref name="reserve"/> request numbers for the
    /// caller: 1..reserve for a new session, old reserved + 1 .. old reserved + reserve on a resume. Counts as an open
    /// (<see cref="SessionEntry.Opens"/>, <see cref="SessionEntry.LastOpenedAt"/>); a client that has the session open
    /// and needs more numbers calls <see cref="ReserveSessionAsync"/> instead.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="reserve"/> is not 1..<see cref="ClusterRules.MaxReserve"/>.</exception>
    /// <exception cref="ArgumentException">The id is empty or contains ':'.</exception>
    /// <exception cref="InvalidOperationException">The session is closed; a new one is needed.</exception>
    /// <param name="sessionId">The session to create or resume; null for a store-generated id.</param>
    /// <param name="reserve">How many request numbers to reserve.</param>
    /// <param name="tokenHash">
    /// Stored as <see cref="SessionEntry.TokenHash"/> when this open creates the session; ignored on a resume (a session's
    /// token hash never changes). Null stores none.
    /// </param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    Task<SessionReservation> OpenSessionAsync(string? sessionId, int reserve, string? tokenHash = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Reserves the next <paramref name="reserve"/> request numbers (old reserved + 1 .. old reserved + reserve) of a
    /// session the caller already opened: a further block, not an open, so <see cref="SessionEntry.Opens"/> and
    /// <see cref="SessionEntry.LastOpenedAt"/> stay as they are. Ranges never overlap those of opens (rule 4).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="reserve"/> is not 1..<see cref="ClusterRules.MaxReserve"/>.</exception>
    /// <exception cref="ArgumentException">The id is empty or contains ':'.</exception>
    /// <exception cref="KeyNotFoundException">The store never saw the session; open it first.</exception>
    /// <exception cref="InvalidOperationException">The session is closed; a new one is needed.</exception>
    Task<SessionReservation> ReserveSessionAsync(string sessionId, int reserve, CancellationToken cancellationToken = default);

    /// <summary>A session with its items, or null when the store never saw it.</summary>
    Task<SessionEntry?> GetSessionAsync(string sessionId, CancellationToken cancellationToken = default);

    /// <summary>Every session, latest opened (or resumed) first, at most <paramref name="limit"/> (at least 1).</summary>
    Task<IReadOnlyList<SessionEntry>> ListSessionsAsync(int limit = 1000, CancellationToken cancellationToken = default);

    /// <summary>Sets (or, with a null value, removes) one item of a session. Throws <see cref="KeyNotFoundException"/> for an unknown session.</summary>
    Task SetSessionItemAsync(string sessionId, string key, string? value, CancellationToken cancellationToken = default);

    /// <summary>
    /// Marks a session closed; its id is never reused, and opening it again is refused. Closing a closed session is
    /// harmless; an unknown one is a <see cref="KeyNotFoundException"/>.
    /// </summary>
    Task CloseSessionAsync(string sessionId, CancellationToken cancellationToken = default);
}

/// <summary>The membership state of a silo. Stored; never renumber.</summary>
public enum SiloStatus : byte
{
    /// <summary>Joined and heartbeating (live while its heartbeat is younger than its window).</summary>
    Active = 1,

    /// <summary>Missed its window while another silo was in contact with the store; its components may be claimed by others.</summary>
    Dead = 2,

    /// <summary>Shut down gracefully after releasing its components.</summary>
    Left = 3,
}

/// <summary>One row of the silos table.</summary>
/// <param name="SiloId">The silo's id.</param>
/// <param name="Address">The protocol endpoint, <c>host:port</c>.</param>
/// <param name="HttpAddress">The HTTP endpoint (health, metrics), or null.</param>
/// <param name="Status">The stored status.</param>
/// <param name="HeartbeatAge">How long ago the last heartbeat was, by the store's clock.</param>
/// <param name="DeadAfter">The window the silo joined with.</param>
/// <param name="Activations">The activation count of its last heartbeat.</param>
/// <param name="JoinedAt">When it (last) joined, store clock.</param>
public sealed record SiloEntry(string SiloId, string Address, string? HttpAddress, SiloStatus Status, TimeSpan HeartbeatAge, TimeSpan DeadAfter, int Activations, DateTimeOffset JoinedAt)
{
    /// <summary>True while the silo is active and within its window.</summary>
    public bool IsLive => Status == SiloStatus.Active && HeartbeatAge < DeadAfter;
}

/// <summary>The state of a virtual session. Stored; never renumber.</summary>
public enum SessionStatus : byte
{
    /// <summary>Open: clients may resume it and issue requests.</summary>
    Open = 1,

    /// <summary>Closed by its client; never reopened.</summary>
    Closed = 2,
}

/// <summary>A virtual session as stored.</summary>
/// <param name="SessionId">The id; request ids are <c>SessionId:n</c>.</param>
/// <param name="Status">Open or closed.</param>
/// <param name="Reserved">The highest request number reserved so far.</param>
/// <param name="Opens">How many times it was opened: 1 at creation, +1 per resume (<see cref="IClusterStore.OpenSessionAsync"/>
/// of an existing session). Further blocks a client reserves while it has the session open
/// (<see cref="IClusterStore.ReserveSessionAsync"/>) do not count.</param>
/// <param name="CreatedAt">Creation time, store clock.</param>
/// <param name="LastOpenedAt">Latest open or resume, store clock.</param>
/// <param name="Items">Key/value items, visible to turns of this session.</param>
/// <param name="TokenHash">
/// The SHA-256 of the session's token (lowercase hex), set when it was created; null for a session created without one
/// (before schema version 4, or by a caller that gave none). The token itself is never stored.
/// </param>
public sealed record SessionEntry(string SessionId, SessionStatus Status, long Reserved, int Opens, DateTimeOffset CreatedAt, DateTimeOffset LastOpenedAt, IReadOnlyDictionary<string, string> Items, string? TokenHash = null);

/// <summary>The answer to <see cref="IClusterStore.OpenSessionAsync"/> and <see cref="IClusterStore.ReserveSessionAsync"/>: the session and the request numbers reserved for the caller.</summary>
/// <param name="Session">The session after the reservation.</param>
/// <param name="First">The first reserved request number.</param>
/// <param name="Last">The last reserved request number (inclusive).</param>
public sealed record SessionReservation(SessionEntry Session, long First, long Last);

/// <summary>The store cannot hold a cluster (it does not implement <see cref="IClusterStore"/>).</summary>
public sealed class ClusterNotSupportedException(string storeName)
    : NotSupportedException($"The store {storeName} does not keep cluster tables (silos, ownership, sessions); use sqlite:, postgres: or sqlserver:.");
