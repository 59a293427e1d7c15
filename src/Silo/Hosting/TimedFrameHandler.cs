using System.Diagnostics;
using Middleware.Dashboard;
using Middleware.Protocol;
using Middleware.Transport;

namespace Middleware.Silo;

/// <summary>
/// Times every protocol request a silo answers (read to reply ready) into its <see cref="RequestLatency"/>, for the
/// dashboard's latency chart; the request itself goes to <paramref name="inner"/> unchanged. The silo's own
/// <see cref="RuntimeFrameHandler"/> times its requests itself (one continuation less); this wrapper is for a host that
/// registers another <see cref="IFrameHandler"/>.
/// </summary>
public sealed class TimedFrameHandler(IFrameHandler inner, RequestLatency latency) : IFrameHandler
{
    /// <inheritdoc />
    public ValueTask<ReplyMessage> HandleAsync(InvokeMessage request, PeerContext peer, CancellationToken cancellationToken)
    {
        var start = Stopwatch.GetTimestamp();
        var reply = inner.HandleAsync(request, peer, cancellationToken);
        if (reply.IsCompletedSuccessfully)
        {
            latency.Record(start);
            return reply;
        }

        return AwaitAsync(reply, start);
    }

    private async ValueTask<ReplyMessage> AwaitAsync(ValueTask<ReplyMessage> reply, long start)
    {
        try
        {
            return await reply.ConfigureAwait(false);
        }
        finally
        {
            latency.Record(start);
        }
    }
}
