namespace Middleware.Protocol.Control;

/// <summary>
/// Arguments of <c>$session.open</c> and <c>$session.reserve</c>: how many request numbers to reserve, and for an open
/// of an existing session its token (wire form <c>[reserve]</c> or <c>[reserve, token]</c>; empty arguments mean
/// <see cref="DefaultReserve"/>).
/// </summary>
/// <param name="Reserve">Request numbers to reserve.</param>
/// <param name="Token">The session's token (issued when it was created), to resume it; null for none.</param>
public sealed record SessionReserveRequest(int Reserve, string? Token = null)
{
    /// <summary>The block size when the request gives none.</summary>
    public const int DefaultReserve = 1000;
}

/// <summary>
/// The reply to <c>$session.open</c> / <c>$session.reserve</c>: the session and the numbers reserved for the caller (wire
/// form <c>{"sessionId","first","last","token"}</c>; older silos send no token).
/// </summary>
/// <param name="SessionId">The session (store-generated for a new one).</param>
/// <param name="First">The first reserved request number.</param>
/// <param name="Last">The last reserved request number.</param>
/// <param name="Token">
/// The session's token when this open created the session, else null: the secret that resumes it and proves it on a
/// connection. The silo keeps only its hash, so it is never sent again; keep it with the session id.
/// </param>
public sealed record SessionBlock(string SessionId, long First, long Last, string? Token = null);

/// <summary>Arguments of <c>$session.prove</c>: the session's token (wire form <c>[token]</c>).</summary>
/// <param name="Token">The token issued when the session was created.</param>
public sealed record SessionProveRequest(string Token);

/// <summary>Arguments of <c>$session.set</c>: an item key and its value, null to remove it (wire form <c>[key, value]</c>).</summary>
/// <param name="Key">The item key (not empty).</param>
/// <param name="Value">The value, or null to remove the item.</param>
public sealed record SessionItemRequest(string Key, string? Value);

/// <summary>Arguments of <c>$move</c>: the silo to hand the component over to (wire form <c>[siloId]</c>).</summary>
/// <param name="To">The destination silo id.</param>
public sealed record MoveRequest(string To);

/// <summary>The reply to <c>$move</c>: who handed over to whom, at which epoch (wire form <c>{"from","to","epoch"}</c>).</summary>
/// <param name="From">The silo that owned the component.</param>
/// <param name="To">The silo that owns it now.</param>
/// <param name="Epoch">The epoch handed over.</param>
public sealed record MoveResult(string From, string To, long Epoch);

/// <summary>One live silo in the reply to <c>$cluster.silos</c> (wire form <c>[{"siloId","address"}]</c>).</summary>
/// <param name="SiloId">The silo's id.</param>
/// <param name="Address">Its protocol address, <c>host:port</c>.</param>
public sealed record SiloAddress(string SiloId, string Address);

/// <summary>Arguments of <c>$quarantine</c>, <c>$release</c>, <c>$reset</c> and <c>$accept</c> (wire form <c>[by, reason, seq]</c>).</summary>
/// <param name="By">Who decides (recorded).</param>
/// <param name="Reason">Why (recorded).</param>
/// <param name="Seq">The seq a reset goes back to, or the first seq an accept adopts; 0 for the others.</param>
public sealed record DecisionRequest(string By, string Reason, long Seq);

/// <summary>
/// The reply to a decision (wire form <c>{"component","action","recordSeq","fromSeq","turns","changedReplies"}</c>): the
/// control record's seq, and for a reset or accept how many turns it superseded or re-executed and how many replies changed.
/// </summary>
/// <param name="Component">The component id.</param>
/// <param name="Action">quarantine, release, reset or accept.</param>
/// <param name="RecordSeq">The seq of the control record written (0 when nothing was written).</param>
/// <param name="FromSeq">Reset: the seq gone back to; accept: the first seq adopted; else 0.</param>
/// <param name="Turns">Reset: turns superseded; accept: turns re-executed; else 0.</param>
/// <param name="ChangedReplies">Accept: replies the current code changed; else 0.</param>
public sealed record DecisionResult(string Component, string Action, long RecordSeq, long FromSeq, int Turns, int ChangedReplies);

/// <summary>
/// A control operation's arguments or reply did not have the shape the operation needs. The message names the operation
/// and the expected form; a silo answers it BadRequest.
/// </summary>
public sealed class ControlMessageException(string message, Exception? inner = null) : ArgumentException(message, inner);
