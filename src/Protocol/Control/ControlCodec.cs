using System.Text.Json;

namespace Middleware.Protocol.Control;

/// <summary>
/// The wire forms of the control operations (<see cref="InvokeFlags.Control"/>): arguments are JSON arrays, replies JSON
/// objects, decoded strictly (the exact number and types of values, nothing after them). A malformed message is a
/// <see cref="ControlMessageException"/> naming the operation and the form it expects. Client, silo and admin tool all
/// encode and decode through here.
/// </summary>
public static class ControlCodec
{
    private static readonly JsonSerializerOptions Replies = new(JsonSerializerDefaults.Web)
    {
        // A session block without a token is written as older silos wrote it.
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary><c>[reserve]</c>, or <c>[reserve, token]</c> with a token.</summary>
    public static byte[] Encode(SessionReserveRequest request) =>
        request.Token is null
            ? JsonSerializer.SerializeToUtf8Bytes(new[] { request.Reserve })
            : JsonSerializer.SerializeToUtf8Bytes(new object[] { request.Reserve, request.Token });

    /// <summary>Decodes <c>[reserve]</c> or <c>[reserve, token]</c> (empty: the default block, no token).</summary>
    public static SessionReserveRequest DecodeReserve(ReadOnlyMemory<byte> args, string operation)
    {
        const string Form = "[reserve] or [reserve, token]";
        if (args.IsEmpty) return new SessionReserveRequest(SessionReserveRequest.DefaultReserve);
        var values = Array(args, operation, Form, 1, 2);
        if (values[0] is not { ValueKind: JsonValueKind.Number } n || !n.TryGetInt32(out var reserve))
            throw Malformed(operation, Form, "the reserve is not a whole number");
        if (values.Length == 1) return new SessionReserveRequest(reserve);
        return values[1].ValueKind == JsonValueKind.String && values[1].GetString() is { Length: > 0 } token
            ? new SessionReserveRequest(reserve, token)
            : throw Malformed(operation, Form, "the token is not a non-empty string");
    }

    /// <summary><c>[token]</c>.</summary>
    public static byte[] Encode(SessionProveRequest request) => JsonSerializer.SerializeToUtf8Bytes(new[] { request.Token });

    /// <summary>Decodes <c>[token]</c>; the token must be a non-empty string.</summary>
    public static SessionProveRequest DecodeProve(ReadOnlyMemory<byte> args, string operation) =>
        Array(args, operation, "[token]", 1)[0] is { ValueKind: JsonValueKind.String } token && token.GetString() is { Length: > 0 } text
            ? new SessionProveRequest(text)
            : throw Malformed(operation, "[token]", "the token is not a non-empty string");

    /// <summary><c>{"sessionId","first","last","token"}</c> (the token only when there is one).</summary>
    public static byte[] Encode(SessionBlock block) => JsonSerializer.SerializeToUtf8Bytes(block, Replies);

    /// <summary>Decodes a session block reply.</summary>
    public static SessionBlock DecodeSessionBlock(ReadOnlyMemory<byte> reply, string operation) =>
        Reply<SessionBlock>(reply, operation, "{\"sessionId\",\"first\",\"last\"}", b => !string.IsNullOrEmpty(b.SessionId) && b.First >= 1 && b.Last >= b.First);

    /// <summary><c>[key, value]</c>.</summary>
    public static byte[] Encode(SessionItemRequest request) => JsonSerializer.SerializeToUtf8Bytes(new[] { request.Key, request.Value });

    /// <summary>Decodes <c>[key, value]</c>; the key must be a non-empty string, the value a string or null.</summary>
    public static SessionItemRequest DecodeSessionItem(ReadOnlyMemory<byte> args, string operation)
    {
        const string Form = "[key, value]";
        var values = Array(args, operation, Form, 2);
        if (values[0].ValueKind != JsonValueKind.String || values[0].GetString() is not { Length: > 0 } key)
            throw Malformed(operation, Form, "the key is not a non-empty string");
        var value = values[1].ValueKind switch
        {
            JsonValueKind.String => values[1].GetString(),
            JsonValueKind.Null => null,
            _ => throw Malformed(operation, Form, "the value is neither a string nor null"),
        };
        return new SessionItemRequest(key, value);
    }

    /// <summary><c>[siloId]</c>.</summary>
    public static byte[] Encode(MoveRequest request) => JsonSerializer.SerializeToUtf8Bytes(new[] { request.To });

    /// <summary>Decodes <c>[siloId]</c>; the silo id must be a non-empty string.</summary>
    public static MoveRequest DecodeMove(ReadOnlyMemory<byte> args, string operation) =>
        Array(args, operation, "[siloId]", 1)[0] is { ValueKind: JsonValueKind.String } to && to.GetString() is { Length: > 0 } silo
            ? new MoveRequest(silo)
            : throw Malformed(operation, "[siloId]", "the silo id is not a non-empty string");

    /// <summary><c>{"from","to","epoch"}</c>.</summary>
    public static byte[] Encode(MoveResult result) => JsonSerializer.SerializeToUtf8Bytes(result, Replies);

    /// <summary>Decodes a move reply.</summary>
    public static MoveResult DecodeMoveResult(ReadOnlyMemory<byte> reply, string operation) =>
        Reply<MoveResult>(reply, operation, "{\"from\",\"to\",\"epoch\"}", r => !string.IsNullOrEmpty(r.From) && !string.IsNullOrEmpty(r.To));

    /// <summary><c>[{"siloId","address"}]</c>.</summary>
    public static byte[] Encode(IReadOnlyList<SiloAddress> silos) => JsonSerializer.SerializeToUtf8Bytes(silos, Replies);

    /// <summary>Decodes the live silos reply.</summary>
    public static IReadOnlyList<SiloAddress> DecodeSilos(ReadOnlyMemory<byte> reply, string operation) =>
        Reply<SiloAddress[]>(reply, operation, "[{\"siloId\",\"address\"}]", s => s.All(x => !string.IsNullOrEmpty(x.SiloId) && !string.IsNullOrEmpty(x.Address)));

    /// <summary><c>[by, reason, seq]</c>.</summary>
    public static byte[] Encode(DecisionRequest request) => JsonSerializer.SerializeToUtf8Bytes(new object[] { request.By, request.Reason, request.Seq });

    /// <summary>Decodes <c>[by, reason, seq]</c>: two non-empty strings and a whole number of at least 0.</summary>
    public static DecisionRequest DecodeDecision(ReadOnlyMemory<byte> args, string operation)
    {
        const string Form = "[by, reason, seq]";
        var values = Array(args, operation, Form, 3);
        if (values[0].ValueKind != JsonValueKind.String || values[0].GetString() is not { Length: > 0 } by)
            throw Malformed(operation, Form, "who decides is not a non-empty string");
        if (values[1].ValueKind != JsonValueKind.String || values[1].GetString() is not { Length: > 0 } reason)
            throw Malformed(operation, Form, "the reason is not a non-empty string");
        if (values[2].ValueKind != JsonValueKind.Number || !values[2].TryGetInt64(out var seq) || seq < 0)
            throw Malformed(operation, Form, "the seq is not a whole number of at least 0");
        return new DecisionRequest(by, reason, seq);
    }

    /// <summary>The reply to a decision.</summary>
    public static byte[] Encode(DecisionResult result) => JsonSerializer.SerializeToUtf8Bytes(result, Replies);

    /// <summary>Decodes a decision's reply.</summary>
    public static DecisionResult DecodeDecisionResult(ReadOnlyMemory<byte> reply, string operation) =>
        Reply<DecisionResult>(reply, operation, "{\"component\",\"action\",\"recordSeq\",...}", r => !string.IsNullOrEmpty(r.Component) && !string.IsNullOrEmpty(r.Action));

    private static JsonElement[] Array(ReadOnlyMemory<byte> args, string operation, string form, int count) => Array(args, operation, form, count, count);

    private static JsonElement[] Array(ReadOnlyMemory<byte> args, string operation, string form, int fewest, int most)
    {
        JsonElement[] values;
        try
        {
            using var doc = JsonDocument.Parse(args);
            if (doc.RootElement.ValueKind != JsonValueKind.Array) throw Malformed(operation, form, $"a JSON {doc.RootElement.ValueKind} was sent");
            values = doc.RootElement.EnumerateArray().Select(e => e.Clone()).ToArray();
        }
        catch (JsonException e)
        {
            throw Malformed(operation, form, $"it is not JSON ({e.Message})", e);
        }

        return values.Length >= fewest && values.Length <= most ? values : throw Malformed(operation, form, $"{values.Length} value(s) were sent");
    }

    private static T Reply<T>(ReadOnlyMemory<byte> reply, string operation, string form, Func<T, bool> valid)
    {
        T? value;
        try
        {
            value = JsonSerializer.Deserialize<T>(reply.Span, Replies);
        }
        catch (JsonException e)
        {
            throw Malformed(operation, form, $"it is not JSON of that shape ({e.Message})", e);
        }

        return value is not null && valid(value) ? value : throw Malformed(operation, form, "values are missing or out of range");
    }

    private static ControlMessageException Malformed(string operation, string form, string problem, Exception? inner = null) =>
        new($"{operation} expects {form}, but {problem}.", inner);

    /// <summary>The reply of <c>$mirror.ship</c>.</summary>
    public static byte[] Encode(MirrorAck ack) => JsonSerializer.SerializeToUtf8Bytes(ack, Replies);

    /// <summary>Decodes the reply of <c>$mirror.ship</c>.</summary>
    public static MirrorAck DecodeMirrorAck(ReadOnlyMemory<byte> reply, string operation) =>
        Reply<MirrorAck>(reply, operation, "{\"applied\",\"diverged\",\"failed\"}", a => a.Applied >= 0 && a.Diverged >= 0 && a.Failed >= 0);

    /// <summary>The reply of <c>$mirror.list</c>.</summary>
    public static byte[] Encode(IReadOnlyList<StandbyReport> standbys) => JsonSerializer.SerializeToUtf8Bytes(standbys, Replies);

    /// <summary>Decodes the reply of <c>$mirror.list</c>.</summary>
    public static IReadOnlyList<StandbyReport> DecodeStandbys(ReadOnlyMemory<byte> reply, string operation) =>
        Reply<List<StandbyReport>>(reply, operation, "[{\"component\",\"appliedSeq\",\"owner\",\"lastAppliedAt\",\"divergedAtSeq\"}]", l => l.All(r => !string.IsNullOrEmpty(r.Component)));
}
