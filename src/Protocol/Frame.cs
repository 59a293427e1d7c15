using System.Buffers;

namespace Middleware.Protocol;

/// <summary>
/// One parsed frame. <see cref="Payload"/> is a slice of the reader's buffer, not a copy: decode it before the
/// buffer is advanced past it.
/// </summary>
public readonly struct Frame(MessageType type, ulong correlationId, ReadOnlySequence<byte> payload)
{
    /// <summary>The message type byte.</summary>
    public MessageType Type { get; } = type;

    /// <summary>The id that pairs a reply with its request; 0 for handshake frames.</summary>
    public ulong CorrelationId { get; } = correlationId;

    /// <summary>The bytes after the fixed header.</summary>
    public ReadOnlySequence<byte> Payload { get; } = payload;
}

/// <summary>What <see cref="FrameParser.TryRead"/> found at the start of the buffer.</summary>
public enum FrameParseStatus
{
    /// <summary>The buffer holds no whole frame yet; read more and call again.</summary>
    NeedMoreData,

    /// <summary>A whole frame was parsed and the buffer advanced past it.</summary>
    Frame,

    /// <summary>The bytes cannot be a valid frame; the connection must be closed.</summary>
    Error,
}

/// <summary>The kinds of protocol violation, so callers and tests can tell them apart without parsing messages.</summary>
public enum ProtocolErrorKind
{
    /// <summary>The length field exceeds the configured maximum frame size.</summary>
    Oversized,

    /// <summary>The length field is smaller than the fixed header.</summary>
    Undersized,

    /// <summary>The type byte names no known message.</summary>
    UnknownType,

    /// <summary>The payload does not decode as its message type (short field, bad varint, invalid UTF-8, trailing bytes).</summary>
    MalformedPayload,

    /// <summary>The stream ended in the middle of a frame.</summary>
    Truncated,

    /// <summary>A well-formed message that is not allowed here (for example an Invoke before the handshake).</summary>
    UnexpectedMessage,

    /// <summary>A frame arrived slower than the listener's minimum data rate (a slow-loris peer).</summary>
    TooSlow,
}

/// <summary>A protocol violation found in bytes from the network: what kind, and a message naming the value at fault.</summary>
public sealed record ProtocolError(ProtocolErrorKind Kind, string Message)
{
    /// <inheritdoc />
    public override string ToString() => $"{Kind}: {Message}";
}
