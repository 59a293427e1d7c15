using System.Buffers;
using System.Text;
using System.Text.Unicode;

namespace Middleware.Protocol;

/// <summary>
/// Reads the fields of a payload. Every method returns false instead of throwing when the bytes are short or invalid,
/// and no length read from the wire is trusted beyond the bytes actually present, so a declared length of 4 GiB
/// allocates nothing.
/// </summary>
public ref struct PayloadReader(ReadOnlySequence<byte> payload)
{
    private SequenceReader<byte> _reader = new(payload);

    /// <summary>Bytes not read yet.</summary>
    public readonly long Remaining => _reader.Remaining;

    /// <summary>True when every byte was read; decoders require it so trailing garbage is refused.</summary>
    public readonly bool End => _reader.End;

    /// <summary>Reads one byte.</summary>
    public bool TryReadByte(out byte value) => _reader.TryRead(out value);

    /// <summary>Reads a little-endian 16-bit number.</summary>
    public bool TryReadUInt16(out ushort value)
    {
        if (_reader.TryReadLittleEndian(out short raw))
        {
            value = unchecked((ushort)raw);
            return true;
        }

        value = 0;
        return false;
    }

    /// <summary>Reads a little-endian 32-bit number.</summary>
    public bool TryReadUInt32(out uint value)
    {
        if (_reader.TryReadLittleEndian(out int raw))
        {
            value = unchecked((uint)raw);
            return true;
        }

        value = 0;
        return false;
    }

    /// <summary>Reads an unsigned LEB128 varint of at most 5 bytes; an overlong or overflowing encoding is refused.</summary>
    public bool TryReadVarUInt32(out uint value)
    {
        value = 0;
        for (var shift = 0; shift < 35; shift += 7)
        {
            if (!_reader.TryRead(out var b)) return false;
            if (shift == 28 && b > 0x0F) return false;
            value |= (uint)(b & 0x7F) << shift;
            if (b < 0x80) return true;
        }

        return false;
    }

    /// <summary>Reads a varint-prefixed byte array into a new array of exactly that size.</summary>
    public bool TryReadBytes(out byte[] value)
    {
        value = [];
        if (!TryReadVarUInt32(out var length) || length > _reader.Remaining) return false;
        if (length == 0) return true;
        value = new byte[length];
        return _reader.TryCopyTo(value) && Skip(length);
    }

    /// <summary>Reads a varint-prefixed UTF-8 string; invalid UTF-8 is refused.</summary>
    public bool TryReadString(out string value)
    {
        value = "";
        return TryReadVarUInt32(out var length) && TryReadUtf8(length, out value);
    }

    /// <summary>
    /// Reads a string like <see cref="TryReadString(out string)"/>, taking it from <paramref name="recent"/> when the same
    /// bytes came before in <paramref name="field"/> (and remembering it there otherwise).
    /// </summary>
    internal bool TryReadString(out string value, RecentStrings? recent, int field)
    {
        value = "";
        return TryReadVarUInt32(out var length) && TryReadUtf8(length, out value, recent, field);
    }

    /// <summary>Reads an optional string, like <see cref="TryReadString(out string, RecentStrings?, int)"/>.</summary>
    internal bool TryReadOptionalString(out string? value, RecentStrings? recent, int field)
    {
        value = null;
        if (!TryReadVarUInt32(out var prefix)) return false;
        if (prefix == 0) return true;
        var ok = TryReadUtf8(prefix - 1, out var s, recent, field);
        value = s;
        return ok;
    }

    /// <summary>Reads an optional string: varint 0 is null, n is a string of n - 1 UTF-8 bytes.</summary>
    public bool TryReadOptionalString(out string? value)
    {
        value = null;
        if (!TryReadVarUInt32(out var prefix)) return false;
        if (prefix == 0) return true;
        var ok = TryReadUtf8(prefix - 1, out var s);
        value = s;
        return ok;
    }

    /// <summary>Reads exactly as many bytes as <paramref name="destination"/> holds.</summary>
    public bool TryReadExact(scoped Span<byte> destination) => _reader.TryCopyTo(destination) && Skip((uint)destination.Length);

    private bool TryReadUtf8(uint length, out string value, RecentStrings? recent = null, int field = 0)
    {
        value = "";
        if (length > _reader.Remaining) return false;
        if (length == 0) return true;
        var unread = _reader.UnreadSpan;
        if (unread.Length >= length)
        {
            var bytes = unread[..(int)length];
            if (recent is not null && recent.TryGet(field, bytes, out value)) return Skip(length);
            if (!Utf8.IsValid(bytes)) return false;
            value = Encoding.UTF8.GetString(bytes);
            recent?.Add(field, bytes, value);
            return Skip(length);
        }

        // The string straddles buffer segments: copy it once into pooled memory.
        var rented = ArrayPool<byte>.Shared.Rent((int)length);
        try
        {
            var span = rented.AsSpan(0, (int)length);
            if (!_reader.TryCopyTo(span) || !Utf8.IsValid(span)) return false;
            value = Encoding.UTF8.GetString(span);
            return Skip(length);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private bool Skip(uint count)
    {
        _reader.Advance(count);
        return true;
    }
}
