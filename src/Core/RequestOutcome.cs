using Middleware.Grains;

namespace Middleware.Core;

/// <summary>
/// The answer of an outcome query: the request committed (with its recorded reply, which
/// may be a recorded error), or it did not, and the component's owner has fenced its id durably so it never will.
/// </summary>
/// <param name="Committed">True when the request id is recorded on the component.</param>
/// <param name="Reply">The recorded reply when committed; null otherwise.</param>
public sealed record RequestOutcome(bool Committed, ComponentReply? Reply)
{
    /// <summary>The error type of the reply a fenced request id gets when it arrives after its outcome query.</summary>
    public const string FencedErrorType = "Middleware.RequestFenced";

    /// <summary>The "not committed" answer.</summary>
    public static readonly RequestOutcome NotCommitted = new(false, null);

    /// <summary>The error reply every later invocation of a fenced request id gets, whatever its arguments.</summary>
    public static ComponentReply FencedReply(ComponentId component, string requestId) =>
        new(ReadOnlyMemory<byte>.Empty, FencedErrorType,
            $"Request '{requestId}' on {component} was declared not committed by an outcome query and will never run; " +
            "send the operation again under a new request id if it is still wanted.");

    /// <summary>True for the reply of a fenced request id.</summary>
    public static bool IsFenced(ComponentReply reply) => reply.ErrorType == FencedErrorType;

    /// <summary>The outcome a recorded reply stands for: a fence reply is "not committed", anything else committed.</summary>
    public static RequestOutcome Of(ComponentReply reply) => IsFenced(reply) ? NotCommitted : new RequestOutcome(true, reply);
}
