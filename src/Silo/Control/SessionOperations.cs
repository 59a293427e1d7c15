using Middleware.Protocol;
using Middleware.Protocol.Control;
using Middleware.Recovery.Storage;
using Middleware.Transport;

namespace Middleware.Silo;

/// <summary>
/// <c>$session.open</c>, <c>$session.prove</c>, <c>$session.reserve</c>, <c>$session.set</c> and <c>$session.close</c>:
/// store operations, not component turns, so whichever silo receives them answers. Creating a session issues its token
/// (returned once, stored only as a hash); on a silo that holds keys a client resumes or proves a session only with
/// that token, and reserves, sets and closes only sessions it proved on the connection. Malformed arguments and
/// refusals of the store (unknown or closed session) are BadRequest; a missing or wrong token is BadRequest
/// Unauthorized; an unreachable store is Unavailable.
/// </summary>
internal sealed class SessionOperations(IClusterStore cluster)
{
    /// <summary>True for the operations this class answers.</summary>
    public static bool Handles(string method) => method.StartsWith("$session.", StringComparison.Ordinal);

    /// <summary>Answers one session operation from <paramref name="peer"/> (null: from inside this silo, trusted).</summary>
    public async Task<ReplyMessage> HandleAsync(InvokeMessage request, PeerContext? peer, CancellationToken cancellationToken)
    {
        // Only a client on a silo with keys has to prove its sessions; silos and the admin are trusted with them.
        var checks = peer is { Authorizes: true, Role: PeerRole.Client };
        SiloTelemetry.CountSession(request.Method);
        try
        {
            switch (request.Method)
            {
                case ProtocolConstants.SessionOpen:
                    return await OpenAsync(request, peer, checks, cancellationToken).ConfigureAwait(false);

                case ProtocolConstants.SessionProve:
                {
                    var token = ControlCodec.DecodeProve(request.Args, request.Method).Token;
                    var session = await cluster.GetSessionAsync(request.Key, cancellationToken).ConfigureAwait(false)
                        ?? throw ClusterRules.UnknownSession(request.Key);
                    if (TokenProblem(session, token) is { } problem) return RequestAuthorizer.Denied(problem);
                    return Proven(peer, session.SessionId) ?? ReplyMessage.Ok(ReadOnlyMemory<byte>.Empty);
                }

                case ProtocolConstants.SessionReserve:
                {
                    if (checks && !peer!.Sessions.Contains(request.Key)) return RequestAuthorizer.SessionNotProven(request.Method, request.Key);
                    var reserve = ControlCodec.DecodeReserve(request.Args, request.Method).Reserve;
                    var reserved = await cluster.ReserveSessionAsync(request.Key, reserve, cancellationToken).ConfigureAwait(false);
                    return ReplyMessage.Ok(ControlCodec.Encode(new SessionBlock(reserved.Session.SessionId, reserved.First, reserved.Last)));
                }

                case ProtocolConstants.SessionSet:
                {
                    if (checks && !peer!.Sessions.Contains(request.Key)) return RequestAuthorizer.SessionNotProven(request.Method, request.Key);
                    var item = ControlCodec.DecodeSessionItem(request.Args, request.Method);
                    await cluster.SetSessionItemAsync(request.Key, item.Key, item.Value, cancellationToken).ConfigureAwait(false);
                    return ReplyMessage.Ok(ReadOnlyMemory<byte>.Empty);
                }

                case ProtocolConstants.SessionClose:
                    if (checks && !peer!.Sessions.Contains(request.Key)) return RequestAuthorizer.SessionNotProven(request.Method, request.Key);
                    await cluster.CloseSessionAsync(request.Key, cancellationToken).ConfigureAwait(false);
                    return ReplyMessage.Ok(ReadOnlyMemory<byte>.Empty);
                default:
                    return ReplyMessage.BadRequest($"unknown session operation '{request.Method}'; silos know {ProtocolConstants.SessionOpen}, {ProtocolConstants.SessionProve}, {ProtocolConstants.SessionReserve}, {ProtocolConstants.SessionSet}, {ProtocolConstants.SessionClose}");
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

    /// <summary>
    /// Creates a session (issuing its token) or resumes one (with its token, when <paramref name="checks"/>). The token is
    /// checked before the resume when the session exists, and again after it when it was created meanwhile by another
    /// open of the same id (then this open resumed it and must hold its token too).
    /// </summary>
    private async Task<ReplyMessage> OpenAsync(InvokeMessage request, PeerContext? peer, bool checks, CancellationToken cancellationToken)
    {
        var (reserve, token) = ControlCodec.DecodeReserve(request.Args, request.Method);
        var id = request.Key.Length == 0 ? null : request.Key;
        SessionEntry? existing = null;
        if (id is not null)
        {
            existing = await cluster.GetSessionAsync(id, cancellationToken).ConfigureAwait(false);
            if (checks && existing is not null && TokenProblem(existing, token) is { } problem) return RequestAuthorizer.Denied(problem);
        }

        var issued = existing is null ? SessionTokens.New() : null;
        var opened = await cluster.OpenSessionAsync(id, reserve, issued is null ? null : SessionTokens.Hash(issued), cancellationToken).ConfigureAwait(false);
        // First == 1: this open created the session (numbers start at 1), so the token issued is its token.
        var created = issued is not null && opened.First == 1;
        if (!created && existing is null && checks && TokenProblem(opened.Session, token) is { } raced) return RequestAuthorizer.Denied(raced);
        return Proven(peer, opened.Session.SessionId)
            ?? ReplyMessage.Ok(ControlCodec.Encode(new SessionBlock(opened.Session.SessionId, opened.First, opened.Last, created ? issued : null)));
    }

    /// <summary>Why <paramref name="token"/> does not prove <paramref name="session"/>, or null when it does.</summary>
    private static string? TokenProblem(SessionEntry session, string? token)
    {
        var name = LogText.Quote(session.SessionId);
        if (session.TokenHash is null)
            return $"session {name} has no token (it was created before session tokens, schema version 4), so no client can prove it; open a new session";
        if (token is null)
            return $"session {name} is resumed only with its token, and none was given; pass the token the session was created with (MiddlewareClientOptions.SessionToken, saved from MiddlewareClient.SessionToken)";
        return SessionTokens.Matches(session.TokenHash, token)
            ? null
            : $"the token given for session {name} is not its token; pass the token the session was created with (MiddlewareClientOptions.SessionToken)";
    }

    /// <summary>Records the session as proven on the connection; a refusal when the connection holds too many.</summary>
    private static ReplyMessage? Proven(PeerContext? peer, string sessionId) =>
        peer is null || peer.Sessions.Add(sessionId)
            ? null
            : RequestAuthorizer.Denied($"this connection already proved {ProvenSessions.Limit} sessions, the most one connection may use; open another connection for more");
}
