namespace Middleware.Grains;

/// <summary>
/// The address of a virtual component: its type name and a string key, written <c>Type/key</c>.
/// A component always exists; at most one physical activation serves it at a time.
/// </summary>
public readonly record struct ComponentId
{
    /// <summary>Creates an id, rejecting empty parts, a type name that contains '/', and U+0000 (NUL) anywhere.</summary>
    public ComponentId(string type, string key)
    {
        if (string.IsNullOrWhiteSpace(type))
            throw new ArgumentException("A component type name must not be empty.", nameof(type));
        if (type.Contains('/'))
            throw new ArgumentException($"A component type name must not contain '/': '{type}'.", nameof(type));
        ArgumentNullException.ThrowIfNull(key);
        if (key.Length == 0)
            throw new ArgumentException("A component key must not be empty.", nameof(key));
        // Stores keep ids as C strings (SQLite binds text up to the first NUL): "a\0x" would be the component "a".
        if (type.Contains('\0') || key.Contains('\0'))
            throw new ArgumentException($"A component id must not contain U+0000 (NUL): '{type}/{key.Replace("\0", "\\0", StringComparison.Ordinal)}'; a store would cut it there and two components would share one log. Encode binary keys (for example as Base64url).", nameof(key));
        Type = type;
        Key = key;
    }

    /// <summary>The component type name (by default the interface name without its leading 'I').</summary>
    public string Type { get; }

    /// <summary>The key that tells components of one type apart.</summary>
    public string Key { get; }

    /// <summary>Parses <c>Type/key</c>; the key may itself contain '/'.</summary>
    public static ComponentId Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var slash = text.IndexOf('/');
        if (slash <= 0 || slash == text.Length - 1)
            throw new FormatException($"'{text}' is not a component id; write it as Type/key, for example Account/alice.");
        return new ComponentId(text[..slash], text[(slash + 1)..]);
    }

    /// <inheritdoc />
    public override string ToString() => $"{Type}/{Key}";
}
