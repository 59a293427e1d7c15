namespace Middleware.Client;

/// <summary>The silo does not know the component type or the method: a deployment or version mismatch, never retried.</summary>
public sealed class ComponentNotFoundException(string componentType, string method, string reason)
    : Exception($"The silo does not know {componentType}.{method}: {reason}. Check that the silos run a version of the component assemblies that has this type and method.")
{
    /// <summary>The component type name the request named.</summary>
    public string ComponentType { get; } = componentType;

    /// <summary>The method the request named.</summary>
    public string Method { get; } = method;

    /// <summary>The silo's reason.</summary>
    public string Reason { get; } = reason;
}

/// <summary>
/// A request could not be delivered or answered within the retries allowed (every gateway unreachable, silos
/// unavailable, or the component kept moving). It may or may not have run: retrying with the same
/// <see cref="RequestId"/> is safe and returns its single outcome.
/// </summary>
public sealed class ClusterUnavailableException(string requestId, int attempts, string reason, Exception? inner = null)
    : Exception($"Request {requestId} got no answer after {attempts} attempt(s): {reason}. It may or may not have run; retry it with the same request id.", inner)
{
    /// <summary>The request id to retry with.</summary>
    public string RequestId { get; } = requestId;

    /// <summary>Attempts made.</summary>
    public int Attempts { get; } = attempts;
}

/// <summary><see cref="MiddlewareClient.ConnectAsync"/> could not reach or was refused by the gateways.</summary>
public sealed class ClientConnectException(string message, Exception? inner = null) : Exception(message, inner);
