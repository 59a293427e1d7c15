using Middleware.Grains;

namespace Middleware.Recovery.Runtime;

/// <summary>A request id was used again with a different method or different arguments.</summary>
public sealed class RequestIdReuseException(ComponentId component, string requestId, string method)
    : Exception($"Request id '{requestId}' was already used on {component} for a different call than this {method}(...). " +
                "A request id names one request: retries must send the same method and arguments, and a new request needs a new id.")
{
    /// <summary>The reused id.</summary>
    public string RequestId { get; } = requestId;
}

/// <summary>
/// The turn's record could not be made durable (store failure, or the activation was fenced by a newer
/// owner). Nothing was acknowledged; retry with the same request id and exactly-once still holds.
/// </summary>
public sealed class TurnNotDurableException(ComponentId component, string requestId, string reason, Exception? inner = null)
    : Exception($"The turn of request '{requestId}' on {component} was not made durable ({reason}); it was not acknowledged. Retry with the same request id.", inner)
{
    /// <summary>The component.</summary>
    public ComponentId Component { get; } = component;
}

/// <summary>No component type is registered under the requested name or interface.</summary>
public sealed class UnknownComponentException(string message) : Exception(message);
