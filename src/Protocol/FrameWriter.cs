using System.Buffers;

namespace Middleware.Protocol;

/// <summary>Writes whole frames: the length prefix first (messages know their size), then header and payload, with no staging copy.</summary>
public static class FrameWriter
{
    /// <summary>Writes <paramref name="message"/> as one frame and returns the frame's length field value.</summary>
    public static int Write(IBufferWriter<byte> output, ulong correlationId, ProtocolMessage message)
    {
        var length = message.GetFrameLength();
        var writer = new PayloadWriter(output);
        writer.WriteUInt32((uint)length);
        writer.WriteByte((byte)message.Type);
        writer.WriteUInt64(correlationId);
        message.WritePayload(ref writer);
        writer.Flush();
        return length;
    }

    /// <summary>The frame as a new array; for tests and one-off sends, not the hot path.</summary>
    public static byte[] ToArray(ulong correlationId, ProtocolMessage message)
    {
        var buffer = new ArrayBufferWriter<byte>(ProtocolConstants.HeaderSize + message.GetPayloadSize());
        Write(buffer, correlationId, message);
        return buffer.WrittenSpan.ToArray();
    }
}
