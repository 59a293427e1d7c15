using System.Text;
using Middleware.Core;

namespace Middleware.Recovery.Log;

/// <summary>
/// Encodes turn records and replies into the compact, versioned payloads the log stores. Format version 1:
/// a version byte, then fields in a fixed order with varint lengths (see src/Recovery/README.md). A payload
/// with an unknown version is refused with a message that names it, never guessed at.
/// </summary>
public static class RecordCodec
{
    /// <summary>The payload format version this code writes (it also reads version 1).</summary>
    public const byte TurnFormatVersion = 2;

    /// <summary>The reply format version this code writes.</summary>
    public const byte ReplyFormatVersion = 1;

    /// <summary>The fence payload format version this code writes and reads.</summary>
    public const byte FenceFormatVersion = 1;

    /// <summary>The control payload format version this code writes and reads.</summary>
    public const byte ControlFormatVersion = 1;

    private const byte ReplyOk = 0;
    private const byte ReplyError = 1;

    // An error with its exception's data (added within turn format 2 and reply format 1): only errors that have data
    // use it, so every other record is byte for byte what earlier builds wrote and read.
    private const byte ReplyErrorWithData = 2;

    /// <summary>Encodes a turn record.</summary>
    public static byte[] EncodeTurn(TurnRecord turn) =>
        EncodeTurn(turn.RequestId, turn.SessionId, turn.Caller, turn.Method, turn.Args.Span, turn.Values, turn.TurnSeq, turn.Outbound, turn.IsPartial, turn.Reply);

    /// <summary>
    /// Encodes a turn record from its fields (the live turn's path: no <see cref="TurnRecord"/> object, no copy of its
    /// value list). The size is computed first, so the payload is one array of exactly its length: no growing, no final
    /// copy.
    /// </summary>
    internal static byte[] EncodeTurn(string requestId, string? sessionId, string? caller, string method, ReadOnlySpan<byte> args,
        IReadOnlyList<RecordedValue> values, long turnSeq, IReadOnlyList<OutboundCall> outbound, bool partial, ComponentReply reply) =>
        EncodeTurn(requestId, sessionId, caller, method, args, values, turnSeq, outbound, partial, reply, room: 0);

    /// <summary>
    /// Encodes a turn record after <paramref name="room"/> reserved bytes: the array is <paramref name="room"/> bytes longer
    /// than the payload, which starts at that offset. The live turn's final record reserves
    /// <see cref="RecordChecksum.HeaderLength"/>, so the store's seal writes its header in front instead of copying the
    /// payload (<see cref="LogRecord.SealRoom"/>).
    /// </summary>
    internal static byte[] EncodeTurn(string requestId, string? sessionId, string? caller, string method, ReadOnlySpan<byte> args,
        IReadOnlyList<RecordedValue> values, long turnSeq, IReadOnlyList<OutboundCall> outbound, bool partial, ComponentReply reply, int room)
    {
        var size = 2 + SizeOfString(requestId) + SizeOfNullableString(sessionId) + SizeOfNullableString(caller) + SizeOfString(method)
            + SizeOfBytes(args.Length) + SizeOfVarUInt((ulong)values.Count) + SizeOfVarInt(turnSeq) + SizeOfVarUInt((ulong)outbound.Count);
        for (var i = 0; i < values.Count; i++) size += SizeOfValue(values[i]);
        for (var i = 0; i < outbound.Count; i++)
        {
            var call = outbound[i];
            size += SizeOfVarUInt((ulong)call.Ordinal) + 1 + SizeOfString(call.Target) + SizeOfString(call.RequestId) + SizeOfString(call.Operation)
                + SizeOfBytes(call.Args.Length) + SizeOfReply(call.Outcome);
        }

        if (!partial) size += SizeOfReply(reply);
        var w = new Writer(size, room);
        w.Byte(TurnFormatVersion);
        w.Byte(partial ? (byte)1 : (byte)0);
        w.String(requestId);
        w.NullableString(sessionId);
        w.NullableString(caller);
        w.String(method);
        w.Bytes(args);
        w.VarUInt((ulong)values.Count);
        for (var i = 0; i < values.Count; i++)
        {
            var v = values[i];
            w.Byte((byte)v.Kind);
            switch (v.Kind)
            {
                case NondeterminismKind.Guid:
                    w.Guid(v.GuidValue);
                    break;
                case NondeterminismKind.BackendRead:
                    w.Bytes(v.Bytes.Span);
                    break;
                case NondeterminismKind.SessionItem:
                    w.VarInt(v.Value);
                    w.Bytes(v.Bytes.Span);
                    break;
                default:
                    w.VarInt(v.Value);
                    break;
            }
        }

        w.VarInt(turnSeq);
        w.VarUInt((ulong)outbound.Count);
        for (var i = 0; i < outbound.Count; i++)
        {
            var call = outbound[i];
            w.VarUInt((ulong)call.Ordinal);
            w.Byte((byte)call.Kind);
            w.String(call.Target);
            w.String(call.RequestId);
            w.String(call.Operation);
            w.Bytes(call.Args.Span);
            WriteReply(ref w, call.Outcome);
        }

        if (!partial) WriteReply(ref w, reply);
        return w.ToArray();
    }

    /// <summary>Decodes a turn record; throws <see cref="InvalidDataException"/> naming the problem.</summary>
    public static TurnRecord DecodeTurn(ReadOnlyMemory<byte> payload)
    {
        var r = new Reader(payload);
        var version = r.Byte();
        if (version is not (1 or TurnFormatVersion))
            throw new InvalidDataException($"Turn record format version {version} is not supported by this build (it reads versions 1 and {TurnFormatVersion}); upgrade the middleware to read this log.");
        var partial = version >= 2 && (r.Byte() & 1) != 0;
        var requestId = r.String();
        var sessionId = r.NullableString();
        var caller = r.NullableString();
        var method = r.String();
        var args = r.Bytes();
        var count = (int)r.VarUInt();
        var values = count == 0 ? Array.Empty<RecordedValue>() : new RecordedValue[count];
        for (var i = 0; i < count; i++)
        {
            var kind = (NondeterminismKind)r.Byte();
            values[i] = kind switch
            {
                NondeterminismKind.Guid => new RecordedValue(kind, 0, r.Guid()),
                NondeterminismKind.UtcNow or NondeterminismKind.RandomSeed => new RecordedValue(kind, r.VarInt()),
                NondeterminismKind.BackendRead when version >= 2 => new RecordedValue(kind, 0, default, r.Bytes()),
                NondeterminismKind.SessionItem when version >= 2 => new RecordedValue(kind, r.VarInt(), default, r.Bytes()),
                _ => throw new InvalidDataException($"Unknown nondeterminism kind {(byte)kind} in turn record {requestId}."),
            };
        }

        long turnSeq = 0;
        if (version >= 2) turnSeq = r.VarInt();
        var outboundCount = (int)r.VarUInt();
        if (outboundCount != 0 && version < 2)
            throw new InvalidDataException($"Turn record {requestId} (format version 1) has outbound calls, which version 1 does not define.");
        var outbound = outboundCount == 0 ? Array.Empty<OutboundCall>() : new OutboundCall[outboundCount];
        for (var i = 0; i < outboundCount; i++)
        {
            var ordinal = (int)r.VarUInt();
            var kind = (OutboundKind)r.Byte();
            if (kind is not (OutboundKind.Backend or OutboundKind.Component))
                throw new InvalidDataException($"Unknown outbound call kind {(byte)kind} in turn record {requestId}.");
            outbound[i] = new OutboundCall(ordinal, kind, r.String(), r.String(), r.String(), r.Bytes(), ReadReply(ref r));
        }

        var reply = partial ? ComponentReply.Void : ReadReply(ref r);
        return new TurnRecord(requestId, sessionId, caller, method, args, values, reply) { TurnSeq = turnSeq, Outbound = outbound, IsPartial = partial };
    }

    /// <summary>Encodes a fence record (the payload of a <see cref="RecordKind.Fence"/> row).</summary>
    public static byte[] EncodeFence(FenceRecord fence)
    {
        var w = new Writer(8 + fence.RequestId.Length);
        w.Byte(FenceFormatVersion);
        w.String(fence.RequestId);
        return w.ToArray();
    }

    /// <summary>Decodes a fence record; throws <see cref="InvalidDataException"/> naming an unknown version.</summary>
    public static FenceRecord DecodeFence(ReadOnlyMemory<byte> payload)
    {
        var r = new Reader(payload);
        var version = r.Byte();
        if (version != FenceFormatVersion)
            throw new InvalidDataException($"Fence record format version {version} is not supported by this build (it reads version {FenceFormatVersion}); upgrade the middleware to read this log.");
        return new FenceRecord(r.String());
    }

    /// <summary>Encodes a control record (the payload of a <see cref="RecordKind.Control"/> row).</summary>
    public static byte[] EncodeControl(ControlRecord control)
    {
        var w = new Writer(32 + control.Reason.Length + control.By.Length);
        w.Byte(ControlFormatVersion);
        w.Byte((byte)control.Action);
        w.String(control.By);
        w.String(control.Reason);
        w.VarUInt((ulong)control.AtTicks);
        w.NullableString(control.CodeVersion);
        w.VarUInt((ulong)control.Seq);
        return w.ToArray();
    }

    /// <summary>Decodes a control record; throws <see cref="InvalidDataException"/> naming an unknown version or action.</summary>
    public static ControlRecord DecodeControl(ReadOnlyMemory<byte> payload)
    {
        var r = new Reader(payload);
        var version = r.Byte();
        if (version != ControlFormatVersion)
            throw new InvalidDataException($"Control record format version {version} is not supported by this build (it reads version {ControlFormatVersion}); upgrade the middleware to read this log.");
        var action = (ControlAction)r.Byte();
        if (!Enum.IsDefined(action))
            throw new InvalidDataException($"Control record action {(byte)action} is not known to this build; upgrade the middleware to read this log.");
        return new ControlRecord(action, r.String(), r.String(), (long)r.VarUInt(), r.NullableString(), (long)r.VarUInt());
    }

    /// <summary>Encodes a reply on its own (for the dedup table).</summary>
    public static byte[] EncodeReply(ComponentReply reply)
    {
        var w = new Writer(1 + SizeOfReply(reply));
        w.Byte(ReplyFormatVersion);
        WriteReply(ref w, reply);
        return w.ToArray();
    }

    /// <summary>Decodes a reply written by <see cref="EncodeReply"/>.</summary>
    public static ComponentReply DecodeReply(ReadOnlyMemory<byte> payload)
    {
        var r = new Reader(payload);
        var version = r.Byte();
        if (version != ReplyFormatVersion)
            throw new InvalidDataException($"Reply format version {version} is not supported by this build (it reads version {ReplyFormatVersion}).");
        return ReadReply(ref r);
    }

    private static int SizeOfVarUInt(ulong value)
    {
        var n = 1;
        while (value >= 0x80)
        {
            value >>= 7;
            n++;
        }

        return n;
    }

    private static int SizeOfVarInt(long value) => SizeOfVarUInt((ulong)((value << 1) ^ (value >> 63)));

    private static int SizeOfBytes(int length) => SizeOfVarUInt((ulong)length) + length;

    private static int SizeOfString(string s) => SizeOfBytes(Encoding.UTF8.GetByteCount(s));

    private static int SizeOfNullableString(string? s) => s is null ? 1 : 1 + SizeOfString(s);

    private static int SizeOfValue(RecordedValue v) => 1 + v.Kind switch
    {
        NondeterminismKind.Guid => 16,
        NondeterminismKind.BackendRead => SizeOfBytes(v.Bytes.Length),
        NondeterminismKind.SessionItem => SizeOfVarInt(v.Value) + SizeOfBytes(v.Bytes.Length),
        _ => SizeOfVarInt(v.Value),
    };

    private static int SizeOfReply(ComponentReply reply) => reply.IsError
        ? 1 + SizeOfString(reply.ErrorType!) + SizeOfString(reply.ErrorMessage ?? string.Empty) + (reply.ErrorData.IsEmpty ? 0 : SizeOfBytes(reply.ErrorData.Length))
        : 1 + SizeOfBytes(reply.Result.Length);

    private static void WriteReply(ref Writer w, ComponentReply reply)
    {
        if (reply.IsError)
        {
            w.Byte(reply.ErrorData.IsEmpty ? ReplyError : ReplyErrorWithData);
            w.String(reply.ErrorType!);
            w.String(reply.ErrorMessage ?? string.Empty);
            if (!reply.ErrorData.IsEmpty) w.Bytes(reply.ErrorData.Span);
        }
        else
        {
            w.Byte(ReplyOk);
            w.Bytes(reply.Result.Span);
        }
    }

    private static ComponentReply ReadReply(ref Reader r)
    {
        var tag = r.Byte();
        return tag switch
        {
            ReplyOk => new ComponentReply(r.Bytes()),
            ReplyError => new ComponentReply(ReadOnlyMemory<byte>.Empty, r.String(), r.String()),
            ReplyErrorWithData => new ComponentReply(ReadOnlyMemory<byte>.Empty, r.String(), r.String()) { ErrorData = r.Bytes() },
            _ => throw new InvalidDataException($"Unknown reply tag {tag}; the record was written by a newer build, upgrade the middleware to read it."),
        };
    }

    private struct Writer(int capacity, int room = 0)
    {
        // The first `room` bytes are left for the caller (zero for every payload but the live turn's final record).
        private byte[] _buffer = new byte[room + capacity];
        private int _length = room;

        public void Byte(byte b)
        {
            Ensure(1);
            _buffer[_length++] = b;
        }

        public void VarUInt(ulong value)
        {
            Ensure(SizeOfVarUInt(value));
            while (value >= 0x80)
            {
                _buffer[_length++] = (byte)(value | 0x80);
                value >>= 7;
            }

            _buffer[_length++] = (byte)value;
        }

        public void VarInt(long value) => VarUInt((ulong)((value << 1) ^ (value >> 63)));

        public void Bytes(ReadOnlySpan<byte> bytes)
        {
            VarUInt((ulong)bytes.Length);
            Ensure(bytes.Length);
            bytes.CopyTo(_buffer.AsSpan(_length));
            _length += bytes.Length;
        }

        public void String(string s)
        {
            var n = Encoding.UTF8.GetByteCount(s);
            VarUInt((ulong)n);
            Ensure(n);
            _length += Encoding.UTF8.GetBytes(s, _buffer.AsSpan(_length));
        }

        public void NullableString(string? s)
        {
            if (s is null)
            {
                Byte(0);
                return;
            }

            Byte(1);
            String(s);
        }

        public void Guid(Guid g)
        {
            Ensure(16);
            g.TryWriteBytes(_buffer.AsSpan(_length));
            _length += 16;
        }

        /// <summary>The bytes written: the buffer itself when it was sized exactly (the turn path), else a copy.</summary>
        public readonly byte[] ToArray() => _length == _buffer.Length ? _buffer : _buffer.AsSpan(0, _length).ToArray();

        private void Ensure(int more)
        {
            if (_length + more > _buffer.Length)
                Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + more));
        }
    }

    private ref struct Reader(ReadOnlyMemory<byte> memory)
    {
        private readonly ReadOnlyMemory<byte> _memory = memory;
        private int _pos;

        public byte Byte()
        {
            if (_pos >= _memory.Length) throw Truncated();
            return _memory.Span[_pos++];
        }

        public ulong VarUInt()
        {
            ulong result = 0;
            var shift = 0;
            while (true)
            {
                var b = Byte();
                result |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80) return result;
                shift += 7;
                if (shift > 63) throw new InvalidDataException("Malformed varint in log record.");
            }
        }

        public long VarInt()
        {
            var u = VarUInt();
            return (long)(u >> 1) ^ -(long)(u & 1);
        }

        public ReadOnlyMemory<byte> Bytes()
        {
            var n = (int)VarUInt();
            if (n < 0 || _pos + n > _memory.Length) throw Truncated();
            var slice = _memory.Slice(_pos, n);
            _pos += n;
            return slice;
        }

        public string String() => Encoding.UTF8.GetString(Bytes().Span);

        public string? NullableString() => Byte() == 0 ? null : String();

        public Guid Guid()
        {
            if (_pos + 16 > _memory.Length) throw Truncated();
            var g = new Guid(_memory.Span.Slice(_pos, 16));
            _pos += 16;
            return g;
        }

        private static InvalidDataException Truncated() => new("Log record is truncated or corrupt.");
    }

}
