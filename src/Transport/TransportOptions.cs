using Middleware.Protocol;

namespace Middleware.Transport;

/// <summary>Settings of a transport listener. <see cref="Validate"/> names the setting at fault and its allowed range.</summary>
public sealed class TransportOptions
{
    /// <summary>The largest per-connection in-flight limit accepted by <see cref="Validate"/>.</summary>
    public const int MaxInFlightLimit = 1_000_000;

    /// <summary>The silo id announced in HelloOk.</summary>
    public string SiloId { get; init; } = $"{Environment.MachineName}:{Environment.ProcessId}";

    /// <summary>The largest frame accepted (its length field); default 1 MiB. Replies larger than this become Error replies.</summary>
    public int MaxFrameSize { get; init; } = ProtocolConstants.DefaultMaxFrameSize;

    /// <summary>How long a new connection may take to send its Hello; then it is refused and closed.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The keys peers prove in the handshake, per role (<see cref="HandshakeKeys"/>); <see cref="HandshakeKeys.None"/>
    /// (the default) accepts every peer without proof and authorizes nothing. With any key, requests are authorized by
    /// role and session (<see cref="PeerContext.Authorizes"/>).
    /// </summary>
    public HandshakeKeys Keys { get; init; } = HandshakeKeys.None;

    /// <summary>How failed handshakes are throttled and logged per remote address.</summary>
    public HandshakeThrottleOptions HandshakeThrottle { get; init; } = new();

    /// <summary>
    /// Requests one connection may have in flight (received, reply not yet written). At the limit the connection
    /// stops reading, so a peer that sends without reading replies meets TCP back-pressure instead of filling memory.
    /// </summary>
    public int MaxInFlightPerConnection { get; init; } = 10_000;

    /// <summary>How long a closing connection may take to deliver its last frames (a BadRequest, queued replies) before it is aborted.</summary>
    public TimeSpan CloseTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// The most bytes of replies one connection may have queued and not yet written (a peer that does not read its
    /// replies). At the limit the connection stops reading new requests until the peer reads: back-pressure, not
    /// growth. Default 16 MiB.
    /// </summary>
    public long MaxQueuedReplyBytes { get; init; } = 16L * 1024 * 1024;

    /// <summary>
    /// How long a connection may stay open with nothing in flight and nothing arriving before it is closed (clients
    /// reconnect when they need to). Default 2 minutes.
    /// </summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// The slowest a frame may arrive once it started, in bytes per second, after a grace of
    /// <see cref="MinDataRateGrace"/>: a peer that trickles a frame in (a byte a second) is closed. Default 16 KiB/s.
    /// </summary>
    public int MinDataRate { get; init; } = 16 * 1024;

    /// <summary>The time every frame gets on top of its size at <see cref="MinDataRate"/>. Default 5 s.</summary>
    public TimeSpan MinDataRateGrace { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The most connections the listener keeps open at once (handshaking ones included); more are refused at once,
    /// named in the refusal. Default 4096. Together with <see cref="MaxFrameSize"/> it bounds the memory partial frames
    /// can hold (connections x largest frame).
    /// </summary>
    public int MaxConnections { get; init; } = 4096;

    /// <summary>
    /// When connections stop reading and close (the host is shutting down). Null (the default): when the host's
    /// <c>ApplicationStopping</c> fires. A silo gives its own token so it can first hand its components over to other
    /// silos while its connections still serve (graceful leave), and stop reading only after that.
    /// </summary>
    public CancellationToken? StopReading { get; init; }

    /// <summary>The largest first frame a not-yet-authenticated peer may make the server buffer.</summary>
    internal const int HandshakeMaxFrameSize = 4096;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(SiloId))
            throw new ArgumentException("TransportOptions.SiloId is empty; give the silo's id (it is announced to every peer).", nameof(SiloId));
        if (MaxFrameSize is < ProtocolConstants.MinMaxFrameSize or > ProtocolConstants.MaxMaxFrameSize)
            throw new ArgumentException($"TransportOptions.MaxFrameSize is {MaxFrameSize}; it must be between {ProtocolConstants.MinMaxFrameSize} and {ProtocolConstants.MaxMaxFrameSize} bytes.", nameof(MaxFrameSize));
        if (HandshakeTimeout <= TimeSpan.Zero || HandshakeTimeout > TimeSpan.FromMinutes(5))
            throw new ArgumentException($"TransportOptions.HandshakeTimeout is {HandshakeTimeout}; it must be more than zero and at most 5 minutes.", nameof(HandshakeTimeout));
        ArgumentNullException.ThrowIfNull(Keys, "TransportOptions.Keys");
        HandshakeThrottle.Validate();
        if (MaxInFlightPerConnection is < 1 or > MaxInFlightLimit)
            throw new ArgumentException($"TransportOptions.MaxInFlightPerConnection is {MaxInFlightPerConnection}; it must be between 1 and {MaxInFlightLimit}.", nameof(MaxInFlightPerConnection));
        if (CloseTimeout <= TimeSpan.Zero || CloseTimeout > TimeSpan.FromMinutes(1))
            throw new ArgumentException($"TransportOptions.CloseTimeout is {CloseTimeout}; it must be more than zero and at most one minute.", nameof(CloseTimeout));
        if (MaxQueuedReplyBytes < MaxFrameSize)
            throw new ArgumentException($"TransportOptions.MaxQueuedReplyBytes is {MaxQueuedReplyBytes}; it must hold at least one frame of MaxFrameSize ({MaxFrameSize}).", nameof(MaxQueuedReplyBytes));
        if (IdleTimeout < TimeSpan.FromSeconds(1) || IdleTimeout > TimeSpan.FromDays(1))
            throw new ArgumentException($"TransportOptions.IdleTimeout is {IdleTimeout}; it must be from 1 second to one day.", nameof(IdleTimeout));
        if (MinDataRate is < 1 or > 1024 * 1024 * 1024)
            throw new ArgumentException($"TransportOptions.MinDataRate is {MinDataRate}; it must be from 1 byte to 1 GiB per second.", nameof(MinDataRate));
        if (MinDataRateGrace <= TimeSpan.Zero || MinDataRateGrace > TimeSpan.FromMinutes(10))
            throw new ArgumentException($"TransportOptions.MinDataRateGrace is {MinDataRateGrace}; it must be more than zero and at most 10 minutes.", nameof(MinDataRateGrace));
        if (MaxConnections is < 1 or > 1_000_000)
            throw new ArgumentException($"TransportOptions.MaxConnections is {MaxConnections}; it must be from 1 to 1000000.", nameof(MaxConnections));
    }
}
