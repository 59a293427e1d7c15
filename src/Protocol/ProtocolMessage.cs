namespace Middleware.Protocol;

/// <summary>
/// A message that can be written as a frame payload. Each message knows its type byte, its exact encoded size (so a
/// frame's length prefix is written first, without a second buffer) and how to write itself.
/// </summary>
public abstract record ProtocolMessage
{
    /// <summary>The type byte of frames carrying this message.</summary>
    public abstract MessageType Type { get; }

    /// <summary>The exact number of payload bytes <see cref="WritePayload"/> writes.</summary>
    public abstract int GetPayloadSize();

    /// <summary>Writes the payload fields.</summary>
    public abstract void WritePayload(ref PayloadWriter writer);

    /// <summary>The whole frame size as the length field counts it (type byte, correlation id, payload).</summary>
    public int GetFrameLength() => ProtocolConstants.FixedHeaderSize + GetPayloadSize();
}
