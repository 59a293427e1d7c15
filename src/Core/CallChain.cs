using System.Text;
using Middleware.Grains;

namespace Middleware.Core;

/// <summary>
/// The chain of components waiting on a call, carried in <see cref="Invocation.Caller"/> (and recorded as the turn's
/// caller): component ids, outermost first. Ids are separated by <c>|</c>; a <c>|</c> or <c>\</c> inside an id (keys are
/// arbitrary strings) is escaped with a backslash, so any id survives <see cref="Parse"/>. A chain of one id without
/// those characters is just that id.
/// </summary>
public static class CallChain
{
    /// <summary>The separator between ids.</summary>
    public const char Separator = '|';

    private const char Escape = '\\';

    /// <summary>The chain <paramref name="chain"/> (null or empty for none) followed by <paramref name="id"/>.</summary>
    public static string Append(string? chain, ComponentId id) => Append(chain, id.ToString());

    /// <summary>The chain <paramref name="chain"/> followed by the id whose text (<c>Type/key</c>) is <paramref name="text"/>.</summary>
    public static string Append(string? chain, string text)
    {
        var escaped = text.AsSpan().IndexOfAny(Separator, Escape) < 0 ? text : EscapeId(text);
        return string.IsNullOrEmpty(chain) ? escaped : string.Concat(chain, Separator.ToString(), escaped);
    }

    /// <summary>The ids of a chain, outermost first (empty for null or empty).</summary>
    public static IReadOnlyList<string> Parse(string? chain)
    {
        if (string.IsNullOrEmpty(chain)) return [];
        var ids = new List<string>();
        var current = new StringBuilder();
        for (var i = 0; i < chain.Length; i++)
        {
            var c = chain[i];
            if (c == Escape && i + 1 < chain.Length)
            {
                current.Append(chain[++i]);
            }
            else if (c == Separator)
            {
                ids.Add(current.ToString());
                current.Clear();
            }
            else
            {
                current.Append(c);
            }
        }

        ids.Add(current.ToString());
        return ids;
    }

    /// <summary>True when <paramref name="id"/> is one of the components in <paramref name="chain"/>.</summary>
    public static bool Contains(string? chain, ComponentId id)
    {
        if (string.IsNullOrEmpty(chain)) return false;
        var rest = chain.AsSpan();
        if (rest.IndexOf(Escape) < 0)
        {
            // Every call between components of one silo asks this: without an escape in the chain each entry is an id as
            // it is, compared in place (no parse, no id text). An id whose text holds '|' or '\' cannot be among them.
            while (true)
            {
                var bar = rest.IndexOf(Separator);
                if (Is(bar < 0 ? rest : rest[..bar], id)) return true;
                if (bar < 0) return false;
                rest = rest[(bar + 1)..];
            }
        }

        var text = id.ToString();
        foreach (var entry in Parse(chain))
        {
            if (entry == text) return true;
        }

        return false;
    }

    /// <summary>True when <paramref name="entry"/> is the text <c>Type/Key</c> of <paramref name="id"/>.</summary>
    private static bool Is(ReadOnlySpan<char> entry, ComponentId id) =>
        entry.Length == id.Type.Length + 1 + id.Key.Length && entry[id.Type.Length] == '/'
        && entry.StartsWith(id.Type, StringComparison.Ordinal) && entry[(id.Type.Length + 1)..].SequenceEqual(id.Key);

    /// <summary>The chain for people: ids joined with <c> -&gt; </c> ("(none)" when empty).</summary>
    public static string Display(string? chain)
    {
        var ids = Parse(chain);
        return ids.Count == 0 ? "(none)" : string.Join(" -> ", ids);
    }

    /// <summary>The chain for people, followed by the component it calls next.</summary>
    public static string Display(string? chain, ComponentId next) => Display(Append(chain, next));

    private static string EscapeId(string text)
    {
        var b = new StringBuilder(text.Length + 4);
        foreach (var c in text)
        {
            if (c is Separator or Escape) b.Append(Escape);
            b.Append(c);
        }

        return b.ToString();
    }
}
