using System.Buffers.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Middleware.Core;

/// <summary>
/// A fast path for the JSON of integer and boolean arguments and results (<c>[5]</c>, <c>42</c>, <c>true</c>): the same
/// bytes <see cref="JsonSerializer"/> writes, produced and read without a serializer, a writer or a buffer of its own. The
/// log keeps one canonical encoding, so nothing that reads it (replay, audit, inspection, <c>mw</c>) changes. A decode
/// takes the fast path only for the exact canonical text; anything else (white space, <c>+</c>, leading zeros, a value out
/// of range) goes to the serializer, which accepts or refuses it as before.
/// </summary>
internal static class PrimitiveJson
{
    private const int MaxText = 20; // long.MinValue / ulong.MaxValue

    /// <summary>Whether <paramref name="type"/> has a fast path.</summary>
    public static bool Handles(Type type) =>
        type == typeof(long) || type == typeof(int) || type == typeof(bool) || type == typeof(short) || type == typeof(byte)
        || type == typeof(ulong) || type == typeof(uint) || type == typeof(ushort) || type == typeof(sbyte);

    /// <summary>
    /// Whether <paramref name="json"/> writes primitives as the serializer's defaults do: no converters of the caller's, numbers
    /// as plain numbers, the built-in resolver. Custom settings take the serializer.
    /// </summary>
    public static bool PlainFor(JsonSerializerOptions json) =>
        json.Converters.Count == 0 && json.NumberHandling == JsonNumberHandling.Strict
        && (json.TypeInfoResolver is null || json.TypeInfoResolver.GetType() == typeof(DefaultJsonTypeInfoResolver));

    /// <summary>Writes <paramref name="value"/> (of a type <see cref="Handles"/> accepts) into <paramref name="destination"/>.</summary>
    public static int Format(object? value, Span<byte> destination)
    {
        int written;
        var ok = value switch
        {
            long v => Utf8Formatter.TryFormat(v, destination, out written),
            int v => Utf8Formatter.TryFormat(v, destination, out written),
            bool v => TryFormatBool(v, destination, out written),
            short v => Utf8Formatter.TryFormat(v, destination, out written),
            byte v => Utf8Formatter.TryFormat(v, destination, out written),
            ulong v => Utf8Formatter.TryFormat(v, destination, out written),
            uint v => Utf8Formatter.TryFormat(v, destination, out written),
            ushort v => Utf8Formatter.TryFormat(v, destination, out written),
            sbyte v => Utf8Formatter.TryFormat(v, destination, out written),
            _ => throw new InvalidOperationException($"no fast JSON path for {value?.GetType().Name ?? "null"}"),
        };
        return ok ? written : throw new InvalidOperationException("fast JSON path: buffer too small");
    }

    /// <summary>The JSON of one value (the whole encoded result).</summary>
    public static byte[] EncodeValue(object? value)
    {
        Span<byte> text = stackalloc byte[MaxText];
        return text[..Format(value, text)].ToArray();
    }

    /// <summary>The JSON array of <paramref name="args"/>, all of types <see cref="Handles"/> accepts.</summary>
    public static byte[] EncodeArray(object?[] args)
    {
        Span<byte> text = stackalloc byte[2 + (args.Length * (MaxText + 1))];
        var n = 0;
        text[n++] = (byte)'[';
        for (var i = 0; i < args.Length; i++)
        {
            if (i > 0) text[n++] = (byte)',';
            n += Format(args[i], text[n..]);
        }

        text[n++] = (byte)']';
        return text[..n].ToArray();
    }

    /// <summary>Reads the canonical JSON of one value of <paramref name="type"/>; false for anything else (the caller then uses the serializer).</summary>
    public static bool TryDecodeValue(ReadOnlySpan<byte> text, Type type, out object? value)
    {
        value = null;
        if (text.IsEmpty || text.Length > MaxText) return false;
        if (type == typeof(bool))
        {
            if (text.SequenceEqual("true"u8)) value = true;
            else if (text.SequenceEqual("false"u8)) value = false;
            return value is not null;
        }

        // Only canonical numbers: an optional '-', then no leading zero (unless the number is 0), digits only.
        var digits = text[0] == (byte)'-' ? text[1..] : text;
        if (digits.IsEmpty || (digits[0] == (byte)'0' && digits.Length > 1) || (text[0] == (byte)'-' && digits.SequenceEqual("0"u8))) return false;
        foreach (var b in digits)
        {
            if (b is < (byte)'0' or > (byte)'9') return false;
        }

        bool ok;
        int consumed;
        if (type == typeof(long)) { ok = Utf8Parser.TryParse(text, out long v, out consumed); value = v; }
        else if (type == typeof(int)) { ok = Utf8Parser.TryParse(text, out int v, out consumed); value = v; }
        else if (type == typeof(short)) { ok = Utf8Parser.TryParse(text, out short v, out consumed); value = v; }
        else if (type == typeof(byte)) { ok = Utf8Parser.TryParse(text, out byte v, out consumed); value = v; }
        else if (type == typeof(ulong)) { ok = Utf8Parser.TryParse(text, out ulong v, out consumed); value = v; }
        else if (type == typeof(uint)) { ok = Utf8Parser.TryParse(text, out uint v, out consumed); value = v; }
        else if (type == typeof(ushort)) { ok = Utf8Parser.TryParse(text, out ushort v, out consumed); value = v; }
        else if (type == typeof(sbyte)) { ok = Utf8Parser.TryParse(text, out sbyte v, out consumed); value = v; }
        else return false;
        if (!ok || consumed != text.Length)
        {
            value = null;
            return false;
        }

        return true;
    }

    /// <summary>Reads the canonical JSON array of <paramref name="types"/>; false for anything else.</summary>
    public static bool TryDecodeArray(ReadOnlySpan<byte> text, Type[] types, object?[] args)
    {
        if (text.Length < 2 || text[0] != (byte)'[' || text[^1] != (byte)']') return false;
        var rest = text[1..^1];
        for (var i = 0; i < types.Length; i++)
        {
            var end = i == types.Length - 1 ? rest.Length : rest.IndexOf((byte)',');
            if (end < 0 || !TryDecodeValue(rest[..end], types[i], out args[i])) return false;
            rest = i == types.Length - 1 ? [] : rest[(end + 1)..];
        }

        return rest.IsEmpty && (types.Length > 0 || text.Length == 2);
    }

    private static bool TryFormatBool(bool value, Span<byte> destination, out int written)
    {
        var text = value ? "true"u8 : "false"u8;
        written = text.Length;
        return text.TryCopyTo(destination);
    }
}
