using System.Diagnostics;
using Middleware.Core;
using Middleware.Dashboard;
using Middleware.Protocol;
using Middleware.Recovery.Runtime;
using Middleware.Transport;

namespace Middleware.Silo;

/// <summary>
/// Runs protocol requests through the silo's <see cref="ClusterRouter"/>: served here or forwarded to the component's
/// owner, and answered with a durable reply. The status tells a client what to do next: Ok and Error are final (the
/// turn is durable), BadRequest and NotFound will not improve with a retry, Moved names the silo to resend to, and
/// Unavailable means nothing was acknowledged, so the client retries with the same request id. On a silo that holds keys
/// each request is first authorized for the peer's role and proven sessions (<see cref="RequestAuthorizer"/>). With a
/// <see cref="RequestLatency"/> every request is timed (read to reply ready) for the dashboard's latency chart.
/// <para>
/// A request for a live activation here (the common case) takes one async method of this class between the transport and
/// the runtime (<see cref="ClusterRouter.TryServeLive"/>): mapping the reply, timing it and handling a failure are done in
/// that one continuation, instead of one each in the router, here and a timing wrapper. On the only live silo a request
/// that activates its component here takes the same way (the router's look-up could only answer "here").
/// </para>
/// </summary>
public sealed class RuntimeFrameHandler(ClusterRouter router, RequestLatency? latency = null) : IDirectFrameHandler
{
    /// <inheritdoc />
    public void Handle(InvokeMessage request, PeerContext peer, ulong correlationId, IReplySink sink, CancellationToken cancellationToken)
    {
        Task<ComponentReply>? served = null;
        var start = latency is null ? 0 : Stopwatch.GetTimestamp();
        if (RequestAuthorizer.Check(request, peer) is null && !SiloTelemetry.Source.HasListeners())
        {
            try
            {
                served = router.TryServeLive(request, cancellationToken);
            }
            catch (Exception e)
            {
                sink.Reply(correlationId, Timed(ReplyMapping.ToMessage(e), start));
                return;
            }
        }

        if (served is null)
        {
            // Everything but a live activation here (refused, traced, to be located or forwarded): HandleAsync times it.
            var pending = HandleAsync(request, peer, cancellationToken);
            if (pending.IsCompletedSuccessfully) sink.Reply(correlationId, pending.Result);
            else _ = ReplyLaterAsync(pending, correlationId, sink);
        }
        else if (served.IsCompletedSuccessfully)
        {
            sink.Reply(correlationId, Timed(ReplyMapping.ToMessage(served.Result), start));
        }
        else
        {
            _ = ReplyServedAsync(served, request, correlationId, sink, start, cancellationToken);
        }
    }

    /// <summary>
    /// The one continuation of a request served by a live activation here: its reply (or, nothing acknowledged, the
    /// general path's, or the error reply) goes to the connection. Never throws: the sink gets exactly one reply.
    /// </summary>
    private async Task ReplyServedAsync(Task<ComponentReply> served, InvokeMessage request, ulong correlationId, IReplySink sink, long start, CancellationToken cancellationToken)
    {
        ReplyMessage reply;
        try
        {
            reply = ReplyMapping.ToMessage(await served.ConfigureAwait(false));
        }
        catch (Exception e)
        {
            reply = await AfterFailureAsync(e, request, cancellationToken).ConfigureAwait(false);
        }

        sink.Reply(correlationId, Timed(reply, start));
    }

    private static async Task ReplyLaterAsync(ValueTask<ReplyMessage> pending, ulong correlationId, IReplySink sink)
    {
        ReplyMessage reply;
        try
        {
            reply = await pending.ConfigureAwait(false);
        }
        catch (Exception e)
        {
            reply = ReplyMapping.ToMessage(e);
        }

        sink.Reply(correlationId, reply);
    }

    /// <summary>
    /// A failed attempt on the live activation here: not acknowledged (<see cref="ComponentOwnedElsewhereException"/>,
    /// <see cref="TurnNotDurableException"/>) goes the general path with the same request, anything else is its reply.
    /// </summary>
    private async ValueTask<ReplyMessage> AfterFailureAsync(Exception e, InvokeMessage request, CancellationToken cancellationToken)
    {
        if (e is not (ComponentOwnedElsewhereException or TurnNotDurableException)) return ReplyMapping.ToMessage(e);
        try
        {
            return await router.RerouteAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception again)
        {
            return ReplyMapping.ToMessage(again);
        }
    }

    private ReplyMessage Timed(ReplyMessage reply, long start)
    {
        if (start != 0) latency!.Record(start);
        return reply;
    }

    /// <inheritdoc />
    public ValueTask<ReplyMessage> HandleAsync(InvokeMessage request, PeerContext peer, CancellationToken cancellationToken)
    {
        var start = latency is null ? 0 : Stopwatch.GetTimestamp();
        if (RequestAuthorizer.Check(request, peer) is { } refused) return Done(refused, start);
        if (SiloTelemetry.Source.HasListeners()) return TracedAsync(request, peer, start, cancellationToken);
        try
        {
            if (router.TryServeLive(request, cancellationToken) is { } served)
            {
                return served.IsCompletedSuccessfully ? Done(ReplyMapping.ToMessage(served.Result), start) : AwaitServedAsync(served, request, start, cancellationToken);
            }

            // The router returns at its first wait (activation load, group commit, forward), so the reader loop is not held.
            var routed = router.RouteAsync(request, peer, cancellationToken);
            return routed.IsCompletedSuccessfully ? Done(routed.Result, start) : AwaitAsync(routed, start);
        }
        catch (Exception e)
        {
            return Done(ReplyMapping.ToMessage(e), start);
        }
    }

    private ValueTask<ReplyMessage> Done(ReplyMessage reply, long start) => ValueTask.FromResult(Timed(reply, start));

    /// <summary>
    /// A request served by a live activation here, awaited once: its reply, or (nothing acknowledged) the general path
    /// with the same request, or the error reply; as <see cref="ClusterRouter.RouteAsync(InvokeMessage, PeerContext?, CancellationToken)"/> answers.
    /// </summary>
    private async ValueTask<ReplyMessage> AwaitServedAsync(Task<ComponentReply> served, InvokeMessage request, long start, CancellationToken cancellationToken)
    {
        ReplyMessage reply;
        try
        {
            reply = ReplyMapping.ToMessage(await served.ConfigureAwait(false));
        }
        catch (Exception e)
        {
            reply = await AfterFailureAsync(e, request, cancellationToken).ConfigureAwait(false);
        }

        return Timed(reply, start);
    }

    /// <summary>The request under its span (a child of the Invoke's trace context); the span ends in this async method, so the reader loop's context is untouched.</summary>
    private async ValueTask<ReplyMessage> TracedAsync(InvokeMessage request, PeerContext peer, long start, CancellationToken cancellationToken)
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
        if (start != 0) latency!.Record(start);
        return reply;
    }

    private async ValueTask<ReplyMessage> AwaitAsync(Task<ReplyMessage> routed, long start)
    {
        ReplyMessage reply;
        try
        {
            reply = await routed.ConfigureAwait(false);
        }
        catch (Exception e)
        {
            reply = ReplyMapping.ToMessage(e);
        }

        if (start != 0) latency!.Record(start);
        return reply;
    }
}
