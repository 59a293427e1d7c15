namespace Middleware.Transport;

/// <summary>
/// Counters of the transport, shared by every connection of a process (register one singleton). Plain
/// <see cref="Interlocked"/> counters: cheap enough for the per-frame path, read by metrics and tests.
/// </summary>
public sealed class TransportMetrics
{
    private long _connectionsAccepted;
    private long _connectionsActive;
    private long _handshakesRejected;
    private long _framesIn;
    private long _framesOut;
    private long _bytesIn;
    private long _bytesOut;
    private long _flushes;
    private long _protocolErrors;
    private long _handlerFailures;
    private long _repliesDropped;
    private long _connectionsRefused;
    private long _idleClosed;
    private long _slowClosed;
    private long _peerGone;
    private long _readPauses;
    private long _credentialFailures;
    private long _handshakesThrottled;
    private long _lockouts;

    /// <summary>Connections accepted since start.</summary>
    public long ConnectionsAccepted => Interlocked.Read(ref _connectionsAccepted);

    /// <summary>Connections open now.</summary>
    public long ConnectionsActive => Interlocked.Read(ref _connectionsActive);

    /// <summary>Connections refused at the handshake (version, key, sender id, not a Hello, timeout, throttled).</summary>
    public long HandshakesRejected => Interlocked.Read(ref _handshakesRejected);

    /// <summary>Handshakes refused for a credential: a missing or wrong key proof, a key sent in clear, a role without a key.</summary>
    public long HandshakeCredentialFailures => Interlocked.Read(ref _credentialFailures);

    /// <summary>Handshakes refused at once because their address was locked out after repeated failures (<see cref="HandshakeThrottle"/>).</summary>
    public long HandshakesThrottled => Interlocked.Read(ref _handshakesThrottled);

    /// <summary>Times an address was locked out after repeated failed handshakes.</summary>
    public long AddressLockouts => Interlocked.Read(ref _lockouts);

    /// <summary>Frames received after the handshake.</summary>
    public long FramesIn => Interlocked.Read(ref _framesIn);

    /// <summary>Bytes of the frames received after the handshake (headers included).</summary>
    public long BytesIn => Interlocked.Read(ref _bytesIn);

    /// <summary>Bytes of the frames sent after the handshake (headers included).</summary>
    public long BytesOut => Interlocked.Read(ref _bytesOut);

    /// <summary>Frames sent after the handshake.</summary>
    public long FramesOut => Interlocked.Read(ref _framesOut);

    /// <summary>Socket flushes; <see cref="FramesOut"/> divided by this is the write batching achieved.</summary>
    public long Flushes => Interlocked.Read(ref _flushes);

    /// <summary>Connections closed for a protocol violation (oversized, unknown, malformed or unexpected frame).</summary>
    public long ProtocolErrors => Interlocked.Read(ref _protocolErrors);

    /// <summary>Requests whose handler threw; each became an Error reply.</summary>
    public long HandlerFailures => Interlocked.Read(ref _handlerFailures);

    /// <summary>Replies that completed after their connection closed and could not be sent.</summary>
    public long RepliesDropped => Interlocked.Read(ref _repliesDropped);

    /// <summary>Connections refused because the listener was at <see cref="TransportOptions.MaxConnections"/>.</summary>
    public long ConnectionsRefused => Interlocked.Read(ref _connectionsRefused);

    /// <summary>Connections closed after <see cref="TransportOptions.IdleTimeout"/> with nothing in flight.</summary>
    public long IdleClosed => Interlocked.Read(ref _idleClosed);

    /// <summary>Connections closed for sending a frame slower than <see cref="TransportOptions.MinDataRate"/>.</summary>
    public long SlowClosed => Interlocked.Read(ref _slowClosed);

    /// <summary>Connections whose peer vanished while requests or replies were pending (their work was let go).</summary>
    public long PeersGone => Interlocked.Read(ref _peerGone);

    /// <summary>Times a connection stopped reading at its in-flight or queued-reply limit (back-pressure).</summary>
    public long ReadPauses => Interlocked.Read(ref _readPauses);

    internal void ConnectionRefused() => Interlocked.Increment(ref _connectionsRefused);

    internal void IdleClose() => Interlocked.Increment(ref _idleClosed);

    internal void SlowClose() => Interlocked.Increment(ref _slowClosed);

    internal void PeerGone() => Interlocked.Increment(ref _peerGone);

    internal void ReadPaused() => Interlocked.Increment(ref _readPauses);

    internal void ConnectionOpened()
    {
        Interlocked.Increment(ref _connectionsAccepted);
        Interlocked.Increment(ref _connectionsActive);
    }

    internal void ConnectionClosed() => Interlocked.Decrement(ref _connectionsActive);

    internal void HandshakeRejected() => Interlocked.Increment(ref _handshakesRejected);

    internal void CredentialFailure() => Interlocked.Increment(ref _credentialFailures);

    internal void HandshakeThrottled() => Interlocked.Increment(ref _handshakesThrottled);

    internal void AddressLockedOut() => Interlocked.Increment(ref _lockouts);

    internal void FrameIn(long bytes)
    {
        Interlocked.Increment(ref _framesIn);
        Interlocked.Add(ref _bytesIn, bytes);
    }

    internal void FramesWritten(int count, long bytes)
    {
        Interlocked.Add(ref _framesOut, count);
        Interlocked.Add(ref _bytesOut, bytes);
        Interlocked.Increment(ref _flushes);
    }

    internal void ProtocolError() => Interlocked.Increment(ref _protocolErrors);

    internal void HandlerFailure() => Interlocked.Increment(ref _handlerFailures);

    internal void ReplyDropped() => Interlocked.Increment(ref _repliesDropped);
}
