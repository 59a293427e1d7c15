using Middleware.Core;
using Middleware.Inspection;

namespace Middleware.Admin.Output;

/// <summary>Text for tables and lines (the JSON shapes and record decoding are <see cref="RecordShapes"/>, shared with the dashboard).</summary>
internal static class Format
{
    /// <summary>A time for tables: ISO 8601 to the millisecond.</summary>
    public static string Text(DateTime? time) => RecordShapes.Text(time);

    /// <summary>
    /// A table cell from text that came from the network or a store (ids, keys, reasons, JSON): its control characters
    /// escaped (<see cref="Printable"/>: a newline in a key cannot forge a row, an escape sequence cannot reach the
    /// terminal), then Spectre's markup escaped. JSON output never goes through this: JSON keeps values exact.
    /// </summary>
    public static string Cell(string? text) => text is null ? "-" : Spectre.Console.Markup.Escape(Printable.Escape(text));

    /// <summary>A line of plain output that quotes ids, keys or reasons: one line, its control characters escaped.</summary>
    public static string Line(string text) => Printable.Escape(text);

    /// <summary>Text shortened for a table cell (JSON output is never shortened).</summary>
    public static string Clip(string text, int max = 120) => text.Length <= max ? text : text[..(max - 1)] + "…";

    /// <summary>A reply for a table: result JSON, "(void)", or "error Type: message".</summary>
    public static string Reply(LogRecordShape r) =>
        r.Error is { } e ? $"error {e.Type}: {e.Message}" : r.Reply is { } v ? v.GetRawText() : "(void)";
}
