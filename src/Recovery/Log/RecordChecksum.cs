using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;
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
    public static byte[] SealRecord(string componentId, LogRecord record)
    {
        var crc = LogCrc(componentId, record.Seq, record.Epoch, record.Kind, record.Payload.Span);
        if (record.SealRoom is { } room && MemoryMarshal.TryGetArray(record.Payload, out var segment) && segment.Array == room
            && segment.Offset == HeaderLength && segment.Count == room.Length - HeaderLength)
        {
            // The payload was encoded with room for the header (LogRecord.SealRoom): write it in front, no copy. The
            // header depends only on the record's identity and bytes, so sealing the same record again writes the same.
            room[0] = Marker;
            BinaryPrimitives.WriteUInt32LittleEndian(room.AsSpan(1), crc);
            return room;
        }

        return Seal(crc, record.Payload.Span);
    }

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
        var max = HeadCapacity(componentId, null);
        Span<byte> head = max <= StackLimit ? stackalloc byte[max] : new byte[max];
        var n = Start(head, LogDomain, componentId, seq);
        n = Int64(head, n, epoch);
        head[n++] = (byte)kind;
        return Compute(head, n, payload);
    }

    private static uint DedupCrc(string componentId, string requestId, long seq, long argsHash, ReadOnlySpan<byte> reply)
    {
        var max = HeadCapacity(componentId, requestId);
        Span<byte> head = max <= StackLimit ? stackalloc byte[max] : new byte[max];
        var n = Start(head, DedupDomain, componentId, seq);
        n = Text(head, n, requestId);
        n = Int64(head, n, argsHash);
        return Compute(head, n, reply);
    }

    private static uint CheckpointCrc(string componentId, long seq, long epoch, string stateHash, ReadOnlySpan<byte> state)
    {
        var max = HeadCapacity(componentId, stateHash);
        Span<byte> head = max <= StackLimit ? stackalloc byte[max] : new byte[max];
        var n = Start(head, CheckpointDomain, componentId, seq);
        n = Int64(head, n, epoch);
        n = Text(head, n, stateHash);
        return Compute(head, n, state);
    }

    private const int StackLimit = 1024;

    // One CRC object per thread, reset for each record: no allocation per record.
    [ThreadStatic]
    private static Crc32? t_crc;

    // Marker, domain, then up to two length-prefixed texts and four int64s (seq, epoch or hash, the inner length) and a kind.
    private static int HeadCapacity(string componentId, string? text) =>
        2 + 8 + Encoding.UTF8.GetMaxByteCount(componentId.Length) + (text is null ? 0 : 8 + Encoding.UTF8.GetMaxByteCount(text.Length)) + 4 * 8 + 1;

    private static int Start(Span<byte> head, byte domain, string componentId, long seq)
    {
        head[0] = Marker;
        head[1] = domain;
        var n = Text(head, 2, componentId);
        return Int64(head, n, seq);
    }

    /// <summary>The CRC of the head, the inner length, then the inner bytes.</summary>
    private static uint Compute(Span<byte> head, int n, ReadOnlySpan<byte> inner)
    {
        n = Int64(head, n, inner.Length);
        var crc = t_crc ??= new Crc32(Crc32ParameterSet.Crc32C);
        crc.Reset();
        crc.Append(head[..n]);
        crc.Append(inner);
        return crc.GetCurrentHashAsUInt32();
    }

    private static int Int64(Span<byte> head, int n, long value)
    {
        BinaryPrimitives.WriteInt64LittleEndian(head[n..], value);
        return n + 8;
    }

    // Length-prefixed, so no two (id, request id) pairs feed the same bytes.
    private static int Text(Span<byte> head, int n, string text)
    {
        var length = Encoding.UTF8.GetBytes(text, head[(n + 8)..]);
        BinaryPrimitives.WriteInt64LittleEndian(head[n..], length);
        return n + 8 + length;
    }
}
