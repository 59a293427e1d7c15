using System.Buffers.Binary;
using System.Text;

namespace Middleware.Protocol.Control;

/// <summary>One durable log record as an owner ships it to a mirror (the store's columns and the opaque payload).</summary>
/// <param name="Seq">The record's seq.</param>
/// <param name="Epoch">The epoch it was written under.</param>
/// <param name="Kind">The record kind byte (turn, partial turn, fence, control).</param>
/// <param name="Payload">The encoded record, as stored.</param>
public sealed record ShippedRecord(long Seq, long Epoch, byte Kind, ReadOnlyMemory<byte> Payload);

/// <summary>What one component's owner made durable since its last shipment.</summary>
/// <param name="ComponentId">The component, <c>Type/key</c>.</param>
/// <param name="Records">Consecutive durable records (may be empty: a checkpoint alone, or only a head).</param>
/// <param name="CheckpointSeq">The seq of a checkpoint made durable with them, or 0.</param>
/// <param name="CheckpointHash">That checkpoint's state hash, or null.</param>
/// <param name="Head">A seq the log is known to have reached (records dropped on overflow: catch up from the store), or 0.</param>
public sealed record ShippedComponent(string ComponentId, IReadOnlyList<ShippedRecord> Records, long CheckpointSeq, string? CheckpointHash, long Head)
{
    /// <summary>A <see cref="Head"/> asking the mirror to catch up to whatever the store holds (a new mirror bootstrapping).</summary>
    public const long StoreHead = -1;
}

/// <summary>
/// The argument of <c>$mirror.ship</c>: records an owner silo ships to the silo that mirrors their components, sent by
/// silos only. Binary (records hold binary payloads): version byte 1, the sender's silo id, the send time (UTC ticks),
/// then per component its id, head, checkpoint seq and hash, and its records (seq, epoch, kind, payload), with
/// little-endian fixed-width integers and UTF-8 strings prefixed by their byte length. The reply is
/// <see cref="MirrorAck"/>.
/// </summary>
/// <param name="FromSilo">The owner silo's id.</param>
/// <param name="SentAtTicks">When the owner sent it (UTC ticks), for the lag the mirror reports.</param>
/// <param name="Components">What each component's owner made durable.</param>
public sealed record MirrorShipment(string FromSilo, long SentAtTicks, IReadOnlyList<ShippedComponent> Components)
{
    private const byte Version = 1;

    /// <summary>The encoded form.</summary>
    public byte[] Encode()
    {
        var size = 1 + StringSize(FromSilo) + 8 + 4;
        foreach (var c in Components)
        {
            size += StringSize(c.ComponentId) + 8 + 8 + StringSize(c.CheckpointHash ?? "") + 4;
            foreach (var r in c.Records) size += 8 + 8 + 1 + 4 + r.Payload.Length;
        }

        var bytes = new byte[size];
        var at = 0;
        bytes[at++] = Version;
        WriteString(bytes, ref at, FromSilo);
        WriteInt64(bytes, ref at, SentAtTicks);
        WriteInt32(bytes, ref at, Components.Count);
        foreach (var c in Components)
        {
            WriteString(bytes, ref at, c.ComponentId);
            WriteInt64(bytes, ref at, c.Head);
            WriteInt64(bytes, ref at, c.CheckpointSeq);
            WriteString(bytes, ref at, c.CheckpointHash ?? "");
            WriteInt32(bytes, ref at, c.Records.Count);
            foreach (var r in c.Records)
            {
                WriteInt64(bytes, ref at, r.Seq);
                WriteInt64(bytes, ref at, r.Epoch);
                bytes[at++] = r.Kind;
                WriteInt32(bytes, ref at, r.Payload.Length);
                r.Payload.Span.CopyTo(bytes.AsSpan(at));
                at += r.Payload.Length;
            }
        }

        return bytes;
    }

    /// <summary>Decodes <paramref name="bytes"/> exactly (no byte left over); a malformed shipment is a <see cref="ControlMessageException"/>.</summary>
    public static MirrorShipment Decode(ReadOnlyMemory<byte> bytes)
    {
        var span = bytes.Span;
        var at = 0;
        try
        {
            if (ReadByte(span, ref at) != Version) throw Malformed("an unknown version");
            var from = ReadString(span, ref at);
            var sent = ReadInt64(span, ref at);
            var count = ReadCount(span, ref at, 1 + 8 + 8 + 1 + 4);
            var components = new List<ShippedComponent>(count);
            for (var i = 0; i < count; i++)
            {
                var id = ReadString(span, ref at);
                var head = ReadInt64(span, ref at);
                var checkpointSeq = ReadInt64(span, ref at);
                var hash = ReadString(span, ref at);
                var records = new List<ShippedRecord>(ReadCount(span, ref at, 8 + 8 + 1 + 4));
                for (var r = records.Capacity; r > 0; r--)
                {
                    var seq = ReadInt64(span, ref at);
                    var epoch = ReadInt64(span, ref at);
                    var kind = ReadByte(span, ref at);
                    var length = ReadCount(span, ref at, 1);
                    records.Add(new ShippedRecord(seq, epoch, kind, bytes.Slice(at, length)));
                    at += length;
                }

                if (id.Length == 0 || head < ShippedComponent.StoreHead || checkpointSeq < 0) throw Malformed("an empty component id or a negative seq");
                components.Add(new ShippedComponent(id, records, checkpointSeq, hash.Length == 0 ? null : hash, head));
            }

            if (at != span.Length) throw Malformed($"{span.Length - at} byte(s) after the last component");
            return new MirrorShipment(from, sent, components);
        }
        catch (Exception e) when (e is ArgumentOutOfRangeException or IndexOutOfRangeException)
        {
            throw Malformed("a truncated shipment");
        }
    }

    private static ControlMessageException Malformed(string what) =>
        new($"{ProtocolConstants.MirrorShip} needs a mirror shipment (version {Version}); this one has {what}");

    private static int StringSize(string value) => 4 + Encoding.UTF8.GetByteCount(value);

    private static void WriteString(byte[] bytes, ref int at, string value)
    {
        var length = Encoding.UTF8.GetBytes(value, bytes.AsSpan(at + 4));
        WriteInt32(bytes, ref at, length);
        at += length;
    }

    private static void WriteInt32(byte[] bytes, ref int at, int value)
    {
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(at), value);
        at += 4;
    }

    private static void WriteInt64(byte[] bytes, ref int at, long value)
    {
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(at), value);
        at += 8;
    }

    private static byte ReadByte(ReadOnlySpan<byte> span, ref int at) => span[at++];

    private static long ReadInt64(ReadOnlySpan<byte> span, ref int at)
    {
        var value = BinaryPrimitives.ReadInt64LittleEndian(span[at..]);
        at += 8;
        return value;
    }

    /// <summary>A count or length that the bytes left can hold (each item at least <paramref name="minItemSize"/> bytes).</summary>
    private static int ReadCount(ReadOnlySpan<byte> span, ref int at, int minItemSize)
    {
        var value = BinaryPrimitives.ReadInt32LittleEndian(span[at..]);
        at += 4;
        if (value < 0 || (long)value * minItemSize > span.Length - at) throw Malformed($"a count of {value} that the {span.Length - at} remaining bytes cannot hold");
        return value;
    }

    private static string ReadString(ReadOnlySpan<byte> span, ref int at)
    {
        var length = ReadCount(span, ref at, 1);
        var value = Encoding.UTF8.GetString(span.Slice(at, length));
        at += length;
        return value;
    }
}

/// <summary>The reply to <c>$mirror.ship</c> (wire form <c>{"applied","diverged","failed"}</c>): how the mirror took it.</summary>
/// <param name="Applied">Components whose records it applied.</param>
/// <param name="Diverged">Components whose standby diverged (now or before).</param>
/// <param name="Failed">Components it could not apply (rebuilt from the store next time).</param>
public sealed record MirrorAck(int Applied, int Diverged, int Failed);

/// <summary>One standby in the reply to <c>$mirror.list</c>.</summary>
/// <param name="Component">The mirrored component.</param>
/// <param name="AppliedSeq">The last seq its standby applied.</param>
/// <param name="Owner">The silo that ships to it.</param>
/// <param name="LastAppliedAt">When it last applied something.</param>
/// <param name="DivergedAtSeq">The seq it diverged at (0: healthy).</param>
public sealed record StandbyReport(string Component, long AppliedSeq, string? Owner, DateTimeOffset LastAppliedAt, long DivergedAtSeq);
