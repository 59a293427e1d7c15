using Middleware.Core;
using Middleware.Grains;

namespace Middleware.Protocol;

/// <summary>
/// The one mapping between a request's outcome and the protocol's reply statuses, used by every side that speaks the
/// protocol (silo frame handler, silo-to-silo forwarding and component calls, client). The status tells the caller
/// what to do next: Ok and Error are final (the turn is durable), BadRequest and NotFound will not improve with a retry,
/// Moved names the silo to resend to, and Unavailable means nothing was acknowledged, so the request is resent with the
/// same id. Each condition a caller can catch maps to one exception type on every path: a component's own exception
/// (with its data), <see cref="RequestIdReuseException"/>, <see cref="UnknownComponentException"/>,
/// <see cref="RequestFencedException"/>, <see cref="CallCycleException"/>, <see cref="AccessDeniedException"/>.
/// </summary>
public static class ReplyMapping
{
    /// <summary>A durable reply: its result, or the error the component's turn recorded (type, message and data).</summary>
    public static ReplyMessage ToMessage(ComponentReply reply) =>
        reply.IsError ? ReplyMessage.Error(reply.ErrorType!, reply.ErrorMessage ?? "", reply.ErrorData) : ReplyMessage.Ok(reply.Result);

    /// <summary>An exception raised while serving a request, as the status that tells the caller what to do.</summary>
    public static ReplyMessage ToMessage(Exception e) => e switch
    {
        UnknownComponentException => ReplyMessage.NotFound(e.Message),
        RequestIdReuseException => ReplyMessage.BadRequest(e.Message, ReplyCondition.RequestIdReused),
        AccessDeniedException => ReplyMessage.BadRequest(e.Message, ReplyCondition.Unauthorized),
        ArgumentException => ReplyMessage.BadRequest(e.Message),
        RequestNotAcknowledgedException => ReplyMessage.Unavailable(e.Message),
        OperationCanceledException => ReplyMessage.Unavailable("the request was canceled before its turn was durable; retry with the same request id"),
        _ => ToMessage(ComponentReply.FromException(e)),
    };

    /// <summary>The answer to an outcome query (<see cref="InvokeFlags.Outcome"/>): the recorded reply, or the fence error.</summary>
    public static ReplyMessage ToMessage(RequestOutcome outcome, string requestId, string component) =>
        outcome.Committed && outcome.Reply is { } reply
            ? ToMessage(reply)
            : ReplyMessage.Error(RequestOutcome.FencedErrorType, $"request {requestId} did not commit on {component}; it is fenced now and will never run");

    /// <summary>
    /// A final reply as the caller sees it: Ok and Error become the <see cref="ComponentReply"/> (an Error keeps its data;
    /// <see cref="ReplyDecoder.ToException"/> makes it the component's exception). NotFound throws
    /// <see cref="UnknownComponentException"/>; BadRequest throws <see cref="RequestIdReuseException"/> for a reused
    /// request id and <see cref="ArgumentException"/> otherwise (a malformed request; a silo of protocol version 1 cannot
    /// say which, so its reused ids arrive as ArgumentException). Moved and Unavailable are not final: they throw
    /// <see cref="RequestNotAcknowledgedException"/>; callers that retry handle them before asking.
    /// </summary>
    public static ComponentReply ToReply(ReplyMessage reply, InvokeMessage request) => reply.Status switch
    {
        ReplyStatus.Ok => new ComponentReply(reply.Result),
        ReplyStatus.Error => new ComponentReply(ReadOnlyMemory<byte>.Empty, reply.ErrorType ?? typeof(ComponentFaultException).FullName, reply.ErrorMessage ?? string.Empty)
        {
            ErrorData = reply.ErrorData,
        },
        ReplyStatus.NotFound => throw new UnknownComponentException(
            $"The silo does not know {request.ComponentType}.{request.Method}: {reply.Detail ?? "unknown"}. Check that the silos run a version of the component assemblies that has this type and method.",
            request.ComponentType, request.Method),
        ReplyStatus.BadRequest when reply.Condition == ReplyCondition.RequestIdReused =>
            throw new RequestIdReuseException(new ComponentId(request.ComponentType, request.Key), request.RequestId, request.Method),
        ReplyStatus.BadRequest when reply.Condition == ReplyCondition.Unauthorized => throw Denied(reply, request),
        ReplyStatus.BadRequest => throw new ArgumentException($"The silo refused request {request.RequestId} to {request.ComponentType}/{request.Key}.{request.Method}: {reply.Detail}"),
        ReplyStatus.Moved or ReplyStatus.Unavailable => throw new RequestNotAcknowledgedException(
            $"Request {request.RequestId} to {request.ComponentType}/{request.Key}.{request.Method} was not acknowledged ({reply}); retry it with the same request id."),
        _ => throw new InvalidOperationException($"The silo answered request {request.RequestId} with unknown status {(byte)reply.Status}; upgrade this side."),
    };

    /// <summary>
    /// The caller's exception for a BadRequest with condition <see cref="ReplyCondition.Unauthorized"/>: an
    /// <see cref="AccessDeniedException"/> naming the request and the silo's reason (which names the credential needed).
    /// </summary>
    public static AccessDeniedException Denied(ReplyMessage reply, InvokeMessage request) =>
        new($"The silo refused {request.Method} on {request.ComponentType}/{request.Key} (request {request.RequestId}) for this credential: {reply.Detail}");

    /// <summary>The outcome an outcome query's final reply stands for (see <see cref="ToMessage(RequestOutcome, string, string)"/>).</summary>
    public static RequestOutcome ToOutcome(ReplyMessage reply, InvokeMessage request) =>
        reply.Status == ReplyStatus.Error && reply.ErrorType == RequestOutcome.FencedErrorType
            ? RequestOutcome.NotCommitted
            : new RequestOutcome(true, ToReply(reply, request));
}
