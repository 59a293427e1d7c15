namespace Middleware.Protocol;

/// <summary>
/// The first frame of every connection, from the connecting side: magic "MWP", protocol version, role, the sender's id
/// (client name or silo id), then by version: version 3 a client nonce (<see cref="ClientNonce"/>, the start of the
/// challenge-response: no key crosses the wire); versions 1-2 an optional cluster key in clear (<see cref="ClusterKey"/>),
/// which a server of this build refuses, saying to upgrade.
/// </summary>
public sealed record HelloMessage : ProtocolMessage
{
    /// <summary>A version-3 Hello: no key, a client nonce of <see cref="ProtocolConstants.NonceSize"/> bytes.</summary>
    public HelloMessage(ushort protocolVersion, PeerRole role, string senderId, ReadOnlyMemory<byte> clientNonce)
        : this(protocolVersion, role, senderId, null, clientNonce)
    {
    }

    private HelloMessage(ushort protocolVersion, PeerRole role, string senderId, string? clusterKey, ReadOnlyMemory<byte> clientNonce)
    {
        ProtocolVersion = protocolVersion;
        Role = role;
        SenderId = senderId;
        ClusterKey = clusterKey;
        ClientNonce = clientNonce;
    }

    /// <summary>
    /// A Hello in the layout of protocol version 1 or 2, whose key (if any) travels in clear: what old peers send. A
    /// server of this build refuses the key; kept to decode such Hellos and to play old peers in tests.
    /// </summary>
    public static HelloMessage Legacy(ushort protocolVersion, PeerRole role, string senderId, string? clusterKey) =>
        protocolVersion >= ProtocolConstants.ChallengeVersion
            ? throw new ArgumentOutOfRangeException(nameof(protocolVersion), protocolVersion, "A Hello with a key in clear exists in protocol versions 1 and 2 only.")
            : new HelloMessage(protocolVersion, role, senderId, clusterKey, default);

    /// <summary>The sender's newest protocol version; it also decides the layout of the rest of this Hello.</summary>
    public ushort ProtocolVersion { get; }

    /// <summary>The role the sender claims.</summary>
    public PeerRole Role { get; }

    /// <summary>The sender's name for server logs (validated by the server: 1 to 128 printable characters).</summary>
    public string SenderId { get; }

    /// <summary>Versions 1-2 only: the key in clear. A server of this build refuses a Hello that carries one.</summary>
    public string? ClusterKey { get; }

    /// <summary>Version 3: the client's nonce, bound into both proofs.</summary>
    public ReadOnlyMemory<byte> ClientNonce { get; }

    /// <summary>True when this Hello has the version-3 layout.</summary>
    public bool IsChallengeLayout => ProtocolVersion >= ProtocolConstants.ChallengeVersion;

    /// <inheritdoc />
    public override MessageType Type => MessageType.Hello;

    /// <inheritdoc />
    public override int GetPayloadSize() =>
        ProtocolConstants.Magic.Length + 2 + 1 + PayloadWriter.SizeOfString(SenderId)
        + (IsChallengeLayout ? PayloadWriter.SizeOfBytes(ClientNonce.Length) : PayloadWriter.SizeOfOptionalString(ClusterKey));

    /// <inheritdoc />
    public override void WritePayload(ref PayloadWriter writer)
    {
        writer.WriteRaw(ProtocolConstants.Magic);
        writer.WriteUInt16(ProtocolVersion);
        writer.WriteByte((byte)Role);
        writer.WriteString(SenderId);
        if (IsChallengeLayout) writer.WriteBytes(ClientNonce.Span);
        else writer.WriteOptionalString(ClusterKey);
    }

    /// <summary>Equality includes the nonce bytes (records compare memory by reference otherwise).</summary>
    public bool Equals(HelloMessage? other) =>
        other is not null && ProtocolVersion == other.ProtocolVersion && Role == other.Role && SenderId == other.SenderId
        && ClusterKey == other.ClusterKey && ClientNonce.Span.SequenceEqual(other.ClientNonce.Span);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(ProtocolVersion, Role, SenderId);

    /// <summary>Never shows a key: only whether a version-1/2 Hello carried one.</summary>
    public override string ToString() =>
        IsChallengeLayout
            ? $"Hello(v{ProtocolVersion}, {Role} {LogText.Quote(SenderId)})"
            : $"Hello(v{ProtocolVersion}, {Role} {LogText.Quote(SenderId)}, key in clear {(ClusterKey is null ? "absent" : "given")})";
}

/// <summary>
/// Version 3: the server holds a key for the role the Hello claims and asks the peer to prove it knows it. The peer
/// answers <see cref="HelloProofMessage"/> with HMAC-SHA256(key, client transcript) (see <see cref="HandshakeProof"/>).
/// </summary>
public sealed record HelloChallengeMessage(ReadOnlyMemory<byte> ServerNonce) : ProtocolMessage
{
    /// <inheritdoc />
    public override MessageType Type => MessageType.HelloChallenge;

    /// <inheritdoc />
    public override int GetPayloadSize() => PayloadWriter.SizeOfBytes(ServerNonce.Length);

    /// <inheritdoc />
    public override void WritePayload(ref PayloadWriter writer) => writer.WriteBytes(ServerNonce.Span);

    /// <summary>Equality includes the nonce bytes.</summary>
    public bool Equals(HelloChallengeMessage? other) => other is not null && ServerNonce.Span.SequenceEqual(other.ServerNonce.Span);

    /// <inheritdoc />
    public override int GetHashCode() => ServerNonce.Length;
}

/// <summary>Version 3: the peer's answer to <see cref="HelloChallengeMessage"/>, a proof that it knows the role's key.</summary>
public sealed record HelloProofMessage(ReadOnlyMemory<byte> Proof) : ProtocolMessage
{
    /// <inheritdoc />
    public override MessageType Type => MessageType.HelloProof;

    /// <inheritdoc />
    public override int GetPayloadSize() => PayloadWriter.SizeOfBytes(Proof.Length);

    /// <inheritdoc />
    public override void WritePayload(ref PayloadWriter writer) => writer.WriteBytes(Proof.Span);

    /// <summary>Equality includes the proof bytes.</summary>
    public bool Equals(HelloProofMessage? other) => other is not null && Proof.Span.SequenceEqual(other.Proof.Span);

    /// <inheritdoc />
    public override int GetHashCode() => Proof.Length;
}

/// <summary>
/// The server accepted the handshake: its protocol version, its silo id, and the largest frame it accepts, so a
/// client can refuse an oversized request locally instead of having the connection closed under it. Version 3 adds
/// <see cref="Flags"/> and <see cref="ServerProof"/>: after a challenge, HMAC-SHA256(key, server transcript), so the
/// peer knows the server holds the key too (empty when there was no challenge).
/// </summary>
public sealed record HelloOkMessage(ushort ProtocolVersion, string SiloId, int MaxFrameSize, HelloFlags Flags = HelloFlags.None, ReadOnlyMemory<byte> ServerProof = default) : ProtocolMessage
{
    /// <inheritdoc />
    public override MessageType Type => MessageType.HelloOk;

    private bool IsChallengeLayout => ProtocolVersion >= ProtocolConstants.ChallengeVersion;

    /// <inheritdoc />
    public override int GetPayloadSize() =>
        2 + PayloadWriter.SizeOfString(SiloId) + 4
        + (IsChallengeLayout ? PayloadWriter.SizeOfVarUInt32((uint)Flags) + PayloadWriter.SizeOfBytes(ServerProof.Length) : 0);

    /// <inheritdoc />
    public override void WritePayload(ref PayloadWriter writer)
    {
        writer.WriteUInt16(ProtocolVersion);
        writer.WriteString(SiloId);
        writer.WriteUInt32((uint)MaxFrameSize);
        if (!IsChallengeLayout) return;
        writer.WriteVarUInt32((uint)Flags);
        writer.WriteBytes(ServerProof.Span);
    }

    /// <summary>Equality includes the proof bytes.</summary>
    public bool Equals(HelloOkMessage? other) =>
        other is not null && ProtocolVersion == other.ProtocolVersion && SiloId == other.SiloId && MaxFrameSize == other.MaxFrameSize
        && Flags == other.Flags && ServerProof.Span.SequenceEqual(other.ServerProof.Span);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(ProtocolVersion, SiloId, MaxFrameSize, Flags);
}

/// <summary>The server refused the handshake and closes the connection; the reason names what to fix.</summary>
public sealed record HelloRejectedMessage(string Reason) : ProtocolMessage
{
    /// <inheritdoc />
    public override MessageType Type => MessageType.HelloRejected;

    /// <inheritdoc />
    public override int GetPayloadSize() => PayloadWriter.SizeOfString(Reason);

    /// <inheritdoc />
    public override void WritePayload(ref PayloadWriter writer) => writer.WriteString(Reason);
}
