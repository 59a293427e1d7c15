using Middleware.Protocol;
using Middleware.Transport;

namespace Middleware.Silo;

/// <summary>
/// What each credential may ask of a silo that holds keys (<see cref="PeerContext.Authorizes"/>); a silo without keys
/// allows everything (one machine, laptop mode). A refusal is BadRequest with <see cref="ReplyCondition.Unauthorized"/>,
/// whose detail names the credential or token needed; callers get <c>AccessDeniedException</c>.
/// <list type="bullet">
/// <item>Silo: everything (forwarded requests, calls between components with their caller chain, mirroring, control).</item>
/// <item>Admin: control operations (<c>$move</c>, quarantine decisions, ...), outcome queries and fences of any request
/// id, calls, <c>$mirror.list</c>; not what only silos send (the Forwarded flag, a caller chain, <c>$mirror.ship</c>, <c>$move.warm</c>).</item>
/// <item>Client: calls, outcome queries (which fence) and session operations, only with request ids and sessions of a
/// session proven on this connection (opened, or resumed/proven with its token); <c>$cluster.silos</c>.</item>
/// </list>
/// </summary>
internal static class RequestAuthorizer
{
    /// <summary>Null when <paramref name="peer"/> may send <paramref name="request"/>, else the refusal to answer with.</summary>
    public static ReplyMessage? Check(InvokeMessage request, PeerContext peer)
    {
        if (!peer.Authorizes || peer.Role == PeerRole.Silo) return null;
        var who = $"this connection is a{(peer.Role == PeerRole.Admin ? "n" : "")} {ServerHandshake.RoleName(peer.Role)}{(peer.Identity.ProvedKey ? " (it proved the " + ServerHandshake.RoleName(peer.Role) + " key)" : " without a key")}";
        if ((request.Flags & InvokeFlags.Forwarded) != 0)
            return Denied($"the Forwarded flag is for silos only (a gateway passing a request to the owner), and {who}; send the request without InvokeFlags.Forwarded");
        if (request.Caller is not null)
            return Denied($"a caller chain (InvokeMessage.Caller) is set only by silos, for calls between components, and {who}; send the request without a caller");
        if ((request.Flags & InvokeFlags.Control) != 0)
        {
            if (SessionOperations.Handles(request.Method) || request.Method == ProtocolConstants.ClusterSilos) return null;
            // The admin tool reads the standbys a silo keeps (mw mirrors, mw cluster status); shipping is for silos only.
            if (request.Method == ProtocolConstants.MirrorList && peer.Role == PeerRole.Admin) return null;
            if (request.Method.StartsWith("$mirror.", StringComparison.Ordinal) || request.Method is ProtocolConstants.DeadlockProbe or ProtocolConstants.MoveWarm)
                return Denied($"{request.Method} is sent between silos only, and {who}");
            if (peer.Role == PeerRole.Admin) return null;
            return Denied($"{request.Method} is an admin operation and {who}; run it with the admin tool (mw {AdminCommand(request.Method)} --admin-key-file FILE), which proves the admin key");
        }

        if (peer.Role == PeerRole.Admin) return null;
        var session = SessionOf(request.RequestId);
        var what = (request.Flags & InvokeFlags.Outcome) != 0 ? "asking for (and so fencing) the outcome of" : "sending";
        if (session is null || !peer.Sessions.Contains(session))
        {
            return Denied(session is null
                ? $"{what} request id {LogText.Quote(request.RequestId)} is refused: a client's request ids are SessionId:n of a session it holds (MiddlewareClient.NextRequestId); fencing other ids is an admin operation (mw outcome --fence)"
                : $"{what} request id {LogText.Quote(request.RequestId)} is refused: it belongs to session {LogText.Quote(session)}, which this connection has not proven; open the session, or resume it with its token (MiddlewareClientOptions.SessionToken)");
        }

        if (request.SessionId is { } sessionId && sessionId != session && !peer.Sessions.Contains(sessionId))
            return Denied($"the request names session {LogText.Quote(sessionId)}, which this connection has not proven; use the session its request id belongs to");
        return null;
    }

    /// <summary>The refusal of a session operation on a session this client did not prove.</summary>
    public static ReplyMessage SessionNotProven(string operation, string sessionId) =>
        Denied($"{operation} on session {LogText.Quote(sessionId)} is refused: this connection has not proven the session; open it, or resume it with its token (MiddlewareClientOptions.SessionToken)");

    /// <summary>A BadRequest with <see cref="ReplyCondition.Unauthorized"/>.</summary>
    public static ReplyMessage Denied(string reason) => ReplyMessage.BadRequest(reason, ReplyCondition.Unauthorized);

    /// <summary>The session of a request id (<c>SessionId:n</c>: the part before the first colon), or null when it has none.</summary>
    public static string? SessionOf(string requestId)
    {
        var colon = requestId.IndexOf(':', StringComparison.Ordinal);
        return colon > 0 ? requestId[..colon] : null;
    }

    private static string AdminCommand(string method) => method switch
    {
        ProtocolConstants.Move => "move",
        ProtocolConstants.Quarantine => "quarantine",
        ProtocolConstants.Release => "release",
        ProtocolConstants.Reset => "reset",
        ProtocolConstants.Accept => "accept",
        _ => "...",
    };
}
