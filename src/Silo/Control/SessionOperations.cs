using Middleware.Protocol;
using Middleware.Protocol.Control;
using Middleware.Recovery.Storage;

namespace Middleware.Silo;

/// <summary>
/// <c>$session.open</c>, <c>$session.reserve</c>, <c>$session.set</c> and <c>$session.close</c>: store operations, not
/// component turns, so whichever silo receives them answers. Malformed arguments and refusals of the store (unknown or
/// closed session) are BadRequest; an unreachable store is Unavailable.
/// </summary>
internal sealed class SessionOperations(IClusterStore cluster)
{
    /// <summary>True for the operations this class answers.</summary>
    public static bool Handles(string method) => method.StartsWith("$session.", StringComparison.Ordinal);

    public async Task<ReplyMessage> HandleAsync(InvokeMessage request, CancellationToken cancellationToken)
    {
        try
        {
            switch (request.Method)
            {
                case ProtocolConstants.SessionOpen or ProtocolConstants.SessionReserve:
                {
                    var reserve = ControlCodec.DecodeReserve(request.Args, request.Method).Reserve;
                    var opened = request.Method == ProtocolConstants.SessionOpen
                        ? await cluster.OpenSessionAsync(request.Key.Length == 0 ? null : request.Key, reserve, cancellationToken).ConfigureAwait(false)
                        : await cluster.ReserveSessionAsync(request.Key, reserve, cancellationToken).ConfigureAwait(false);
                    return ReplyMessage.Ok(ControlCodec.Encode(new SessionBlock(opened.Session.SessionId, opened.First, opened.Last)));
                }

                case ProtocolConstants.SessionSet:
                {
                    var item = ControlCodec.DecodeSessionItem(request.Args, request.Method);
                    await cluster.SetSessionItemAsync(request.Key, item.Key, item.Value, cancellationToken).ConfigureAwait(false);
                    return ReplyMessage.Ok(ReadOnlyMemory<byte>.Empty);
                }

                case ProtocolConstants.SessionClose:
                    await cluster.CloseSessionAsync(request.Key, cancellationToken).ConfigureAwait(false);
                    return ReplyMessage.Ok(ReadOnlyMemory<byte>.Empty);
                default:
                    return ReplyMessage.BadRequest($"unknown session operation '{request.Method}'; silos know {ProtocolConstants.SessionOpen}, {ProtocolConstants.SessionReserve}, {ProtocolConstants.SessionSet}, {ProtocolConstants.SessionClose}");
            }
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or KeyNotFoundException)
        {
            return ReplyMessage.BadRequest(e.Message);
        }
        catch (StoreUnavailableException e)
        {
            return ReplyMessage.Unavailable(e.Message);
        }
    }
}
