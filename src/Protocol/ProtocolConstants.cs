namespace Middleware.Protocol;

/// <summary>Fixed numbers of the wire protocol.</summary>
public static class ProtocolConstants
{
    /// <summary>
    /// The newest protocol version this build speaks. Version 2 adds the error data of Error replies and the condition
    /// of BadRequest and NotFound replies; a server answers a version-1 peer in version 1. Version 3 replaces the cluster
    /// key in the Hello by a challenge-response proof (the key never crosses the wire) and adds the admin role. Version 4
    /// adds the optional trace context of an Invoke (<see cref="InvokeFlags.TraceContext"/>).
    /// </summary>
    public const ushort Version = 4;

    /// <summary>The first version whose Invoke may carry a W3C trace context; a connection of an older version never sends one.</summary>
    public const ushort TraceContextVersion = 4;

    /// <summary>The first version whose handshake proves keys by challenge-response; older peers may connect only where no key is required.</summary>
    public const ushort ChallengeVersion = 3;

    /// <summary>Bytes of each handshake nonce (client and server).</summary>
    public const int NonceSize = 32;

    /// <summary>Bytes of a handshake proof (HMAC-SHA256).</summary>
    public const int ProofSize = 32;

    /// <summary>The longest sender id a Hello may carry, in UTF-16 code units.</summary>
    public const int MaxSenderIdLength = 128;

    /// <summary>The oldest protocol version a server of this build still accepts (and answers in).</summary>
    public const ushort MinVersion = 1;

    /// <summary>The default largest frame (the value of its length field) a peer accepts: 1 MiB.</summary>
    public const int DefaultMaxFrameSize = 1024 * 1024;

    /// <summary>The smallest maximum frame size a peer may configure; handshakes and replies must fit.</summary>
    public const int MinMaxFrameSize = 1024;

    /// <summary>The largest maximum frame size a peer may configure: 64 MiB.</summary>
    public const int MaxMaxFrameSize = 64 * 1024 * 1024;

    /// <summary>Bytes of the length prefix.</summary>
    public const int LengthPrefixSize = 4;

    /// <summary>Bytes after the length prefix that every frame has: the type byte and the correlation id.</summary>
    public const int FixedHeaderSize = 1 + 8;

    /// <summary>Bytes before the payload: length prefix, type byte, correlation id.</summary>
    public const int HeaderSize = LengthPrefixSize + FixedHeaderSize;

    /// <summary>
    /// Control operation: open or resume a virtual session. Key = session id ("" for a new one), args <c>[reserve]</c> or
    /// <c>[reserve, token]</c> (the session's token, to resume it); reply <c>{"sessionId","first","last","token"}</c>, the
    /// token only when this open created the session (keep it with the session id: it is what resumes it).
    /// </summary>
    public const string SessionOpen = "$session.open";

    /// <summary>
    /// Control operation: reserve a further block of request numbers of a session this client has open (not an open: the
    /// session's open count stays). Key = session id, args <c>[reserve]</c>; reply <c>{"sessionId","first","last"}</c>.
    /// </summary>
    public const string SessionReserve = "$session.reserve";

    /// <summary>
    /// Control operation: prove, on this connection, that the client holds the session's token (issued at its open). Key =
    /// session id, args <c>[token]</c>; reply empty. A server that authorizes (HelloFlags.SessionsMustBeProven) serves a
    /// client's requests of a session only on connections where it was opened or proven.
    /// </summary>
    public const string SessionProve = "$session.prove";

    /// <summary>Control operation: set (or with a null value remove) a session item. Key = session id, args <c>[key, value]</c>.</summary>
    public const string SessionSet = "$session.set";

    /// <summary>Control operation: close a session. Key = session id.</summary>
    public const string SessionClose = "$session.close";

    /// <summary>Control operation: the live silos as the receiving silo sees them. Reply <c>[{"siloId","address"}]</c>.</summary>
    public const string ClusterSilos = "$cluster.silos";

    /// <summary>
    /// Control operation between silos: a deadlock probe (edge chasing) at the owner of the component (type/key of the
    /// message). Args a JSON array of the component ids already visited; reply a JSON array of wait-for edges
    /// <c>{"Waiter","RequestId","Target","SinceTicks"}</c> followed from the component on.
    /// </summary>
    public const string DeadlockProbe = "$deadlock.probe";

    /// <summary>Control operation: hand the component (type/key of the message) over to another silo. Args <c>[siloId]</c>; reply <c>{"from","to","epoch"}</c>.</summary>
    public const string Move = "$move";

    /// <summary>
    /// Control operation between silos: sent by a component's old owner to its new one right after a handover
    /// (<see cref="Move"/>, rebalancing, a graceful leave) so the new owner activates it (claim, checkpoint, short tail)
    /// before its next request arrives. No args; reply Ok, or Moved when another silo owns it.
    /// </summary>
    public const string MoveWarm = "$move.warm";

    /// <summary>Control operation at the owner: quarantine the component (type/key of the message). Args <c>[by, reason, 0]</c>; reply a <c>DecisionResult</c>.</summary>
    public const string Quarantine = "$quarantine";

    /// <summary>Control operation at the owner: lift the component's quarantine and activate it again. Args <c>[by, reason, 0]</c>.</summary>
    public const string Release = "$release";

    /// <summary>Control operation at the owner: reset the component to a seq. Args <c>[by, reason, toSeq]</c>.</summary>
    public const string Reset = "$reset";

    /// <summary>Control operation at the owner: accept the current code's behaviour from a seq on. Args <c>[by, reason, fromSeq]</c>.</summary>
    public const string Accept = "$accept";

    /// <summary>
    /// Control operation between silos: durable records an owner ships to the mirror of their components (process-level
    /// mirroring). Args a binary <c>MirrorShipment</c>; reply <c>{"applied","diverged","failed"}</c>.
    /// </summary>
    public const string MirrorShip = "$mirror.ship";

    /// <summary>Control operation: the standbys the receiving silo keeps. Key = a component id to ask about, or "" for all; reply <c>[StandbyReport]</c>.</summary>
    public const string MirrorList = "$mirror.list";

    /// <summary>The three bytes every Hello starts with ("MWP"), so a stray client of another protocol is refused at once.</summary>
    public static ReadOnlySpan<byte> Magic => "MWP"u8;
}
