namespace Middleware.Recovery.Storage;

/// <summary>
/// The argument rules and messages of <see cref="IClusterStore"/>, shared by every provider so they refuse the
/// same inputs with the same words (the contract suite checks them against each store).
/// </summary>
public static class ClusterRules
{
    /// <summary>The most request numbers one <see cref="IClusterStore.OpenSessionAsync"/> call may reserve.</summary>
    public const int MaxReserve = 1_000_000;

    /// <summary>Whether two readings of a silo's join time name the same incarnation (stores keep it to a millisecond or finer).</summary>
    public static bool SameJoin(DateTimeOffset stored, DateTimeOffset given) => (stored - given).Duration() < TimeSpan.FromMilliseconds(1);

    /// <summary>A silo id must be a non-empty, non-blank string.</summary>
    public static void CheckSiloId(string siloId, string parameterName = "siloId")
    {
        if (string.IsNullOrWhiteSpace(siloId))
            throw new ArgumentException("A silo id must be a non-empty string.", parameterName);
    }

    /// <summary>
    /// The arguments of <see cref="ILogStore.ClaimAsync"/>: a request with a non-empty component id, a mode, and an owner
    /// that is a valid silo id (non-blank) in either mode, since in <see cref="ClaimMode.RespectLiveSilo"/> it is
    /// compared with the silos table and in <see cref="ClaimMode.EpochOnly"/> it is what listings show as the owner.
    /// </summary>
    public static void CheckClaim(ClaimRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (string.IsNullOrEmpty(request.ComponentId))
            throw new ArgumentException("A claim must name its component (Type/key); the component id is empty.", nameof(request));
        if (!Enum.IsDefined(request.Mode))
            throw new ArgumentException($"A claim of {request.ComponentId} must say its mode (ClaimMode.EpochOnly or ClaimMode.RespectLiveSilo); got {(int)request.Mode}.", nameof(request));
        if (string.IsNullOrWhiteSpace(request.Owner))
        {
            throw new ArgumentException(request.RespectsLiveSilo
                ? "A silo id must be a non-empty string."
                : $"A claim of {request.ComponentId} must name its owner (a runtime's OwnerId or a tool's name); the owner is empty.", nameof(request));
        }
    }

    /// <summary>The arguments of <see cref="IClusterStore.JoinAsync"/>: an id, an address and a positive window of at least 1 ms.</summary>
    public static long CheckJoin(string siloId, string address, TimeSpan deadAfter)
    {
        CheckSiloId(siloId);
        if (string.IsNullOrWhiteSpace(address))
            throw new ArgumentException($"Silo '{siloId}' must join with its protocol address (host:port).", nameof(address));
        var ms = (long)Math.Floor(deadAfter.TotalMilliseconds);
        if (ms < 1)
            throw new ArgumentOutOfRangeException(nameof(deadAfter), deadAfter, $"Silo '{siloId}' must join with a window (deadAfter) of at least 1 ms.");
        return ms;
    }

    /// <summary>The activation count of a heartbeat must not be negative.</summary>
    public static void CheckHeartbeat(string siloId, int activations)
    {
        CheckSiloId(siloId);
        ArgumentOutOfRangeException.ThrowIfNegative(activations);
    }

    /// <summary>
    /// A session id must be non-empty and must not contain ':' (request ids are <c>SessionId:n</c>, so a colon
    /// would make them ambiguous).
    /// </summary>
    public static void CheckSessionId(string sessionId, string parameterName = "sessionId")
    {
        if (string.IsNullOrEmpty(sessionId) || sessionId.Contains(':'))
        {
            throw new ArgumentException(
                $"A session id must be non-empty and must not contain ':' (request ids are SessionId:n); got '{sessionId}'.", parameterName);
        }
    }

    /// <summary>A reservation is 1..<see cref="MaxReserve"/> request numbers.</summary>
    public static void CheckReserve(int reserve)
    {
        if (reserve is < 1 or > MaxReserve)
            throw new ArgumentOutOfRangeException(nameof(reserve), reserve, $"A session reserves 1 to {MaxReserve} request numbers per open.");
    }

    /// <summary>A session token hash is null or 64 lowercase hex characters (a SHA-256).</summary>
    public static void CheckTokenHash(string? tokenHash)
    {
        if (tokenHash is null) return;
        if (tokenHash.Length != 64 || !tokenHash.All(c => char.IsAsciiDigit(c) || c is >= 'a' and <= 'f'))
            throw new ArgumentException("A session token hash must be the SHA-256 of the token as 64 lowercase hex characters.", nameof(tokenHash));
    }

    /// <summary>The arguments of <see cref="IClusterStore.ReserveSessionAsync"/>: a session id and 1..<see cref="MaxReserve"/> numbers.</summary>
    public static void CheckReservation(string sessionId, int reserve)
    {
        CheckSessionId(sessionId);
        CheckReserve(reserve);
    }

    /// <summary>The session id to use for an open: the caller's (checked), or a new one (a GUID in "N" format) for null.</summary>
    public static string SessionIdToOpen(string? sessionId, int reserve)
    {
        CheckReserve(reserve);
        if (sessionId is null) return Guid.NewGuid().ToString("N");
        CheckSessionId(sessionId);
        return sessionId;
    }

    /// <summary>An item key must be non-empty.</summary>
    public static void CheckItem(string sessionId, string key)
    {
        CheckSessionId(sessionId);
        if (string.IsNullOrEmpty(key)) throw new ArgumentException($"An item key of session '{sessionId}' must be non-empty.", nameof(key));
    }

    /// <summary>The limit of a session listing must be positive.</summary>
    public static void CheckLimit(int limit) => ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);

    /// <summary>The refusal to open a closed session.</summary>
    public static InvalidOperationException SessionClosed(string sessionId) =>
        new($"Session '{sessionId}' is closed; a closed session is never reopened. Open a new session (without an id, or with a new one).");

    /// <summary>The refusal to change a session the store never saw.</summary>
    public static KeyNotFoundException UnknownSession(string sessionId) =>
        new($"Session '{sessionId}' does not exist in this store; open it first.");

    /// <summary>Silos in listing order: live ones first, then by id (ordinal), whatever order the store read them in.</summary>
    public static List<SiloEntry> Order(IEnumerable<SiloEntry> silos) =>
        [.. silos.OrderBy(s => s.IsLive ? 0 : 1).ThenBy(s => s.SiloId, StringComparer.Ordinal)];

    /// <summary>The reservation of <paramref name="reserve"/> numbers that brought <paramref name="session"/> to its <see cref="SessionEntry.Reserved"/>.</summary>
    public static SessionReservation Reservation(SessionEntry session, int reserve) =>
        new(session, session.Reserved - reserve + 1, session.Reserved);
}
