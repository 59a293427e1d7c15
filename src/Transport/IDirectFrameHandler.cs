using Middleware.Protocol;

namespace Middleware.Transport;

/// <summary>Where a <see cref="IDirectFrameHandler"/> puts its replies: the connection the request came on.</summary>
public interface IReplySink
{
    /// <summary>
    /// Queues the reply to the request with <paramref name="correlationId"/>. Called exactly once per request handed to
    /// <see cref="IDirectFrameHandler.Handle"/> (the connection frees the request's in-flight slot when the reply is
    /// written or dropped); safe from any thread, and after the connection closed (the reply is dropped then).
    /// </summary>
    void Reply(ulong correlationId, ReplyMessage reply);
}

/// <summary>
/// A frame handler that answers each request through an <see cref="IReplySink"/> itself, so the connection does not need
/// an awaiting method of its own per request (one continuation less on the hot path). The connection prefers
/// <see cref="Handle"/> over <see cref="IFrameHandler.HandleAsync"/> when the handler has it.
/// </summary>
public interface IDirectFrameHandler : IFrameHandler
{
    /// <summary>
    /// Handles one invoke and replies through <paramref name="sink"/> exactly once, now or later, whatever happens: every
    /// failure becomes a reply (as <see cref="IFrameHandler.HandleAsync"/>'s exceptions become Error replies). Must not
    /// block and must not throw.
    /// </summary>
    void Handle(InvokeMessage request, PeerContext peer, ulong correlationId, IReplySink sink, CancellationToken cancellationToken);
}
