using Middleware.Grains;
using Middleware.Protocol;
using Middleware.Recovery.Log;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;
using Middleware.Transport;

namespace Middleware.Silo;

/// <summary>
/// Runs protocol requests through the silo's <see cref="ClusterRouter"/>: served here or forwarded to the component's
/// owner, and answered with a durable reply. The status tells a client what to do next: Ok and Error are final (the
/// turn is durable), BadRequest and NotFound will not improve with a retry, Moved names the silo to resend to, and
/// Unavailable means nothing was acknowledged, so the client retries with the same request id.
/// </summary>
public sealed class RuntimeFrameHandler(ClusterRouter router) : IFrameHandler
{
    /// <inheritdoc />
    public ValueTask<ReplyMessage> HandleAsync(InvokeMessage request, CancellationToken cancellationToken)
    {
        Task<ReplyMessage> routed;
        try
        {
            // The router returns at its first wait (activation load, group commit, forward), so the reader loop is not held.
            routed = router.RouteAsync(request, cancellationToken);
        }
        catch (Exception e)
        {
            return ValueTask.FromResult(ToReply(e));
        }

        return routed.IsCompletedSuccessfully ? ValueTask.FromResult(routed.Result) : AwaitAsync(routed);
    }

    private static async ValueTask<ReplyMessage> AwaitAsync(Task<ReplyMessage> routed)
    {
        try
        {
            return await routed.ConfigureAwait(false);
        }
        catch (Exception e)
        {
            return ToReply(e);
        }
    }

    /// <summary>A durable turn's reply: its result, or the exception the component threw (type and message).</summary>
    internal static ReplyMessage ToReply(TurnReply reply) =>
        reply.IsError ? ReplyMessage.Error(reply.ErrorType!, reply.ErrorMessage ?? "") : ReplyMessage.Ok(reply.Result);

    /// <summary>A request the runtime refused or could not make durable.</summary>
    internal static ReplyMessage ToReply(Exception e) => e switch
    {
        UnknownComponentException => ReplyMessage.NotFound(e.Message),
        RequestIdReuseException or ArgumentException => ReplyMessage.BadRequest(e.Message),
        TurnNotDurableException or StoreUnavailableException => ReplyMessage.Unavailable(e.Message),
        OperationCanceledException => ReplyMessage.Unavailable("the request was canceled before its turn was durable; retry with the same request id"),
        _ => ReplyMessage.Error(e.GetType().FullName ?? e.GetType().Name, e.Message),
    };
}
