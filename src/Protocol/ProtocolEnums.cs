namespace Middleware.Protocol;

/// <summary>The message type byte of a frame. It is on the wire: never renumber.</summary>
public enum MessageType : byte
{
    /// <summary>The first frame a connecting peer sends: magic, protocol version, role, identity, and (version 3) a client nonce.</summary>
    Hello = 1,

    /// <summary>The server accepted the handshake.</summary>
    HelloOk = 2,

    /// <summary>The server refused the handshake; it closes the connection after this frame.</summary>
    HelloRejected = 3,

    /// <summary>Version 3: the server requires a key for the claimed role and sends its nonce; the peer answers <see cref="HelloProof"/>.</summary>
    HelloChallenge = 4,

    /// <summary>Version 3: the peer's proof that it knows the role's key (an HMAC over the handshake transcript).</summary>
    HelloProof = 5,

    /// <summary>A request to run a method on a component.</summary>
    Invoke = 10,

    /// <summary>The answer to an <see cref="Invoke"/>, with the same correlation id.</summary>
    Reply = 11,

    /// <summary>A transport round-trip probe: the server sends the payload back.</summary>
    Echo = 20,

    /// <summary>The answer to an <see cref="Echo"/>.</summary>
    EchoReply = 21,

    /// <summary>A liveness probe without payload.</summary>
    Ping = 30,

    /// <summary>The answer to a <see cref="Ping"/>.</summary>
    Pong = 31,
}

/// <summary>
/// What the connecting peer claims to be; when the server holds a key for that role the peer proves it in the handshake,
/// and the role decides what it may do (README, "Authentication and authorization"). It is on the wire: never renumber.
/// </summary>
public enum PeerRole : byte
{
    /// <summary>An application process using the client SDK: component calls and its own sessions.</summary>
    Client = 1,

    /// <summary>Another silo of the same cluster: forwarded requests, component calls between silos, everything else.</summary>
    Silo = 2,

    /// <summary>The admin tool (protocol version 3): moves, decisions, fencing any request id, cluster control.</summary>
    Admin = 3,
}

/// <summary>How an <see cref="MessageType.Invoke"/> ended. It is on the wire: never renumber.</summary>
public enum ReplyStatus : byte
{
    /// <summary>The turn ran; the reply carries its JSON result.</summary>
    Ok = 1,

    /// <summary>The turn threw (a recorded error) or the request failed; the reply carries error type and message.</summary>
    Error = 2,

    /// <summary>The component lives elsewhere; the reply carries the address to send it to.</summary>
    Moved = 3,

    /// <summary>The silo cannot serve the request now (shutting down, store unreachable); retry elsewhere or later.</summary>
    Unavailable = 4,

    /// <summary>The request itself is wrong (malformed frame, missing field); retrying it unchanged will not help.</summary>
    BadRequest = 5,

    /// <summary>The component type or method is unknown to the silo.</summary>
    NotFound = 6,
}

/// <summary>
/// Which known condition a BadRequest or NotFound reply stands for, so every caller raises the same exception type for
/// it (protocol version 2; absent means <see cref="None"/>). It is on the wire: never renumber.
/// </summary>
public enum ReplyCondition : uint
{
    /// <summary>No particular condition: the detail says what is wrong.</summary>
    None = 0,

    /// <summary>The request id was already used for another method or other arguments (<c>RequestIdReuseException</c>).</summary>
    RequestIdReused = 1,

    /// <summary>
    /// The peer's credential does not allow the request (a client asking for an admin operation, another session's ids,
    /// a session it did not prove); the detail names the role or token needed (<c>AccessDeniedException</c>).
    /// </summary>
    Unauthorized = 2,
}

/// <summary>What a version-3 HelloOk tells the peer about the server (bit flags). It is on the wire: never renumber.</summary>
[Flags]
public enum HelloFlags : uint
{
    /// <summary>Nothing particular.</summary>
    None = 0,

    /// <summary>
    /// The server authorizes by role and session (it holds at least one key): a client must prove each session it uses on
    /// this connection (<c>$session.open</c> or <c>$session.prove</c>) before invoking with its request ids.
    /// </summary>
    SessionsMustBeProven = 1,
}

/// <summary>Options of an invoke. Unknown bits are carried through unchanged so newer peers can add flags.</summary>
[Flags]
public enum InvokeFlags : uint
{
    /// <summary>No option.</summary>
    None = 0,

    /// <summary>The caller knows the method is read-only (not logged); a silo may still check this itself.</summary>
    ReadOnly = 1,

    /// <summary>A gateway already forwarded this request: the receiver serves it or answers Moved, but never forwards again.</summary>
    Forwarded = 2,

    /// <summary>
    /// Not a call: asks the owner of the component for the outcome of <see cref="InvokeMessage.RequestId"/>. The reply is
    /// the recorded reply when the request committed, or an Error of type <see cref="Core.RequestOutcome.FencedErrorType"/>
    /// when it did not, after which that id can never commit (the owner wrote a durable fence).
    /// </summary>
    Outcome = 4,

    /// <summary>
    /// Not a call: a cluster operation named by <see cref="InvokeMessage.Method"/> (<c>$session.open</c>,
    /// <c>$session.set</c>, <c>$session.close</c>, <c>$move</c>), with JSON arguments. See the protocol README.
    /// </summary>
    Control = 8,

    /// <summary>
    /// The sender follows redirects and caches owners: a gateway that is not the component's owner answers Moved with
    /// the owner's address instead of forwarding, so later calls go to the owner directly (one hop instead of two).
    /// Clients set it on a first attempt only; a retry goes without it, so a gateway holds and forwards it while an
    /// owner is being declared dead.
    /// </summary>
    PreferMoved = 16,

    /// <summary>
    /// (Version 4) The payload ends with the caller's W3C trace context: string <c>traceparent</c>, optional string
    /// <c>tracestate</c>. Set by the encoder from <see cref="InvokeMessage.TraceParent"/>; never sent to an older peer.
    /// </summary>
    TraceContext = 32,
}
