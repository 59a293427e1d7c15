namespace Middleware.Protocol;

/// <summary>
/// The first frame of every connection, from the connecting side: magic "MWP", protocol version, role, the sender's
/// id (client name or silo id) and the cluster key when the server requires one.
/// </summary>
public sealed record HelloMessage(ushort ProtocolVersion, PeerRole Role, string SenderId, string? ClusterKey) : ProtocolMessage
{
    /// <inheritdoc />
    public override MessageType Type => MessageType.Hello;

    /// <inheritdoc />
    public override int GetPayloadSize() =>
        ProtocolConstants.Magic.Length + 2 + 1 + PayloadWriter.SizeOfString(SenderId) + PayloadWriter.SizeOfOptionalString(ClusterKey);

    /// <inheritdoc />
    public override void WritePayload(ref PayloadWriter writer)
    {
        writer.WriteRaw(ProtocolConstants.Magic);
        writer.WriteUInt16(ProtocolVersion);
        writer.WriteByte((byte)Role);
        writer.WriteString(SenderId);
        writer.WriteOptionalString(ClusterKey);
    }

    /// <inheritdoc />
    public override string ToString() => $"Hello(v{ProtocolVersion}, {Role} '{SenderId}', cluster key {(ClusterKey is null ? "absent" : "given")})";
}

/// <summary>
/// The server accepted the handshake: its protocol version, its silo id, and the largest frame it accepts, so a
/// client can refuse an oversized request locally instead of having the connection closed under it.
/// </summary>
public sealed record HelloOkMessage(ushort ProtocolVersion, string SiloId, int MaxFrameSize) : ProtocolMessage
{
    /// <inheritdoc />
    public override MessageType Type => MessageType.HelloOk;

    /// <inheritdoc />
    public override int GetPayloadSize() => 2 + PayloadWriter.SizeOfString(SiloId) + 4;

    /// <inheritdoc />
    public override void WritePayload(ref PayloadWriter writer)
    {
        writer.WriteUInt16(ProtocolVersion);
        writer.WriteString(SiloId);
        writer.WriteUInt32((uint)MaxFrameSize);
    }
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
