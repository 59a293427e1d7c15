using System.Text.Json;

namespace Middleware.Bench;

/// <summary>Writes a flat JSON object of results in the order the fields are added.</summary>
internal sealed class JsonReport
{
    private readonly List<(string Name, object? Value)> _fields = [];

    public JsonReport Add(string name, object? value)
    {
        _fields.Add((name, value));
        return this;
    }

    public void WriteTo(string path)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(directory)) Directory.CreateDirectory(directory);
        using var stream = File.Create(path);
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        w.WriteStartObject();
        foreach (var (name, value) in _fields)
        {
            switch (value)
            {
                case null: w.WriteNull(name); break;
                case string s: w.WriteString(name, s); break;
                case bool b: w.WriteBoolean(name, b); break;
                case int i: w.WriteNumber(name, i); break;
                case long l: w.WriteNumber(name, l); break;
                // NaN is not JSON: a figure that could not be computed (no samples) is written as null.
                case double d when double.IsNaN(d) || double.IsInfinity(d): w.WriteNull(name); break;
                case double d: w.WriteNumber(name, Math.Round(d, 4)); break;
                case IEnumerable<double> series:
                    w.WriteStartArray(name);
                    foreach (var x in series) w.WriteNumberValue(Math.Round(x, 4));
                    w.WriteEndArray();
                    break;
                default: w.WriteString(name, value.ToString()); break;
            }
        }

        w.WriteEndObject();
        w.Flush();
        stream.WriteByte((byte)'\n');
    }
}
