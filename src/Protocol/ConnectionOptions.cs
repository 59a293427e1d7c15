namespace Middleware.Protocol;

/// <summary>Settings of a <see cref="MiddlewareConnection"/>. <see cref="Validate"/> names the setting at fault.</summary>
public sealed class ConnectionOptions
{
    /// <summary>How this side identifies itself in the Hello (a client name, or the silo id for silo-to-silo links).</summary>
    public string SenderId { get; init; } = $"{Environment.MachineName}:{Environment.ProcessId}";

    /// <summary>The role this side claims: a client, a silo or the admin tool.</summary>
    public PeerRole Role { get; init; } = PeerRole.Client;

    /// <summary>
    /// The key of <see cref="Role"/> (the client, silo or admin key, or the shared cluster key), or null for none. It never
    /// crosses the wire: the handshake proves it by challenge-response, and with a key this side also requires the server
    /// to prove it, so a server without the key is refused (<see cref="PeerAuthenticationException"/>).
    /// </summary>
    public string? Key { get; init; }

    /// <summary>The largest frame accepted from the server (its length field); default 1 MiB.</summary>
    public int MaxFrameSize { get; init; } = ProtocolConstants.DefaultMaxFrameSize;

    /// <summary>How long the TCP connect may take.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long the server may take to answer the Hello.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long a request waits for its reply before it fails with <see cref="TimeoutException"/>;
    /// <see cref="Timeout.InfiniteTimeSpan"/> waits forever. Checked by a periodic sweep, so a timeout fires up to a
    /// quarter of this (at most one second) late; that keeps the per-request cost at zero timers.
    /// </summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>TLS to the silo (certificates to trust, this side's certificate for mutual TLS); null (the default) connects in plain TCP.</summary>
    public Tls.TlsClientOptions? Tls { get; init; }

    /// <summary>
    /// The clock of <see cref="RequestTimeout"/>: its timestamps date the requests and its timer runs the sweep (default
    /// <see cref="TimeProvider.System"/>; a test can give a fake one and move time instead of waiting).
    /// </summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting and its allowed range.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(SenderId))
            throw new ArgumentException("ConnectionOptions.SenderId is empty; give a name that identifies this client or silo in server logs.", nameof(SenderId));
        if (SenderIds.Problem(SenderId) is { } problem)
            throw new ArgumentException($"ConnectionOptions.SenderId is not usable: {problem}; give 1 to {ProtocolConstants.MaxSenderIdLength} printable characters.", nameof(SenderId));
        if (Role is not (PeerRole.Client or PeerRole.Silo or PeerRole.Admin))
            throw new ArgumentException($"ConnectionOptions.Role is {(byte)Role}; use PeerRole.Client, PeerRole.Silo or PeerRole.Admin.", nameof(Role));
        if (Key is { Length: 0 })
            throw new ArgumentException("ConnectionOptions.Key is empty; give the role's key or leave it null.", nameof(Key));
        if (MaxFrameSize is < ProtocolConstants.MinMaxFrameSize or > ProtocolConstants.MaxMaxFrameSize)
            throw new ArgumentException($"ConnectionOptions.MaxFrameSize is {MaxFrameSize}; it must be between {ProtocolConstants.MinMaxFrameSize} and {ProtocolConstants.MaxMaxFrameSize} bytes.", nameof(MaxFrameSize));
        Positive(ConnectTimeout, nameof(ConnectTimeout), allowInfinite: false);
        Positive(HandshakeTimeout, nameof(HandshakeTimeout), allowInfinite: false);
        Positive(RequestTimeout, nameof(RequestTimeout), allowInfinite: true);
        Tls?.Validate();
    }

    private static void Positive(TimeSpan value, string name, bool allowInfinite)
    {
        if (allowInfinite && value == Timeout.InfiniteTimeSpan) return;
        if (value <= TimeSpan.Zero || value > TimeSpan.FromDays(1))
            throw new ArgumentException($"ConnectionOptions.{name} is {value}; it must be more than zero and at most one day{(allowInfinite ? ", or Timeout.InfiniteTimeSpan" : "")}.", name);
    }
}
