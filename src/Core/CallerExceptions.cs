using Middleware.Grains;

namespace Middleware.Core;

/// <summary>
/// The request was not acknowledged: its turn did not become durable, or it could not be delivered or run now (a store
/// or silo unavailable, an activation fenced, a turn of the component in doubt). Nothing it asked for is known to have
/// happened; retrying it with the same request id is safe and returns its single outcome.
/// </summary>
public class RequestNotAcknowledgedException : Exception
{
    /// <summary>A not-acknowledged request with <paramref name="message"/>.</summary>
    public RequestNotAcknowledgedException(string message, Exception? inner = null)
        : base(message, inner)
    {
    }
}

/// <summary>
/// A request id was used again with a different method or different arguments. Callers get this one type on every
/// path (in-process, the client SDK, a component call through a silo).
/// </summary>
public sealed class RequestIdReuseException(ComponentId component, string requestId, string method)
    : Exception($"Request id '{requestId}' was already used on {component} for a different call than this {method}(...). " +
                "A request id names one request: retries must send the same method and arguments, and a new request needs a new id.")
{
    /// <summary>The component the id was sent to.</summary>
    public ComponentId Component { get; } = component;

    /// <summary>The reused id.</summary>
    public string RequestId { get; } = requestId;

    /// <summary>The method of the refused call.</summary>
    public string Method { get; } = method;
}

/// <summary>
/// The request id was declared not committed by an outcome query (<see cref="RequestOutcome"/>) and fenced: it will
/// never run. Final, like a recorded error: send the operation again under a new request id if it is still wanted.
/// Callers get this one type on every path; the recorded reply has the error type <see cref="RequestOutcome.FencedErrorType"/>.
/// </summary>
public sealed class RequestFencedException(string message) : Exception(message);

/// <summary>
/// No component type is registered under the requested name or interface, or the type has no such method: a
/// deployment or version mismatch, never improved by a retry. Callers get this one type on every path (in-process, the
/// client SDK, a component call).
/// </summary>
public sealed class UnknownComponentException(string message, string? componentType = null, string? method = null) : Exception(message)
{
    /// <summary>The component type name the request named, when known.</summary>
    public string? ComponentType { get; } = componentType;

    /// <summary>The method the request named, when known.</summary>
    public string? Method { get; } = method;
}

/// <summary>
/// A component call would close a cycle: its target is the caller itself or a component already waiting on this call.
/// Turns are not reentrant, so the call would deadlock; it fails fast instead. The message shows the whole chain. In a
/// turn, the refused call is recorded as its outcome (replay reproduces it) and thrown into the component code.
/// </summary>
public sealed class CallCycleException : Exception
{
    /// <summary>Rebuilds the exception from a recorded error message (see <see cref="ReplyDecoder.ToException"/>).</summary>
    public CallCycleException(string message)
        : base(message)
    {
    }

    /// <summary>The cycle of a call to <paramref name="target"/> made at the end of <paramref name="chain"/> (see <see cref="CallChain"/>).</summary>
    public CallCycleException(string? chain, ComponentId target)
        : base(MessageFor(chain, target))
    {
    }

    /// <summary>The message for a call to <paramref name="target"/> by the last component of <paramref name="chain"/>.</summary>
    public static string MessageFor(string? chain, ComponentId target) =>
        $"call cycle: {CallChain.Display(chain, target)}; turns are not reentrant, so this call would deadlock. " +
        "Restructure the calls so that no component calls back into one that is waiting on it: for example let an orchestrating " +
        "component (a Teller) call the components involved (the accounts), which never call out.";
}

/// <summary>
/// The silo refused the request for the credential this side connected with: a client asked for something only an
/// admin or a silo may do (move a component, decide on a quarantine, forward, pass a call chain), or used request ids
/// or items of a session it has not proven (opened, or resumed with its token) on that connection. The message names
/// the credential or token needed. Never improved by a retry with the same credential. Callers get this one type on
/// every path (client SDK, admin tool).
/// </summary>
public sealed class AccessDeniedException(string message) : UnauthorizedAccessException(message);
