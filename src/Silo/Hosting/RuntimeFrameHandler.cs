using Middleware.Protocol;
using Middleware.Transport;

namespace Middleware.Silo;

/// <summary>
/// Runs protocol requests through the silo's <see cref="ClusterRouter"/>: served here or forwarded to the component's
/// owner, and answered with a durable reply. The status tells a client what to do next: Ok and Error are final (the
/// turn is durable), BadRequest and NotFound will not improve with a retry, Moved names the silo to resend to, and
/// Unavailable means nothing was acknowledged, so the client retries with the same request id. On a silo that holds keys
/// each request is first authorized for the peer's role and proven sessions (<see cref="RequestAuthorizer"/>).
/// </summary>
public sealed class RuntimeFrameHandler(ClusterRouter router) : IFrameHandler
{
    /// <inheritdoc />
    public ValueTask<ReplyMessage> HandleAsync(InvokeMessage request, PeerContext peer, CancellationToken cancellationToken)
    {
        if (RequestAuthorizer.Check(request, peer) is { } refused) return ValueTask.FromResult(refused);
        if (SiloTelemetry.Source.HasListeners()) return TracedAsync(request, peer, cancellationToken);
        Task<ReplyMessage> routed;
        try
        {
            // The router returns at its first wait (activation load, group commit, forward), so the reader loop is not held.
            routed = router.RouteAsync(request, peer, cancellationToken);
        }
        catch (Exception e)
        {
            return ValueTask.FromResult(ReplyMapping.ToMessage(e));
        }

        return routed.IsCompletedSuccessfully ? ValueTask.FromResult(routed.Result) : AwaitAsync(routed);
    }

    /// <summary>The request under its span (a child of the Invoke's trace context); the span ends in this async method, so the reader loop's context is untouched.</summary>
    private async ValueTask<ReplyMessage> TracedAsync(InvokeMessage request, PeerContext peer, CancellationToken cancellationToken)
    {
        using var span = SiloTelemetry.StartRequest(request);
        ReplyMessage reply;
        try
        {
            reply = await router.RouteAsync(request, peer, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            reply = ReplyMapping.ToMessage(e);
        }

        span?.SetTag("middleware.reply", reply.Status.ToString());
        if (reply.Status is not (ReplyStatus.Ok or ReplyStatus.Moved)) span?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, reply.Status.ToString());
        return reply;
    }

    private static async ValueTask<ReplyMessage> AwaitAsync(Task<ReplyMessage> routed)
    {
        try
        {
            return await routed.ConfigureAwait(false);
        }
        catch (Exception e)
        {
            return ReplyMapping.ToMessage(e);
        }
    }
}
