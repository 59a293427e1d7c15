using Middleware.Core;

namespace Middleware.Client;

/// <summary>
/// Settings of a <see cref="MiddlewareClient"/>. <see cref="MiddlewareClient.ConnectAsync"/> validates them and names
/// the setting at fault, so a wrong configuration fails at start-up rather than at the first call.
/// </summary>
public sealed class MiddlewareClientOptions
{
    /// <summary>The silos this client may talk to, each written <c>host:port</c> (any silo can serve any component).</summary>
    public IList<string> Gateways { get; set; } = [];

    /// <summary>
    /// Asked for the live silos at connect when <see cref="Gateways"/> is empty: the alternative to a fixed gateway list.
    /// For processes that may read the cluster's store, <c>StoreGatewayListProvider</c> (in Middleware.Recovery, beside
    /// the stores) reads its silos table.
    /// </summary>
    public IGatewayListProvider? GatewayProvider { get; set; }

    /// <summary>
    /// The client key the silos require (<c>--client-key-file</c> on the silo), or null for none. It never crosses the
    /// wire: the handshake proves it by challenge-response, and the silo proves it back, so a silo without the key is
    /// refused. Prefer <see cref="ClientKeyFile"/>, which keeps the key out of the application's configuration.
    /// </summary>
    public string? ClientKey { get; set; }

    /// <summary>The path of a file holding the client key (one trailing line break is ignored); read at connect.</summary>
    public string? ClientKeyFile { get; set; }

    /// <summary>The cluster's shared key, for silos that use one key for every role (<c>--cluster-key-file</c>); used when <see cref="ClientKey"/> and <see cref="ClientKeyFile"/> are unset.</summary>
    public string? ClusterKey { get; set; }

    /// <summary>
    /// TLS to the silos (<see cref="Protocol.Tls.TlsClientOptions.FromFiles"/>: the CA that signed their certificates,
    /// this client's certificate when they require mutual TLS); null (the default) connects in plain TCP, which silos
    /// with TLS refuse, saying so.
    /// </summary>
    public Protocol.Tls.TlsClientOptions? Tls { get; set; }

    /// <summary>How this client names itself to the silos (server logs).</summary>
    public string ClientName { get; set; } = $"client:{Environment.MachineName}:{Environment.ProcessId}";

    /// <summary>
    /// The virtual session to resume (an id from an earlier client's <see cref="MiddlewareClient.SessionId"/>, saved by the
    /// application), or a new id to create; null asks the cluster for a new session. Sessions live in the cluster's
    /// store: request numbers are reserved there in blocks, so a resumed session (after a restart too) never reuses an
    /// id, and its items stay visible to turns. A closed session cannot be resumed.
    /// </summary>
    public string? SessionId { get; set; }

    /// <summary>
    /// The token of the session in <see cref="SessionId"/>, as <see cref="MiddlewareClient.SessionToken"/> gave it when the
    /// session was created. A silo that holds keys resumes a session, and serves its request ids, only for a client
    /// that proves its token; save it with the session id (it is a secret: whoever has it may act as the session).
    /// </summary>
    public string? SessionToken { get; set; }

    /// <summary>
    /// Ask the first gateway for every live silo at connect and use them as gateways too (default true), so the client
    /// survives the loss of every silo it was configured with.
    /// </summary>
    public bool DiscoverGateways { get; set; } = true;

    /// <summary>
    /// Send each component's calls to its owner silo once learned (default true): the first call to a component may be
    /// redirected (<c>Moved</c>) and the owner is cached, so later calls take one hop instead of two through a gateway.
    /// </summary>
    public bool RouteToOwners { get; set; } = true;

    /// <summary>How long one attempt (connect + send + reply) may take before it is abandoned and retried (default 10 s).</summary>
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long a whole call may take, every retry included (default 30 s): retries go on until it passes, so a call rides
    /// through a silo restart or failover shorter than this. Past it the call fails with <see cref="TimeoutException"/>
    /// naming the last cause. A caller's cancellation token bounds the call too (whichever comes first);
    /// <see cref="Timeout.InfiniteTimeSpan"/> leaves only the token and <see cref="MaxAttempts"/>.
    /// </summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// When a call passes its deadline (<see cref="RequestTimeout"/>, or the timeout given to
    /// <c>GetComponent&lt;T&gt;(key, timeout)</c>), how long the client may spend settling it through the outcome protocol
    /// (default 5 s): the component's owner answers with the real reply if the request committed meanwhile, or fences the id
    /// for good (it never runs) and the call throws <see cref="Middleware.Core.CallTimeoutException"/>. When the owner cannot
    /// be reached within this, the call throws <see cref="TimeoutException"/> (it may or may not have run; resend the same
    /// id or call <c>GetOutcomeAsync</c> later). <see cref="TimeSpan.Zero"/> turns settling off.
    /// </summary>
    public TimeSpan SettleTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a TCP connect plus handshake to one gateway may take.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// An optional cap on attempts per call, the first included (1 disables retries); past it the call fails with
    /// <see cref="ClusterUnavailableException"/>. Null (the default): no cap, retries last until
    /// <see cref="RequestTimeout"/>, so how long a call may wait is set in time, not in a count that a fast failure
    /// (connection refused while a silo restarts) would use up in a few seconds.
    /// </summary>
    public int? MaxAttempts { get; set; }

    /// <summary>The first retry delay (default 100 ms); later ones double, with jitter, up to <see cref="RetryMaxDelay"/>.</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>The largest delay between two attempts (default 2 s): after an outage ends a call notices within about this.</summary>
    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Where the client logs (category <c>Middleware.Client</c>; event ids in <see cref="ClientTelemetry"/>): retries at
    /// Debug, calls that ran out of attempts or time at Warning. Null (the default) logs nothing.
    /// </summary>
    public Microsoft.Extensions.Logging.ILoggerFactory? LoggerFactory { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting and what to do about it.</summary>
    public void Validate()
    {
        if ((Gateways is null || Gateways.Count == 0) && GatewayProvider is null)
            throw new ArgumentException("MiddlewareClientOptions.Gateways is empty and GatewayProvider is null; list at least one silo as host:port (for example 127.0.0.1:7100) or give a gateway-list provider (StoreGatewayListProvider reads the cluster's store).", nameof(Gateways));
        foreach (var gateway in Gateways ?? []) ParseGateway(gateway);
        if (string.IsNullOrWhiteSpace(ClientName))
            throw new ArgumentException("MiddlewareClientOptions.ClientName is empty; give a name that identifies this client in silo logs.", nameof(ClientName));
        if (ClusterKey is not null && string.IsNullOrWhiteSpace(ClusterKey))
            throw new ArgumentException("MiddlewareClientOptions.ClusterKey is empty; give the cluster's key or leave it null.", nameof(ClusterKey));
        if (ClientKey is not null && string.IsNullOrWhiteSpace(ClientKey))
            throw new ArgumentException("MiddlewareClientOptions.ClientKey is empty; give the client key or leave it null.", nameof(ClientKey));
        if (ClientKey is not null && ClientKeyFile is not null)
            throw new ArgumentException("MiddlewareClientOptions.ClientKey and ClientKeyFile are both set; give the key one way only.", nameof(ClientKeyFile));
        if (SessionToken is not null && SessionId is null)
            throw new ArgumentException("MiddlewareClientOptions.SessionToken is set without SessionId; give the session id it belongs to, or leave both null for a new session.", nameof(SessionToken));
        if (SessionId is not null && (string.IsNullOrWhiteSpace(SessionId) || SessionId.Contains(':')))
            throw new ArgumentException($"MiddlewareClientOptions.SessionId '{SessionId}' is not usable; give a non-empty id without ':' (request ids are sessionId:n), or leave it null for a new session.", nameof(SessionId));
        Tls?.Validate();
        Positive(AttemptTimeout, nameof(AttemptTimeout), allowInfinite: false);
        Positive(RequestTimeout, nameof(RequestTimeout), allowInfinite: true);
        Positive(ConnectTimeout, nameof(ConnectTimeout), allowInfinite: false);
        if (SettleTimeout < TimeSpan.Zero)
            throw new ArgumentException($"MiddlewareClientOptions.SettleTimeout is {SettleTimeout}; give a positive time (default 5 s), or TimeSpan.Zero to fail calls past their deadline without settling them.", nameof(SettleTimeout));
        if (MaxAttempts is < 1)
            throw new ArgumentException($"MiddlewareClientOptions.MaxAttempts is {MaxAttempts}; it must be at least 1 (no retries), or null to retry until RequestTimeout.", nameof(MaxAttempts));
        Positive(RetryBaseDelay, nameof(RetryBaseDelay), allowInfinite: false);
        Positive(RetryMaxDelay, nameof(RetryMaxDelay), allowInfinite: false);
        if (RetryMaxDelay < RetryBaseDelay)
            throw new ArgumentException($"MiddlewareClientOptions.RetryMaxDelay ({RetryMaxDelay}) is below RetryBaseDelay ({RetryBaseDelay}); raise it.", nameof(RetryMaxDelay));
    }

    /// <summary>The key to prove: <see cref="ClientKey"/>, else the content of <see cref="ClientKeyFile"/>, else <see cref="ClusterKey"/>.</summary>
    internal string? ResolveKey()
    {
        if (ClientKey is not null) return ClientKey;
        if (ClientKeyFile is null) return ClusterKey;
        string text;
        try
        {
            text = File.ReadAllText(ClientKeyFile).TrimEnd('\n', '\r');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new ArgumentException($"MiddlewareClientOptions.ClientKeyFile names '{ClientKeyFile}', which cannot be read ({e.Message}); give the path of a file holding the client key.", nameof(ClientKeyFile), e);
        }

        return text.Length > 0 ? text : throw new ArgumentException($"MiddlewareClientOptions.ClientKeyFile names '{ClientKeyFile}', which is empty; write the client key into it.", nameof(ClientKeyFile));
    }

    /// <summary>Splits <c>host:port</c>; the error names the gateway and the expected form.</summary>
    internal static (string Host, int Port) ParseGateway(string? gateway)
    {
        try
        {
            return Protocol.PeerConnection.ParseAddress(gateway);
        }
        catch (FormatException e)
        {
            throw new ArgumentException($"MiddlewareClientOptions.Gateways has {e.Message}", nameof(Gateways));
        }
    }

    private static void Positive(TimeSpan value, string name, bool allowInfinite)
    {
        if (allowInfinite && value == Timeout.InfiniteTimeSpan) return;
        if (value <= TimeSpan.Zero || value > TimeSpan.FromDays(1))
            throw new ArgumentException($"MiddlewareClientOptions.{name} is {value}; it must be more than zero and at most one day{(allowInfinite ? ", or Timeout.InfiniteTimeSpan" : "")}.", name);
    }
}
