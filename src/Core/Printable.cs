using System.Globalization;
using System.Text;

namespace Middleware.Core;

/// <summary>
/// The one rule for showing text that came from the network or a store (component ids, keys, request and session ids,
/// reasons, error messages) to people: in <c>mw</c> tables and lines and in the silo's log. A newline in a key must not
/// forge a table row or a log entry, and an escape sequence must not repaint the operator's terminal, so every
/// character that moves the cursor, changes the terminal's state or reorders text is written as an escape; everything
/// else (any script, emoji, box drawing) is kept. JSON output does not use this: JSON's own escaping keeps values exact.
/// </summary>
/// <remarks>
/// Escaped: the C0 controls U+0000-U+001F (<c>\n</c>, <c>\r</c>, <c>\t</c> by name, the others as <c>\xNN</c>, e.g. ESC
/// <c>\x1b</c>), DEL and the C1 controls U+007F-U+009F (<c>\xNN</c>), the line and paragraph separators U+2028/U+2029
/// and the bidirectional marks, embeddings, overrides and isolates (U+061C, U+200E, U+200F, U+202A-U+202E,
/// U+2066-U+2069) as <c>\uNNNN</c>, and the backslash itself as <c>\\</c>, so the escaped text reads back unambiguously.
/// </remarks>
public static class Printable
{
    /// <summary>
    /// <paramref name="text"/> with every control character, line separator and bidi control escaped (see the remarks
    /// of <see cref="Printable"/>); the same instance when there is nothing to escape; "" for null.
    /// </summary>
    public static string Escape(string? text)
    {
        if (string.IsNullOrEmpty(text)) return "";
        var first = IndexOfUnsafe(text);
        if (first < 0) return text;
        var result = new StringBuilder(text.Length + 16).Append(text, 0, first);
        for (var i = first; i < text.Length; i++) Append(result, text[i]);
        return result.ToString();
    }

    /// <summary>True when <paramref name="c"/> would be escaped by <see cref="Escape"/>.</summary>
    public static bool NeedsEscape(char c) => c switch
    {
        < ' ' or '\\' => true,
        >= '\u007f' and <= '\u009f' => true,
        '\u061c' or '\u200e' or '\u200f' or '\u2028' or '\u2029' => true,
        >= '\u202a' and <= '\u202e' => true,
        >= '\u2066' and <= '\u2069' => true,
        _ => false,
    };

    private static int IndexOfUnsafe(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (NeedsEscape(text[i])) return i;
        }

        return -1;
    }

    private static void Append(StringBuilder result, char c)
    {
        switch (c)
        {
            case '\n': result.Append("\\n"); break;
            case '\r': result.Append("\\r"); break;
            case '\t': result.Append("\\t"); break;
            case '\\': result.Append("\\\\"); break;
            case <= '\u00ff' when NeedsEscape(c):
                result.Append("\\x").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture));
                break;
            default:
                if (NeedsEscape(c)) result.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                else result.Append(c);
                break;
        }
    }
}
