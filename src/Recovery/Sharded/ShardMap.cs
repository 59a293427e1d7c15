using System.Globalization;
using System.Text;

namespace Middleware.Recovery.Sharded;

/// <summary>
/// The map of a sharded store (<see cref="ShardedLogStore"/>): which shard holds a component, and the marker every shard
/// keeps so that a restart with a different shard list is refused instead of silently remapping components (which would
/// lose them: a component looked up in the wrong shard looks new).
/// </summary>
/// <remarks>
/// The map is a stable hash, fixed forever for version 1: FNV-1a (64 bit) of the component id's UTF-8 bytes, modulo the
/// shard count. It depends on nothing but the id and the count, so every silo and tool computes the same shard without
/// reading anything, and the count is recorded in the first shard. The marker is a component row of its own in every
/// shard, <see cref="MarkerId"/> (not of the form <c>Type/key</c>, so no component can have it), claimed once at epoch 1
/// with the shard's descriptor as its owner: <c>mw-sharded v1 set=SET shard=K count=N map=fnv1a64</c>. A claim from
/// epoch 0 succeeds once, so two processes creating the store at once agree on one set id.
/// </remarks>
public static class ShardMap
{
    /// <summary>The id of the marker row each shard keeps; hidden from the sharded store's listings.</summary>
    public const string MarkerId = "$mw-shard-map";

    /// <summary>The map's version: the hash function and the descriptor format. A store of another version is refused.</summary>
    public const int Version = 1;

    /// <summary>The hash function's name as recorded in the descriptor.</summary>
    public const string HashName = "fnv1a64";

    private const string Prefix = "mw-sharded v1 ";

    /// <summary>The shard (0..<paramref name="shardCount"/>-1) of <paramref name="componentId"/>; 0 for a null id (the shard then refuses it).</summary>
    public static int ShardOf(string? componentId, int shardCount)
    {
        if (shardCount <= 1 || componentId is null) return 0;
        return (int)(Hash(componentId) % (ulong)shardCount);
    }

    /// <summary>FNV-1a, 64 bit, of the UTF-8 bytes of <paramref name="text"/>: the stable hash of map version 1.</summary>
    public static ulong Hash(string text)
    {
        const ulong offset = 14695981039346656037UL;
        const ulong prime = 1099511628211UL;
        var hash = offset;
        Span<byte> buffer = stackalloc byte[4];
        foreach (var rune in text.EnumerateRunes())
        {
            var n = rune.EncodeToUtf8(buffer);
            for (var i = 0; i < n; i++)
            {
                hash ^= buffer[i];
                hash *= prime;
            }
        }

        return hash;
    }

    /// <summary>The descriptor shard <paramref name="index"/> of <paramref name="count"/> in set <paramref name="setId"/> keeps.</summary>
    public static string Descriptor(string setId, int index, int count) =>
        string.Create(CultureInfo.InvariantCulture, $"{Prefix}set={setId} shard={index} count={count} map={HashName}");

    /// <summary>Parses a descriptor; null when <paramref name="descriptor"/> is not one of version 1.</summary>
    public static (string SetId, int Index, int Count)? Parse(string? descriptor)
    {
        if (descriptor is null || !descriptor.StartsWith(Prefix, StringComparison.Ordinal)) return null;
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var part in descriptor[Prefix.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0) fields[part[..eq]] = part[(eq + 1)..];
        }

        if (!fields.TryGetValue("set", out var set) || !fields.TryGetValue("map", out var map) || map != HashName ||
            !fields.TryGetValue("shard", out var s) || !int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var index) ||
            !fields.TryGetValue("count", out var c) || !int.TryParse(c, NumberStyles.None, CultureInfo.InvariantCulture, out var count))
        {
            return null;
        }

        return (set, index, count);
    }

    /// <summary>Plain words for a descriptor in an error message.</summary>
    internal static string Describe(string? descriptor) =>
        Parse(descriptor) is { } d
            ? string.Create(CultureInfo.InvariantCulture, $"shard {d.Index} of {d.Count} of sharded store set {d.SetId}")
            : $"an unreadable shard map marker ('{Truncate(descriptor)}')";

    private static string Truncate(string? text) =>
        text is null ? "" : text.Length <= 80 ? text : new StringBuilder(text, 0, 80, 83).Append("...").ToString();
}
