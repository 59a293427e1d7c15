namespace Middleware.Protocol;

/// <summary>
/// The few strings a connection sends again and again (a request's component type, method and session id), kept as the
/// UTF-8 bytes they arrived as and the string decoded from them, so a repeat is one byte comparison and no new string
/// (issue 18: these were ~80-170 bytes of garbage per request in a silo). One per connection's read loop: not thread-safe.
/// A field that misses fills its slots round robin; only short strings are kept. Every kept string was decoded from bytes
/// that passed the reader's UTF-8 check, so a hit is as valid as a fresh decode.
/// </summary>
public sealed class RecentStrings
{
    /// <summary>Strings longer than this many UTF-8 bytes are decoded every time.</summary>
    public const int MaxBytes = 96;

    private const int SlotsPerField = 4;

    private readonly Slot[] _slots = new Slot[FieldCount * SlotsPerField];
    private readonly int[] _next = new int[FieldCount];

    internal const int TypeField = 0, MethodField = 1, SessionField = 2;
    private const int FieldCount = 3;

    internal bool TryGet(int field, ReadOnlySpan<byte> utf8, out string value)
    {
        var start = field * SlotsPerField;
        for (var i = start; i < start + SlotsPerField; i++)
        {
            var slot = _slots[i];
            if (slot.Bytes is { } bytes && utf8.SequenceEqual(bytes))
            {
                value = slot.Value!;
                return true;
            }
        }

        value = "";
        return false;
    }

    internal void Add(int field, ReadOnlySpan<byte> utf8, string value)
    {
        if (utf8.Length > MaxBytes) return;
        var next = _next[field];
        _slots[field * SlotsPerField + next] = new Slot(utf8.ToArray(), value);
        _next[field] = (next + 1) % SlotsPerField;
    }

    private readonly record struct Slot(byte[]? Bytes, string? Value);
}
