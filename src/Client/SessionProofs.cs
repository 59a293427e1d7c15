using System.Runtime.CompilerServices;
using Middleware.Core;
using Middleware.Protocol;
using Middleware.Protocol.Control;

namespace Middleware.Client;

/// <summary>
/// Proves the client's session on each connection to a silo that asks for it (<see cref="HelloFlags.SessionsMustBeProven"/>,
/// a silo holding keys): before the first request on a connection, <c>$session.prove</c> with the session's token, once.
/// A silo remembers the proof per connection, so a new connection (another gateway, an owner after a redirect, a
/// reconnect) proves again; the token itself is the only secret, and the silo keeps only its hash.
/// </summary>
internal sealed class SessionProofs(MiddlewareClient client)
{
    private readonly ConditionalWeakTable<MiddlewareConnection, Task> _proofs = new();

    /// <summary>Waits until the session is proven on <paramref name="connection"/>, proving it first when needed.</summary>
    public Task EnsureAsync(MiddlewareConnection connection, CancellationToken cancellationToken)
    {
        if ((connection.ServerFlags & HelloFlags.SessionsMustBeProven) == 0) return Task.CompletedTask;
        // No session yet (the open itself is on its way) or none to prove with: the silo decides what to allow.
        if (client.SessionId.Length == 0 || client.SessionToken is not { } token) return Task.CompletedTask;
        return Prove(connection, token, cancellationToken);
    }

    // Apart from EnsureAsync so the lambda's closure is made only when a proof is needed, not on every request (issue 18).
    private Task Prove(MiddlewareConnection connection, string token, CancellationToken cancellationToken)
    {
        var proof = _proofs.GetValue(connection, c => ProveAsync(c, client.SessionId, token));
        if (proof.IsFaulted || proof.IsCanceled)
        {
            // A failed proof is not remembered: the next attempt tries again (a lost connection is replaced anyway).
            _proofs.Remove(connection);
        }

        return proof.WaitAsync(cancellationToken);
    }

    private static async Task ProveAsync(MiddlewareConnection connection, string sessionId, string token)
    {
        var message = new InvokeMessage("$session", sessionId, ProtocolConstants.SessionProve, "$control:" + Guid.NewGuid().ToString("N"), null, null,
            ControlCodec.Encode(new SessionProveRequest(token)), InvokeFlags.Control);
        var reply = await connection.InvokeAsync(message, CancellationToken.None).ConfigureAwait(false);
        switch (reply.Status)
        {
            case ReplyStatus.Ok:
                return;
            case ReplyStatus.BadRequest when reply.Condition == ReplyCondition.Unauthorized:
                throw new AccessDeniedException($"The silo {connection.RemoteSiloId} refused the token of session {sessionId}: {reply.Detail}");
            case ReplyStatus.BadRequest or ReplyStatus.NotFound:
                throw new InvalidOperationException($"The silo {connection.RemoteSiloId} refused to prove session {sessionId}: {reply.Detail}");
            default:
                throw new RequestNotAcknowledgedException($"The silo {connection.RemoteSiloId} could not prove session {sessionId} now ({reply}); retrying.");
        }
    }
}
