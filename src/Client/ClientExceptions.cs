using Middleware.Core;

namespace Middleware.Client;

/// <summary>
/// A request could not be delivered or answered within the attempts allowed (<c>MiddlewareClientOptions.MaxAttempts</c>:
/// every gateway unreachable, silos unavailable, or the component kept moving); <see cref="LastCause"/> says what the
/// last attempt met. It may or may not have run: retrying with the same <see cref="RequestId"/> is safe and returns its
/// single outcome.
/// </summary>
public sealed class ClusterUnavailableException(string requestId, int attempts, string reason, Exception? inner = null)
    : RequestNotAcknowledgedException($"Request {requestId} got no answer after {attempts} attempt(s); last cause: {reason}. It may or may not have run; retry it with the same request id.", inner)
{
    /// <summary>What the last attempt met: the silo's reply detail or the connection's error.</summary>
    public string LastCause { get; } = reason;

    /// <summary>The request id to retry with.</summary>
    public string RequestId { get; } = requestId;

    /// <summary>Attempts made.</summary>
    public int Attempts { get; } = attempts;
}

/// <summary><see cref="MiddlewareClient.ConnectAsync"/> could not reach or was refused by the gateways.</summary>
public sealed class ClientConnectException(string message, Exception? inner = null) : Exception(message, inner);
