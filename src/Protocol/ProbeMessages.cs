namespace Middleware.Protocol;

/// <summary>A transport probe: the server answers with an <see cref="EchoReplyMessage"/> carrying the same bytes.</summary>
public sealed record EchoMessage(ReadOnlyMemory<byte> Payload) : ProtocolMessage
{
    /// <inheritdoc />
    public override MessageType Type => MessageType.Echo;

    /// <inheritdoc />
    public override int GetPayloadSize() => PayloadWriter.SizeOfBytes(Payload.Length);

    /// <inheritdoc />
    public override void WritePayload(ref PayloadWriter writer) => writer.WriteBytes(Payload.Span);
}

/// <summary>The answer to an <see cref="EchoMessage"/>.</summary>
public sealed record EchoReplyMessage(ReadOnlyMemory<byte> Payload) : ProtocolMessage
{
    /// <inheritdoc />
    public override MessageType Type => MessageType.EchoReply;

    /// <inheritdoc />
    public override int GetPayloadSize() => PayloadWriter.SizeOfBytes(Payload.Length);

    /// <inheritdoc />
    public override void WritePayload(ref PayloadWriter writer) => writer.WriteBytes(Payload.Span);
}

/// <summary>A liveness probe; the payload is empty. One shared instance suffices.</summary>
public sealed record PingMessage : ProtocolMessage
{
    /// <summary>The only instance needed.</summary>
    public static readonly PingMessage Instance = new();

    /// <inheritdoc />
    public override MessageType Type => MessageType.Ping;

    /// <inheritdoc />
    public override int GetPayloadSize() => 0;

    /// <inheritdoc />
    public override void WritePayload(ref PayloadWriter writer)
    {
        // No fields: the frame header is the whole message.
    }
}

/// <summary>The answer to a <see cref="PingMessage"/>; the payload is empty.</summary>
public sealed record PongMessage : ProtocolMessage
{
    /// <summary>The only instance needed.</summary>
    public static readonly PongMessage Instance = new();

    /// <inheritdoc />
    public override MessageType Type => MessageType.Pong;

    /// <inheritdoc />
    public override int GetPayloadSize() => 0;

    /// <inheritdoc />
    public override void WritePayload(ref PayloadWriter writer)
    {
        // No fields: the frame header is the whole message.
    }
}
