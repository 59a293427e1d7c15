using System.Text;
using System.Text.Json;
using Middleware.Core;
using Middleware.Recovery.Log;

namespace Middleware.Admin.Output;

/// <summary>Conversions shared by the commands: times, raw JSON and decoded turn records.</summary>
internal static class Format
{
    /// <summary>UTC ticks as a UTC <see cref="DateTime"/>; null for 0 (never committed or unknown).</summary>
    public static DateTime? Time(long ticks) => ticks <= 0 ? null : new DateTime(ticks, DateTimeKind.Utc);

    /// <summary>A time for tables: ISO 8601 to the millisecond.</summary>
    public static string Text(DateTime? time) => time is { } t ? t.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture) : "-";

    /// <summary>JSON bytes as an element; bytes that are not JSON (never written by the runtime) become a string.</summary>
    public static JsonElement Json(ReadOnlyMemory<byte> bytes)
    {
        try
        {
            using var doc = JsonDocument.Parse(bytes);
            return doc.RootElement.Clone();
        }
        catch (JsonException)
        {
            return JsonSerializer.SerializeToElement(Encoding.UTF8.GetString(bytes.Span));
        }
    }

    /// <summary>
    /// Text as a table cell shows it: <see cref="Printable"/>, with Spectre markup escaped (a cell is markup); "-" for null.
    /// </summary>
    public static string Cell(string? text) => text is null ? "-" : Spectre.Console.Markup.Escape(Printable(text));

    /// <summary>
    /// Text with its control characters escaped (<c>\n</c>, <c>\r</c>, <c>\t</c>, others as <c>\xNN</c>), so an id holding
    /// one cannot break or forge the lines of a table or a message.
    /// </summary>
    public static string Printable(string text)
    {
        if (!text.Any(char.IsControl)) return text;
        var escaped = new StringBuilder(text.Length + 8);
        foreach (var c in text)
        {
            switch (c)
            {
                case '\n': escaped.Append("\\n"); break;
                case '\r': escaped.Append("\\r"); break;
                case '\t': escaped.Append("\\t"); break;
                case var _ when char.IsControl(c):
                    escaped.Append("\\x").Append(((int)c).ToString("x2", System.Globalization.CultureInfo.InvariantCulture)); // C0 and C1 controls are all below 0x100
                    break;
                default: escaped.Append(c); break;
            }
        }

        return escaped.ToString();
    }

    /// <summary>Text shortened for a table cell (JSON output is never shortened).</summary>
    public static string Clip(string text, int max = 120) => text.Length <= max ? text : text[..(max - 1)] + "…";

    /// <summary>A decoded log record in its JSON shape.</summary>
    public static LogRecordShape Record(LogRecord record)
    {
        if (record.Kind == RecordKind.Fence)
        {
            // Not a turn: an outcome query declared this request id not committed; it can never run.
            var fence = RecordCodec.DecodeFence(record.Payload);
            return new LogRecordShape(record.Seq, "fence", record.Epoch, new DateTime(record.CommittedAtTicks, DateTimeKind.Utc), fence.RequestId,
                null, null, "(fence)", Json("[]"u8.ToArray()), [], 0, [], null, new ErrorShape(Middleware.Core.RequestOutcome.FencedErrorType, "declared not committed by an outcome query; it will never run"));
        }

        if (record.Kind == RecordKind.Control)
        {
            // Not a turn: a decision about the component (quarantine, release, reset, accept), with who and why.
            var control = RecordCodec.DecodeControl(record.Payload);
            var action = JsonNamingPolicy.CamelCase.ConvertName(control.Action.ToString());
            var args = JsonSerializer.SerializeToElement(new { by = control.By, reason = control.Reason, at = new DateTime(control.AtTicks, DateTimeKind.Utc), codeVersion = control.CodeVersion, seq = control.Seq });
            return new LogRecordShape(record.Seq, "control", record.Epoch, new DateTime(record.CommittedAtTicks, DateTimeKind.Utc), "", null, null,
                $"({action})", args, [], 0, [], null, null);
        }

        var turn = RecordCodec.DecodeTurn(record.Payload);
        var recorded = turn.Values.Select(Value).ToList();
        JsonElement? reply = turn.Reply.IsError || turn.Reply.Result.Length == 0 ? null : Json(turn.Reply.Result);
        var error = turn.Reply.IsError ? new ErrorShape(turn.Reply.ErrorType!, turn.Reply.ErrorMessage ?? "") : null;
        var outbound = turn.Outbound.Select(c => new OutboundShape(c.Ordinal, c.Target, c.RequestId, c.Operation, Json(c.Args),
            c.Outcome.IsError || c.Outcome.Result.Length == 0 ? null : Json(c.Outcome.Result),
            c.Outcome.IsError ? new ErrorShape(c.Outcome.ErrorType!, c.Outcome.ErrorMessage ?? "") : null)).ToList();
        if (turn.IsPartial) (reply, error) = (null, null);
        return new LogRecordShape(record.Seq, JsonNamingPolicy.CamelCase.ConvertName(record.Kind.ToString()), record.Epoch, new DateTime(record.CommittedAtTicks, DateTimeKind.Utc), turn.RequestId,
            turn.SessionId, turn.Caller, turn.Method, Json(turn.Args), recorded, turn.TurnSeq, outbound, reply, error);
    }

    /// <summary>A recorded nondeterministic value: kind in camelCase, value as text (time ISO 8601, GUID, seed).</summary>
    public static RecordedValueShape Value(RecordedValue v) => v.Kind switch
    {
        NondeterminismKind.UtcNow => new("utcNow", new DateTime(v.Value, DateTimeKind.Utc).ToString("O", System.Globalization.CultureInfo.InvariantCulture)),
        NondeterminismKind.Guid => new("guid", v.GuidValue.ToString()),
        NondeterminismKind.RandomSeed => new("randomSeed", v.Value.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        NondeterminismKind.BackendRead => new("backendRead", Encoding.UTF8.GetString(v.Bytes.Span)),
        NondeterminismKind.SessionItem => new("sessionItem", v.Value == 0 ? "(null)" : Encoding.UTF8.GetString(v.Bytes.Span)),
        _ => new(v.Kind.ToString(), v.Value.ToString(System.Globalization.CultureInfo.InvariantCulture)),
    };

    /// <summary>A reply for a table: result JSON, "(void)", or "error Type: message".</summary>
    public static string Reply(LogRecordShape r) =>
        r.Error is { } e ? $"error {e.Type}: {e.Message}" : r.Reply is { } v ? v.GetRawText() : "(void)";
}
