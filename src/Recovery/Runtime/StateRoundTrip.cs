using System.Text;
using System.Text.Json;

namespace Middleware.Recovery.Runtime;

/// <summary>
/// Where two JSON documents first differ: a JSON path (<c>$.Items[2].Price</c>) and the value at it in each, as JSON
/// text (shortened when long), or <c>(absent)</c> when one document has nothing there.
/// </summary>
/// <param name="Path">The first path whose value differs, in document order.</param>
/// <param name="First">The value in the first document.</param>
/// <param name="Second">The value in the second document.</param>
public sealed record JsonDifference(string Path, string First, string Second)
{
    /// <summary>The text for a value one document does not have.</summary>
    public const string Absent = "(absent)";

    private const int MaxValueLength = 120;

    /// <summary>
    /// The first difference between two JSON documents, or null when they are equal (same values, objects compared by
    /// property name, arrays by position). A document that does not parse is compared as text at <c>$</c>.
    /// </summary>
    public static JsonDifference? Between(ReadOnlySpan<byte> first, ReadOnlySpan<byte> second)
    {
        if (first.SequenceEqual(second)) return null;
        try
        {
            using var a = JsonDocument.Parse(first.ToArray());
            using var b = JsonDocument.Parse(second.ToArray());
            // Equal values written in another order (or spacing) are still a difference of bytes: report it at the root.
            return Find(a.RootElement, b.RootElement, "$") ?? new JsonDifference("$", Shorten(Encoding.UTF8.GetString(first)), Shorten(Encoding.UTF8.GetString(second)));
        }
        catch (JsonException)
        {
            return new JsonDifference("$", Shorten(Encoding.UTF8.GetString(first)), Shorten(Encoding.UTF8.GetString(second)));
        }
    }

    private static JsonDifference? Find(JsonElement a, JsonElement b, string path)
    {
        if (a.ValueKind == JsonValueKind.Object && b.ValueKind == JsonValueKind.Object)
        {
            foreach (var p in a.EnumerateObject())
            {
                var at = Child(path, p.Name);
                if (!b.TryGetProperty(p.Name, out var other)) return new JsonDifference(at, Shorten(p.Value.GetRawText()), Absent);
                if (Find(p.Value, other, at) is { } d) return d;
            }

            foreach (var p in b.EnumerateObject())
            {
                if (!a.TryGetProperty(p.Name, out _)) return new JsonDifference(Child(path, p.Name), Absent, Shorten(p.Value.GetRawText()));
            }

            return null;
        }

        if (a.ValueKind == JsonValueKind.Array && b.ValueKind == JsonValueKind.Array)
        {
            int i = 0, n = a.GetArrayLength(), m = b.GetArrayLength();
            for (; i < Math.Min(n, m); i++)
            {
                if (Find(a[i], b[i], $"{path}[{i}]") is { } d) return d;
            }

            return n == m ? null : new JsonDifference($"{path}[{i}]", i < n ? Shorten(a[i].GetRawText()) : Absent, i < m ? Shorten(b[i].GetRawText()) : Absent);
        }

        var (x, y) = (a.GetRawText(), b.GetRawText());
        return x == y ? null : new JsonDifference(path, Shorten(x), Shorten(y));
    }

    private static string Child(string path, string name) =>
        name.Length > 0 && name.All(c => char.IsLetterOrDigit(c) || c == '_') ? $"{path}.{name}" : $"{path}['{name}']";

    private static string Shorten(string json) => json.Length <= MaxValueLength ? json : json[..MaxValueLength] + "…";
}

/// <summary>
/// What did not survive a round trip of state through JSON: the first JSON path whose value changed, with the value
/// written and the value read back, or the error that stopped the round trip (then <see cref="Path"/> is <c>$</c>).
/// </summary>
/// <param name="Path">The first path whose value did not survive (<c>$.Items[0].Price</c>).</param>
/// <param name="Written">The value as written (JSON text).</param>
/// <param name="ReadBack">The value after reading back and writing again (JSON text), or <see cref="JsonDifference.Absent"/>.</param>
/// <param name="Error">Why the state could not be written or read back at all, or null.</param>
public sealed record StateLoss(string Path, string Written, string ReadBack, string? Error = null)
{
    /// <summary>One clause for messages: "$.A is written as 3 and reads back as 0", or the error.</summary>
    public string Describe() => Error ?? $"{Path} is written as {Written} and reads back as {ReadBack}";
}

/// <summary>
/// The check behind every checkpoint and audit: state written to JSON, read back and written again must give the same
/// bytes. A member the serializer writes but cannot read back (a private setter, a converter that drops data) shows as
/// the first difference between the two writes.
/// </summary>
public static class StateRoundTrip
{
    /// <summary>
    /// Writes <paramref name="state"/> as checkpoint JSON and checks that it reads back to the same JSON. Returns the bytes
    /// and null when it does, or what was lost (with empty bytes when the state cannot be written at all).
    /// </summary>
    public static (byte[] Bytes, StateLoss? Loss) Write(object state, Type stateType, JsonSerializerOptions json)
    {
        ArgumentNullException.ThrowIfNull(stateType);
        byte[] bytes;
        try
        {
            bytes = JsonSerializer.SerializeToUtf8Bytes(state, stateType, json);
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException or ArgumentException)
        {
            return ([], new StateLoss("$", JsonDifference.Absent, JsonDifference.Absent, $"it cannot be written as JSON ({e.Message})"));
        }

        return (bytes, Check(bytes, stateType, json));
    }

    /// <summary>
    /// Reads <paramref name="bytes"/> (a checkpoint's state) as <paramref name="stateType"/>, writes it again and returns
    /// what differs from <paramref name="bytes"/>, or null when the bytes survive.
    /// </summary>
    public static StateLoss? Check(ReadOnlySpan<byte> bytes, Type stateType, JsonSerializerOptions json)
    {
        ArgumentNullException.ThrowIfNull(stateType);
        byte[] again;
        try
        {
            var back = JsonSerializer.Deserialize(bytes, stateType, json);
            again = JsonSerializer.SerializeToUtf8Bytes(back, stateType, json);
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException or ArgumentException)
        {
            return new StateLoss("$", JsonDifference.Absent, JsonDifference.Absent, $"it is written but does not read back as {stateType.Name} ({e.Message})");
        }

        if (bytes.SequenceEqual(again)) return null;
        var diff = JsonDifference.Between(bytes, again)!;
        return new StateLoss(diff.Path, diff.First, diff.Second);
    }
}
