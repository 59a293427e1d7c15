using System.Globalization;
using System.Text;

namespace Middleware.Protocol;

/// <summary>
/// Text from the network on its way into logs. Log lines are read by people and parsed by tools, so a peer must not be
/// able to start a new line, recolour a terminal (ANSI escapes) or reorder text (bidirectional overrides) through a
/// name it chose: <see cref="Escape"/> writes every such character as <c>\uXXXX</c>.
/// </summary>
public static class LogText
{
    /// <summary>
    /// <paramref name="text"/> with control, format (bidirectional overrides, zero-width), line/paragraph-separator and
    /// unpaired surrogate characters and the backslash written as escapes; "(null)" for null. Plain text comes back as is.
    /// </summary>
    public static string Escape(string? text)
    {
        if (text is null) return "(null)";
        var i = 0;
        while (i < text.Length && !NeedsEscape(text, i)) i++;
        if (i == text.Length) return text;
        var escaped = new StringBuilder(text.Length + 16).Append(text, 0, i);
        for (; i < text.Length; i++)
        {
            if (!NeedsEscape(text, i))
            {
                escaped.Append(text[i]);
                if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length) escaped.Append(text[++i]);
            }
            else if (text[i] == '\\')
            {
                escaped.Append(@"\\");
            }
            else
            {
                escaped.Append(@"\u").Append(((int)text[i]).ToString("x4", CultureInfo.InvariantCulture));
            }
        }

        return escaped.ToString();
    }

    /// <summary><see cref="Escape"/> in single quotes, the way names appear in this project's messages.</summary>
    public static string Quote(string? text) => "'" + Escape(text) + "'";

    /// <summary>True when the character at <paramref name="index"/> must not reach a log as it is.</summary>
    internal static bool IsUnprintable(string text, int index)
    {
        var c = text[index];
        if (char.IsHighSurrogate(c)) return index + 1 >= text.Length || !char.IsLowSurrogate(text[index + 1]);
        if (char.IsLowSurrogate(c)) return index == 0 || !char.IsHighSurrogate(text[index - 1]);
        return CharUnicodeInfo.GetUnicodeCategory(c) is UnicodeCategory.Control or UnicodeCategory.Format
            or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator;
    }

    private static bool NeedsEscape(string text, int index) => text[index] == '\\' || IsUnprintable(text, index);
}

/// <summary>The rule for the sender id of a Hello, shared by the server (which refuses) and the connecting side (which fails early).</summary>
public static class SenderIds
{
    /// <summary>
    /// Null when <paramref name="senderId"/> is usable: 1 to <see cref="ProtocolConstants.MaxSenderIdLength"/> characters,
    /// not all white space, none of them a control, format or separator character. Otherwise what is wrong with it.
    /// </summary>
    public static string? Problem(string? senderId)
    {
        if (string.IsNullOrEmpty(senderId)) return "the sender id is empty";
        if (senderId.Length > ProtocolConstants.MaxSenderIdLength)
            return $"the sender id is {senderId.Length} characters long, over the limit of {ProtocolConstants.MaxSenderIdLength}";
        if (string.IsNullOrWhiteSpace(senderId)) return "the sender id is all white space";
        for (var i = 0; i < senderId.Length; i++)
        {
            if (LogText.IsUnprintable(senderId, i))
                return $"the sender id {LogText.Quote(senderId)} has the unprintable character U+{(int)senderId[i]:X4} at position {i}";
        }

        return null;
    }
}
