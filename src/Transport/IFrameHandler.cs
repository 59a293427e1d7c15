using Middleware.Protocol;

namespace Middleware.Transport;

/// <summary>
/// What a silo does with a request that arrived over the transport. The connection calls it on its reader loop and
/// reads the next frame without waiting for the result, so an implementation must not block: return a pending
/// <see cref="ValueTask{TResult}"/> for anything slow. An exception becomes an <see cref="ReplyStatus.Error"/> reply.
/// </summary>
public interface IFrameHandler
{
    /// <summary>Handles one invoke and returns its reply.</summary>
    /// <param name="request">The decoded request; it owns its bytes.</param>
    /// <param name="peer">Who sent it (role, sender id, the sessions it proved on this connection): authorize against it.</param>
    /// <param name="cancellationToken">Canceled when the connection the request came on closes; the reply could not be delivered any more.</param>
    ValueTask<ReplyMessage> HandleAsync(InvokeMessage request, PeerContext peer, CancellationToken cancellationToken);
}
