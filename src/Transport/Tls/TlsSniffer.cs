using System.Buffers;

namespace Middleware.Transport.Tls;

/// <summary>Tells a TLS ClientHello from a protocol frame by the first bytes a peer sends.</summary>
internal static class TlsSniffer
{
    /// <summary>Bytes needed to decide. Every Hello frame and every ClientHello is longer.</summary>
    public const int Length = 6;

    /// <summary>
    /// A TLS handshake record (0x16, version 3.x) carrying a ClientHello (handshake type 1 in byte 5). A protocol frame
    /// cannot match: its byte 5 starts the correlation id, which is 0 in a Hello.
    /// </summary>
    public static bool LooksLikeClientHello(ReadOnlySequence<byte> buffer)
    {
        if (buffer.Length < Length) return false;
        Span<byte> head = stackalloc byte[Length];
        buffer.Slice(0, Length).CopyTo(head);
        return head[0] == 0x16 && head[1] == 0x03 && head[2] <= 0x04 && head[5] == 0x01;
    }
}
