using System.Text;
using System.Text.Json;
using Middleware.Core;
using Middleware.Recovery.Log;

namespace Middleware.Inspection;

/// <summary>
/// Conversions shared by <c>mw</c> and the dashboard: times, raw JSON and decoded log records in their JSON shapes.
/// </summary>
public static class RecordShapes
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

    /// <summary>The <see cref="LogRecordShape.Checksum"/> of a corrupt record.</summary>
    public const string Corrupt = "corrupt";

    /// <summary>The <see cref="LogRecordShape.Checksum"/> of a record written before checksums that does not decode.</summary>
    public const string Undecodable = "undecodable";

    /// <summary>
    /// A log record in its JSON shape, with its checksum status. A corrupt record (its checksum does not match) is shown by
    /// its columns only, never decoded; an unverified one that does not decode is shown with the decoder's words.
    /// </summary>
    public static LogRecordShape Record(LogRecord record)
    {
        var kind = JsonNamingPolicy.CamelCase.ConvertName(record.Kind.ToString());
        if (record.Checksum == ChecksumStatus.Corrupt)
        {
            return Unreadable(record, kind, Corrupt,
                $"checksum mismatch: the record's bytes or identity (component, seq, epoch, kind) changed after it was written ({record.Payload.Length} bytes stored)");
        }

        try
        {
            return Decode(record, kind) with { Checksum = record.Checksum == ChecksumStatus.Verified ? "verified" : "unverified" };
        }
        catch (InvalidDataException e)
        {
            return Unreadable(record, kind, Undecodable, e.Message);
        }
    }

    private static LogRecordShape Unreadable(LogRecord record, string kind, string checksum, string why) =>
        new(record.Seq, kind, record.Epoch, new DateTime(record.CommittedAtTicks, DateTimeKind.Utc), "", null, null, $"({checksum})",
            Json("[]"u8.ToArray()), [], 0, [], null, new ErrorShape(checksum, why)) { Checksum = checksum };

    private static LogRecordShape Decode(LogRecord record, string kind)
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
        return new LogRecordShape(record.Seq, kind, record.Epoch, new DateTime(record.CommittedAtTicks, DateTimeKind.Utc), turn.RequestId,
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
}
