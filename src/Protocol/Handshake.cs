namespace Middleware.Protocol;

/// <summary>Who the server accepted: the sender's id (validated), the role, the version the connection speaks, and whether a key was proven.</summary>
/// <param name="SenderId">The sender id of the Hello; printable, 1 to 128 characters.</param>
/// <param name="Role">The role claimed, and proven when <paramref name="ProvedKey"/>.</param>
/// <param name="ProtocolVersion">The version the connection speaks both ways (the Hello's).</param>
/// <param name="ProvedKey">True when the peer proved the role's key; false when the server requires none for it.</param>
public sealed record PeerIdentity(string SenderId, PeerRole Role, ushort ProtocolVersion, bool ProvedKey);

/// <summary>Why a handshake was refused, for counting and throttling.</summary>
public enum HandshakeFailure
{
    /// <summary>Not refused.</summary>
    None,

    /// <summary>Not a Hello, no magic, a malformed frame, or an unexpected frame instead of the proof.</summary>
    Malformed,

    /// <summary>A protocol version the server does not serve.</summary>
    Version,

    /// <summary>The sender id is empty, too long or has unprintable characters.</summary>
    SenderId,

    /// <summary>A key was missing, wrong, or sent in clear: a failure to authenticate.</summary>
    Credential,
}

/// <summary>What the server answers to one handshake frame: a challenge (the handshake goes on), HelloOk (accepted) or HelloRejected.</summary>
public sealed record HandshakeStep(ProtocolMessage Reply, PeerIdentity? Accepted, HandshakeFailure Failure)
{
    /// <summary>The refusal's reason, when the step refuses.</summary>
    public string? RejectReason => (Reply as HelloRejectedMessage)?.Reason;

    /// <summary>True when the server waits for the peer's proof.</summary>
    public bool Challenged => Reply is HelloChallengeMessage;
}

/// <summary>
/// The server's side of one connection's handshake, apart from sockets so it is tested directly. The first frame must
/// be a Hello with the "MWP" magic, a version from <see cref="ProtocolConstants.MinVersion"/> to the server's, and a
/// printable sender id. Then, by the keys the server holds (<see cref="HandshakeKeys"/>):
/// <list type="bullet">
/// <item>no key at all: accepted without proof;</item>
/// <item>a key for the claimed role: version 3 is challenged (server nonce) and must answer a valid proof; versions 1-2
/// cannot prove a key and are refused, saying to upgrade;</item>
/// <item>keys for other roles only: a client connects without proof; a silo or admin peer is refused;</item>
/// <item>a key sent in clear (versions 1-2) is always refused, saying to upgrade: this server never accepts one.</item>
/// </list>
/// HelloOk answers in the Hello's version; after a challenge it carries the server's proof, so the peer knows the server
/// holds the key too.
/// </summary>
public sealed class ServerHandshake(HandshakeKeys keys, string siloId, int maxFrameSize, ushort serverVersion = ProtocolConstants.Version)
{
    private HelloMessage? _hello;
    private byte[]? _serverNonce;

    /// <summary>The sender id the Hello claimed (escape it before logging), or null before a Hello was decoded.</summary>
    public string? ClaimedSender => _hello?.SenderId;

    /// <summary>The role the Hello claimed, or null before a Hello was decoded.</summary>
    public PeerRole? ClaimedRole => _hello?.Role;

    /// <summary>Judges the next handshake frame: the Hello first, then (after a challenge) the proof.</summary>
    public HandshakeStep Receive(in Frame frame) => _serverNonce is null ? OnHello(frame) : OnProof(frame);

    private HandshakeStep OnHello(in Frame first)
    {
        if (first.Type != MessageType.Hello)
            return Reject(HandshakeFailure.Malformed, $"the first frame must be Hello, but a {first.Type} frame arrived; send Hello before any request");
        if (!MessageCodec.TryPeekHelloVersion(first, out var version))
            return Reject(HandshakeFailure.Malformed, "the Hello does not start with the \"MWP\" magic; this port speaks the Middleware protocol");
        // Versions are compared before the rest is decoded: another version's Hello has other fields.
        var oldest = Math.Min(ProtocolConstants.MinVersion, serverVersion);
        if (version > serverVersion || version < oldest)
            return Reject(HandshakeFailure.Version, $"protocol version {version} is not supported: this server speaks protocol version {serverVersion} (and serves peers down to version {oldest}); use a client of the same release or older");
        if (!MessageCodec.TryDecode(first, out var message, out var error))
            return Reject(HandshakeFailure.Malformed, $"the Hello is malformed ({error!.Message})");
        var hello = _hello = (HelloMessage)message!;
        if (SenderIds.Problem(hello.SenderId) is { } problem)
            return Reject(HandshakeFailure.SenderId, $"{problem}; give 1 to {ProtocolConstants.MaxSenderIdLength} printable characters (ConnectionOptions.SenderId, MiddlewareClientOptions.ClientName)");
        if (!hello.IsChallengeLayout && hello.ClusterKey is not null)
            return Reject(HandshakeFailure.Credential, $"this Hello of protocol version {hello.ProtocolVersion} carries a key in clear, which this server never accepts; upgrade the peer to protocol version {ProtocolConstants.ChallengeVersion} (it proves the key by challenge-response, so the key never crosses the wire)");

        var role = hello.Role;
        var name = RoleName(role);
        if (!keys.Enforced || (role == PeerRole.Client && !keys.Has(PeerRole.Client)))
            return Accept(hello, provedKey: false, serverProof: default);
        if (!keys.Has(role))
            return Reject(HandshakeFailure.Credential, $"this silo has no {name} key configured, so it accepts no {name} connections; configure the {name} key (or the cluster key) on the silo and the same key on the connecting side");
        if (!hello.IsChallengeLayout)
            return Reject(HandshakeFailure.Credential, $"{name} key required: this silo requires a {name} key, which protocol version {hello.ProtocolVersion} cannot prove; upgrade the peer to protocol version {ProtocolConstants.ChallengeVersion}");
        if (hello.ClientNonce.Length != ProtocolConstants.NonceSize)
            return Reject(HandshakeFailure.Malformed, $"the Hello's client nonce has {hello.ClientNonce.Length} bytes; protocol version {ProtocolConstants.ChallengeVersion} sends {ProtocolConstants.NonceSize}");

        _serverNonce = HandshakeProof.NewNonce();
        return new HandshakeStep(new HelloChallengeMessage(_serverNonce), null, HandshakeFailure.None);
    }

    private HandshakeStep OnProof(in Frame frame)
    {
        var hello = _hello!;
        var name = RoleName(hello.Role);
        if (frame.Type != MessageType.HelloProof)
            return Reject(HandshakeFailure.Malformed, $"a HelloProof must answer the HelloChallenge, but a {frame.Type} frame arrived; requests may follow only once the handshake is accepted");
        if (!MessageCodec.TryDecode(frame, out var message, out var error))
            return Reject(HandshakeFailure.Malformed, $"the HelloProof is malformed ({error!.Message})");
        var key = keys.For(hello.Role)!;
        var expected = HandshakeProof.Client(key, hello.ProtocolVersion, hello.Role, hello.SenderId, hello.ClientNonce.Span, _serverNonce);
        if (!HandshakeProof.Matches(expected, ((HelloProofMessage)message!).Proof.Span))
            return Reject(HandshakeFailure.Credential, $"{name} key mismatch: the proof does not match this silo's {name} key; configure the {name} key the silos use on the connecting side");
        var proof = HandshakeProof.Server(key, hello.ProtocolVersion, hello.Role, hello.SenderId, hello.ClientNonce.Span, _serverNonce, siloId);
        return Accept(hello, provedKey: true, proof);
    }

    private HandshakeStep Accept(HelloMessage hello, bool provedKey, ReadOnlyMemory<byte> serverProof)
    {
        var flags = keys.Enforced ? HelloFlags.SessionsMustBeProven : HelloFlags.None;
        // The connection speaks the peer's version (an older peer is answered in its own).
        var ok = new HelloOkMessage(hello.ProtocolVersion, siloId, maxFrameSize, flags, serverProof);
        return new HandshakeStep(ok, new PeerIdentity(hello.SenderId, hello.Role, hello.ProtocolVersion, provedKey), HandshakeFailure.None);
    }

    private static HandshakeStep Reject(HandshakeFailure failure, string reason) => new(new HelloRejectedMessage(reason), null, failure);

    /// <summary>The role as operators name it in settings (client, silo, admin).</summary>
    public static string RoleName(PeerRole role) => role switch
    {
        PeerRole.Client => "client",
        PeerRole.Silo => "silo",
        PeerRole.Admin => "admin",
        _ => $"role {(byte)role}",
    };
}
