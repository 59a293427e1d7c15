using System.Buffers;
using System.Buffers.Binary;

namespace Middleware.Protocol;

/// <summary>
/// Splits a byte stream into frames: <c>[uint32 LE length of the rest][byte type][uint64 LE correlation id][payload]</c>.
/// It never throws on network input and never buffers more than one maximum frame: an oversized or unknown frame is
/// reported from its header alone, before its body arrives.
/// </summary>
public static class FrameParser
{
    /// <summary>
    /// Parses the frame at the start of <paramref name="buffer"/>. On <see cref="FrameParseStatus.Frame"/> the buffer is
    /// advanced past it; otherwise the buffer is left unchanged.
    /// </summary>
    /// <param name="buffer">Bytes received and not yet consumed.</param>
    /// <param name="maxFrameSize">The largest length field accepted.</param>
    /// <param name="frame">The frame, whose payload is a slice of <paramref name="buffer"/>.</param>
    /// <param name="error">Set when the status is <see cref="FrameParseStatus.Error"/>.</param>
    public static FrameParseStatus TryRead(ref ReadOnlySequence<byte> buffer, int maxFrameSize, out Frame frame, out ProtocolError? error)
    {
        frame = default;
        error = null;
        if (buffer.Length < ProtocolConstants.LengthPrefixSize + 1) return FrameParseStatus.NeedMoreData;

        Span<byte> head = stackalloc byte[ProtocolConstants.HeaderSize];
        var available = (int)Math.Min(buffer.Length, ProtocolConstants.HeaderSize);
        var first = buffer.FirstSpan;
        if (first.Length >= available)
        {
            first[..available].CopyTo(head);
        }
        else
        {
            buffer.Slice(0, available).CopyTo(head);
        }

        var length = BinaryPrimitives.ReadUInt32LittleEndian(head);
        // Checked from the header alone, so a peer declaring 4 GiB costs nothing to refuse.
        if (length > (uint)maxFrameSize)
        {
            error = new ProtocolError(ProtocolErrorKind.Oversized, $"frame length {length} exceeds the maximum frame size {maxFrameSize}");
            return FrameParseStatus.Error;
        }

        if (length < ProtocolConstants.FixedHeaderSize)
        {
            error = new ProtocolError(ProtocolErrorKind.Undersized, $"frame length {length} is smaller than the {ProtocolConstants.FixedHeaderSize}-byte header");
            return FrameParseStatus.Error;
        }

        var type = (MessageType)head[ProtocolConstants.LengthPrefixSize];
        if (!IsKnown(type))
        {
            error = new ProtocolError(ProtocolErrorKind.UnknownType, $"unknown message type {(byte)type}");
            return FrameParseStatus.Error;
        }

        var total = ProtocolConstants.LengthPrefixSize + (long)length;
        if (buffer.Length < total) return FrameParseStatus.NeedMoreData;

        var correlationId = BinaryPrimitives.ReadUInt64LittleEndian(head[(ProtocolConstants.LengthPrefixSize + 1)..]);
        var payload = buffer.Slice(ProtocolConstants.HeaderSize, length - ProtocolConstants.FixedHeaderSize);
        frame = new Frame(type, correlationId, payload);
        buffer = buffer.Slice(total);
        return FrameParseStatus.Frame;
    }

    /// <summary>
    /// The error to report when the stream ended: none if every byte was consumed, <see cref="ProtocolErrorKind.Truncated"/>
    /// if a partial frame is left.
    /// </summary>
    public static ProtocolError? AtEndOfStream(in ReadOnlySequence<byte> unconsumed) =>
        unconsumed.IsEmpty ? null : new ProtocolError(ProtocolErrorKind.Truncated, $"the stream ended inside a frame ({unconsumed.Length} bytes left over)");

    /// <summary>True for the message types this protocol version defines.</summary>
    public static bool IsKnown(MessageType type) => type is MessageType.Hello or MessageType.HelloOk or MessageType.HelloRejected or MessageType.HelloChallenge or MessageType.HelloProof
        or MessageType.Invoke or MessageType.Reply or MessageType.Echo or MessageType.EchoReply or MessageType.Ping or MessageType.Pong;
}
