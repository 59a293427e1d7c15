using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;

namespace Middleware.Recovery.Log;

/// <summary>What reading a stored record found out about its checksum.</summary>
public enum ChecksumStatus : byte
{
    /// <summary>No checksum was checked: the record was written before checksums (an older build), or not read from a store.</summary>
    Unverified = 0,

    /// <summary>The record carries a checksum and it matches its identity and bytes.</summary>
    Verified = 1,

    /// <summary>The record carries a checksum that does not match: its bytes or identity changed after it was written.</summary>
    Corrupt = 2,
}

/// <summary>
/// The checksum envelope of every stored log payload, dedup reply and checkpoint state (see "Checksums" in
/// src/Recovery/README.md): a marker byte <see cref="Marker"/>, the CRC-32C of the record (little-endian), then the
/// bytes the codec wrote. The CRC covers the record's identity as well as its bytes (component id, seq, epoch, kind;
/// for a dedup entry its request id, seq and arguments hash; for a checkpoint its seq, epoch and state hash), so a
/// changed request id, a reply moved to another request or a record moved to another seq or component does not
/// verify, not only bit rot. <see cref="LogStoreBase"/> seals on append and opens on every read, so every store that
/// derives from it stores and checks them without code of its own. Bytes that do not start with the marker were
/// written before checksums and are read as they are (<see cref="ChecksumStatus.Unverified"/>): no first byte of an
/// older payload (a format version 1 or 2, or a JSON object's <c>{</c>) is the marker.
/// </summary>
public static class RecordChecksum
{
    /// <summary>The first byte of a sealed payload (envelope version 1).</summary>
    public const byte Marker = 0xC3;

    /// <summary>Marker and CRC: the bytes a seal adds to each payload.</summary>
    public const int HeaderLength = 5;

    private const byte LogDomain = (byte)'L', DedupDomain = (byte)'D', CheckpointDomain = (byte)'C';

    /// <summary>The payload of <paramref name="record"/> of <paramref name="componentId"/>, sealed.</summary>
    public static byte[] SealRecord(string componentId, LogRecord record) =>
        Seal(LogCrc(componentId, record.Seq, record.Epoch, record.Kind, record.Payload.Span), record.Payload.Span);

    /// <summary>Opens a stored log payload: the codec's bytes and whether the checksum matched.</summary>
    public static (ReadOnlyMemory<byte> Payload, ChecksumStatus Status) OpenRecord(string componentId, LogRecord stored) =>
        Open(stored.Payload, inner => LogCrc(componentId, stored.Seq, stored.Epoch, stored.Kind, inner));

    /// <summary>The reply of a dedup entry of <paramref name="componentId"/>, sealed.</summary>
    public static byte[] SealDedup(string componentId, DedupEntry entry) =>
        Seal(DedupCrc(componentId, entry.RequestId, entry.Seq, entry.ArgsHash, entry.Reply.Span), entry.Reply.Span);

    /// <summary>Opens a stored dedup reply.</summary>
    public static (ReadOnlyMemory<byte> Reply, ChecksumStatus Status) OpenDedup(string componentId, DedupEntry stored) =>
        Open(stored.Reply, inner => DedupCrc(componentId, stored.RequestId, stored.Seq, stored.ArgsHash, inner));

    /// <summary>The state of a checkpoint of <paramref name="componentId"/>, sealed.</summary>
    public static byte[] SealCheckpoint(string componentId, CheckpointRecord checkpoint) =>
        Seal(CheckpointCrc(componentId, checkpoint.Seq, checkpoint.Epoch, checkpoint.StateHash, checkpoint.State.Span), checkpoint.State.Span);

    /// <summary>Opens a stored checkpoint state.</summary>
    public static (ReadOnlyMemory<byte> State, ChecksumStatus Status) OpenCheckpoint(string componentId, CheckpointRecord stored) =>
        Open(stored.State, inner => CheckpointCrc(componentId, stored.Seq, stored.Epoch, stored.StateHash, inner));

    private static byte[] Seal(uint crc, ReadOnlySpan<byte> inner)
    {
        var sealedBytes = new byte[HeaderLength + inner.Length];
        sealedBytes[0] = Marker;
        BinaryPrimitives.WriteUInt32LittleEndian(sealedBytes.AsSpan(1), crc);
        inner.CopyTo(sealedBytes.AsSpan(HeaderLength));
        return sealedBytes;
    }

    private static (ReadOnlyMemory<byte>, ChecksumStatus) Open(ReadOnlyMemory<byte> stored, CrcOf crcOf)
    {
        var span = stored.Span;
        if (span.IsEmpty || span[0] != Marker) return (stored, ChecksumStatus.Unverified);
        if (span.Length < HeaderLength) return (ReadOnlyMemory<byte>.Empty, ChecksumStatus.Corrupt);
        var inner = stored[HeaderLength..];
        var ok = BinaryPrimitives.ReadUInt32LittleEndian(span[1..]) == crcOf(inner.Span);
        return (inner, ok ? ChecksumStatus.Verified : ChecksumStatus.Corrupt);
    }

    private delegate uint CrcOf(ReadOnlySpan<byte> inner);

    private static uint LogCrc(string componentId, long seq, long epoch, RecordKind kind, ReadOnlySpan<byte> payload)
    {
        var crc = Start(LogDomain, componentId, seq);
        Int64(crc, epoch);
        crc.Append([(byte)kind]);
        return Finish(crc, payload);
    }

    private static uint DedupCrc(string componentId, string requestId, long seq, long argsHash, ReadOnlySpan<byte> reply)
    {
        var crc = Start(DedupDomain, componentId, seq);
        Text(crc, requestId);
        Int64(crc, argsHash);
        return Finish(crc, reply);
    }

    private static uint CheckpointCrc(string componentId, long seq, long epoch, string stateHash, ReadOnlySpan<byte> state)
    {
        var crc = Start(CheckpointDomain, componentId, seq);
        Int64(crc, epoch);
        Text(crc, stateHash);
        return Finish(crc, state);
    }

    private static Crc32 Start(byte domain, string componentId, long seq)
    {
        var crc = new Crc32(Crc32ParameterSet.Crc32C);
        crc.Append([Marker, domain]);
        Text(crc, componentId);
        Int64(crc, seq);
        return crc;
    }

    private static uint Finish(Crc32 crc, ReadOnlySpan<byte> bytes)
    {
        Int64(crc, bytes.Length);
        crc.Append(bytes);
        return crc.GetCurrentHashAsUInt32();
    }

    private static void Int64(Crc32 crc, long value)
    {
        Span<byte> buffer = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(buffer, value);
        crc.Append(buffer);
    }

    // Length-prefixed, so no two (id, request id) pairs feed the same bytes.
    private static void Text(Crc32 crc, string text)
    {
        Span<byte> buffer = text.Length <= 256 ? stackalloc byte[Encoding.UTF8.GetMaxByteCount(text.Length)] : new byte[Encoding.UTF8.GetMaxByteCount(text.Length)];
        var n = Encoding.UTF8.GetBytes(text, buffer);
        Int64(crc, n);
        crc.Append(buffer[..n]);
    }
}
