namespace Middleware.Protocol;

/// <summary>
/// The connection ended while a request was pending, or was already closed when the request was made. The request may
/// or may not have run on the server: retry it with the same request id (exactly-once makes that safe).
/// </summary>
public sealed class ConnectionLostException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The server refused the handshake; <see cref="Reason"/> is the server's explanation (version, cluster key).</summary>
public sealed class HandshakeRejectedException(string reason) : Exception("The server refused the handshake: " + reason)
{
    /// <summary>The server's reason, as sent in HelloRejected.</summary>
    public string Reason { get; } = reason;
}

/// <summary>The peer sent bytes that violate the protocol; the connection is closed.</summary>
public sealed class ProtocolViolationException(ProtocolError error) : Exception("Protocol violation by the peer: " + error)
{
    /// <summary>What was wrong.</summary>
    public ProtocolError Error { get; } = error;
}

/// <summary>A message is larger than the peer accepts; it was not sent, and the connection stays open.</summary>
public sealed class FrameTooLargeException(string message) : Exception(message);

/// <summary>
/// The server accepted the handshake without proving that it knows the key this side holds: it is not a silo of this
/// cluster (an impostor on the address), or it runs without that role's key. The connection was closed before any
/// request was sent.
/// </summary>
public sealed class PeerAuthenticationException(string message) : Exception(message);
