using Middleware.Grains;
using Middleware.Protocol;
using Middleware.Recovery.Log;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;
using Middleware.Transport;

namespace Middleware.Silo;

/// <summary>
/// Runs protocol requests on the silo's <see cref="LocalRuntime"/>: <see cref="InvokeMessage"/> → <see cref="Invocation"/>
/// → durable <see cref="TurnReply"/> → <see cref="ReplyMessage"/>. The status tells a client what to do next: Ok and
/// Error are final (the turn is durable), BadRequest and NotFound will not improve with a retry, and Unavailable
/// means nothing was acknowledged, so the client retries with the same request id.
/// </summary>
public sealed class RuntimeFrameHandler(SiloRuntime silo) : IFrameHandler
{
    /// <inheritdoc />
    public ValueTask<ReplyMessage> HandleAsync(InvokeMessage request, CancellationToken cancellationToken)
    {
        if (silo.RuntimeOrNull is not { } runtime)
            return ValueTask.FromResult(ReplyMessage.Unavailable($"silo {silo.Options.SiloId} is not running (starting or shutting down); retry with the same request id"));

        Task<TurnReply> turn;
        try
        {
            var target = new ComponentId(request.ComponentType, request.Key);
            // The runtime returns at its first wait (activation load, group commit), so the reader loop is not held.
            turn = runtime.InvokeAsync(new Invocation(target, request.RequestId, request.Method, request.Args, request.SessionId, request.Caller), cancellationToken);
        }
        catch (Exception e)
        {
            return ValueTask.FromResult(ToReply(e));
        }

        return turn.IsCompletedSuccessfully ? ValueTask.FromResult(ToReply(turn.Result)) : AwaitAsync(turn);
    }

    private static async ValueTask<ReplyMessage> AwaitAsync(Task<TurnReply> turn)
    {
        try
        {
            return ToReply(await turn.ConfigureAwait(false));
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
