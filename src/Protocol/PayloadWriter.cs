using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Middleware.Protocol;

/// <summary>
/// Writes payload fields into an <see cref="IBufferWriter{T}"/> (a <c>PipeWriter</c> in practice), asking it for memory
/// only when the current span is full. <see cref="Flush"/> commits what was written.
/// </summary>
public ref struct PayloadWriter(IBufferWriter<byte> output)
{
    private readonly IBufferWriter<byte> _output = output;
    private Span<byte> _span;
    private int _buffered;

    /// <summary>The encoded size of a varint.</summary>
    public static int SizeOfVarUInt32(uint value) => value < 1u << 7 ? 1 : value < 1u << 14 ? 2 : value < 1u << 21 ? 3 : value < 1u << 28 ? 4 : 5;

    /// <summary>The encoded size of a varint-prefixed string.</summary>
    public static int SizeOfString(string value)
    {
        var n = Encoding.UTF8.GetByteCount(value);
        return SizeOfVarUInt32((uint)n) + n;
    }

    /// <summary>The encoded size of an optional string (null is one byte).</summary>
    public static int SizeOfOptionalString(string? value)
    {
        if (value is null) return 1;
        var n = Encoding.UTF8.GetByteCount(value);
        return SizeOfVarUInt32((uint)n + 1) + n;
    }

    /// <summary>The encoded size of a varint-prefixed byte array.</summary>
    public static int SizeOfBytes(int length) => SizeOfVarUInt32((uint)length) + length;

    /// <summary>Writes one byte.</summary>
    public void WriteByte(byte value)
    {
        Ensure(1);
        _span[_buffered++] = value;
    }

    /// <summary>Writes a little-endian 16-bit number.</summary>
    public void WriteUInt16(ushort value)
    {
        Ensure(2);
        BinaryPrimitives.WriteUInt16LittleEndian(_span[_buffered..], value);
        _buffered += 2;
    }

    /// <summary>Writes a little-endian 32-bit number.</summary>
    public void WriteUInt32(uint value)
    {
        Ensure(4);
        BinaryPrimitives.WriteUInt32LittleEndian(_span[_buffered..], value);
        _buffered += 4;
    }

    /// <summary>Writes a little-endian 64-bit number.</summary>
    public void WriteUInt64(ulong value)
    {
        Ensure(8);
        BinaryPrimitives.WriteUInt64LittleEndian(_span[_buffered..], value);
        _buffered += 8;
    }

    /// <summary>Writes an unsigned LEB128 varint.</summary>
    public void WriteVarUInt32(uint value)
    {
        Ensure(5);
        while (value >= 0x80)
        {
            _span[_buffered++] = (byte)(value | 0x80);
            value >>= 7;
        }

        _span[_buffered++] = (byte)value;
    }

    /// <summary>Writes a varint-prefixed byte array.</summary>
    public void WriteBytes(ReadOnlySpan<byte> value)
    {
        WriteVarUInt32((uint)value.Length);
        WriteRaw(value);
    }

    /// <summary>Writes bytes without a prefix.</summary>
    public void WriteRaw(ReadOnlySpan<byte> value)
    {
        if (value.Length <= _span.Length - _buffered)
        {
            value.CopyTo(_span[_buffered..]);
            _buffered += value.Length;
            return;
        }

        // Larger than the span at hand: let the output chunk it rather than asking for one huge block.
        Flush();
        _output.Write(value);
    }

    /// <summary>Writes a varint-prefixed UTF-8 string.</summary>
    public void WriteString(string value)
    {
        var n = Encoding.UTF8.GetByteCount(value);
        WriteVarUInt32((uint)n);
        WriteUtf8(value, n);
    }

    /// <summary>Writes an optional string: varint 0 for null, n + 1 then the bytes otherwise.</summary>
    public void WriteOptionalString(string? value)
    {
        if (value is null)
        {
            WriteVarUInt32(0);
            return;
        }

        var n = Encoding.UTF8.GetByteCount(value);
        WriteVarUInt32((uint)n + 1);
        WriteUtf8(value, n);
    }

    /// <summary>Commits the bytes written so far to the output.</summary>
    public void Flush()
    {
        if (_buffered > 0) _output.Advance(_buffered);
        _buffered = 0;
        _span = default;
    }

    private void WriteUtf8(string value, int byteCount)
    {
        Ensure(byteCount);
        _buffered += Encoding.UTF8.GetBytes(value, _span[_buffered..]);
    }

    private void Ensure(int count)
    {
        if (_span.Length - _buffered >= count) return;
        Flush();
        // Ask for a reasonable block so small fields share one span; the output may give more.
        _span = _output.GetSpan(Math.Max(count, 512));
    }
}
