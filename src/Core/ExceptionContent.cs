using System.Buffers;
using System.Collections.Concurrent;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Middleware.Core;

/// <summary>
/// The data properties of an exception, captured when a turn records it and set again on the exception a caller gets.
/// <para>
/// <b>What is captured</b> (<see cref="Capture"/>): the public, readable, non-indexed instance properties declared by
/// the exception's type and its base types below <see cref="Exception"/>, except those named like one of
/// <see cref="Exception"/>'s own members (Message, StackTrace, Data, InnerException, HelpLink, Source, HResult,
/// TargetSite) and those marked <see cref="JsonIgnoreAttribute"/>; only properties whose declared type is data:
/// primitives, enums, string, decimal, DateTime, DateTimeOffset, TimeSpan, Guid, DateOnly, TimeOnly, Uri, their
/// nullables, arrays and System.Collections generics of data, and application types (any type outside the System
/// namespaces that is not a delegate or an exception). Object-typed and other framework-typed properties (Type, Task,
/// CancellationToken, Exception, ...) are left out: they are runtime handles, not data, and some differ between runs,
/// which would make replay diverge. Null values, values whose getter throws and values the JSON settings cannot
/// serialize are left out too. The result is one JSON object, keys ordered by name (ordinal) at every level, so the
/// same exception always gives the same bytes and replay can compare them; empty when nothing is captured.
/// </para>
/// <para>
/// <b>How it is set again</b> (<see cref="Rebuild"/>): the constructor marked <see cref="JsonConstructorAttribute"/>, else
/// the public constructors, most captured properties bound first. A parameter gets the captured property of its name
/// (case-insensitive); otherwise a string parameter named <c>message</c> (or the only parameter of a one-string
/// constructor) gets the recorded message, an exception parameter named <c>inner…</c> gets null, an optional parameter its
/// default; a constructor with any other parameter is not used. Captured properties the constructor did not take are
/// then set through their public setters (init setters included). The recorded message is kept: when the constructor
/// made another message and the type does not override <see cref="Exception.Message"/>, the recorded one is put back.
/// </para>
/// </summary>
public static class ExceptionContent
{
    private static readonly HashSet<string> ExceptionMembers = new(StringComparer.OrdinalIgnoreCase)
    {
        "Message", "StackTrace", "Data", "InnerException", "HelpLink", "Source", "HResult", "TargetSite",
    };

    private static readonly HashSet<Type> DataTypes =
    [
        typeof(string), typeof(decimal), typeof(DateTime), typeof(DateTimeOffset), typeof(TimeSpan), typeof(Guid),
        typeof(DateOnly), typeof(TimeOnly), typeof(Uri),
    ];

    private static readonly FieldInfo? MessageField = typeof(Exception).GetField("_message", BindingFlags.Instance | BindingFlags.NonPublic);
    private static readonly ConcurrentDictionary<Type, PropertyInfo[]> Properties = new();

    /// <summary>The properties <see cref="Capture"/> takes from exceptions of <paramref name="type"/>, ordered by name.</summary>
    public static IReadOnlyList<PropertyInfo> PropertiesOf(Type type) => Properties.GetOrAdd(type, static t => t
        .GetProperties(BindingFlags.Public | BindingFlags.Instance)
        .Where(p => p.DeclaringType is { } d && d != typeof(Exception) && typeof(Exception).IsAssignableFrom(d)
            && p.GetMethod is { IsPublic: true } && p.GetIndexParameters().Length == 0 && !ExceptionMembers.Contains(p.Name)
            && p.GetCustomAttribute<JsonIgnoreAttribute>() is null && IsData(p.PropertyType))
        // A property hidden with 'new' appears once per declaring type: the most derived one wins.
        .GroupBy(p => p.Name, StringComparer.Ordinal)
        .Select(g => g.OrderByDescending(p => Depth(p.DeclaringType!)).First())
        .OrderBy(p => p.Name, StringComparer.Ordinal)
        .ToArray());

    /// <summary>The canonical JSON of <paramref name="exception"/>'s data properties (see the class summary); empty when it has none.</summary>
    public static byte[] Capture(Exception exception, JsonSerializerOptions json)
    {
        ArgumentNullException.ThrowIfNull(exception);
        var properties = PropertiesOf(exception.GetType());
        if (properties.Count == 0) return [];
        var captured = new List<(string Name, JsonNode? Value)>(properties.Count);
        foreach (var p in properties)
        {
            try
            {
                var value = p.GetValue(exception);
                if (value is not null) captured.Add((p.Name, JsonSerializer.SerializeToNode(value, p.PropertyType, json)));
            }
            catch (Exception e) when (e is TargetInvocationException or NotSupportedException or JsonException or InvalidOperationException or ArgumentException)
            {
                // Not data after all (a getter that throws, a value the settings cannot write): left out, the same way every time.
            }
        }

        if (captured.Count == 0) return [];
        var buffer = new ArrayBufferWriter<byte>(64);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            foreach (var (name, value) in captured)
            {
                writer.WritePropertyName(name);
                WriteCanonical(writer, value);
            }

            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>
    /// An exception of <paramref name="type"/> with <paramref name="message"/> and the captured <paramref name="data"/>
    /// set (see the class summary), or null when no constructor of the type can be used.
    /// </summary>
    public static Exception? Rebuild(Type type, string message, ReadOnlySpan<byte> data, JsonSerializerOptions json)
    {
        ArgumentNullException.ThrowIfNull(type);
        if (type.IsAbstract || !typeof(Exception).IsAssignableFrom(type)) return null;
        var values = data.IsEmpty ? [] : ParseObject(data);
        Exception? fallback = null;
        foreach (var (ctor, arguments, bound) in Candidates(type, values, message, json))
        {
            Exception built;
            try
            {
                built = (Exception)ctor.Invoke(arguments);
            }
            catch (TargetInvocationException)
            {
                continue;
            }

            SetProperties(built, values, bound, json);
            if (built.Message != message && type.GetProperty(nameof(Exception.Message))!.DeclaringType == typeof(Exception))
                MessageField?.SetValue(built, message);
            if (built.Message == message) return built;
            // A type that composes its message (ArgumentException adds the parameter): try a constructor that reproduces it.
            fallback ??= built;
        }

        return fallback;
    }

    private static IEnumerable<(ConstructorInfo Ctor, object?[] Arguments, HashSet<string> Bound)> Candidates(
        Type type, Dictionary<string, JsonNode?> values, string message, JsonSerializerOptions json)
    {
        var ctors = type.GetConstructors(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance)
            .Where(c => c.IsPublic || c.GetCustomAttribute<JsonConstructorAttribute>() is not null);
        var usable = new List<(ConstructorInfo Ctor, object?[] Arguments, HashSet<string> Bound, bool Marked, bool TakesMessage)>();
        foreach (var ctor in ctors)
        {
            if (TryBind(ctor, values, message, json, out var arguments, out var bound, out var takesMessage))
                usable.Add((ctor, arguments, bound, ctor.GetCustomAttribute<JsonConstructorAttribute>() is not null, takesMessage));
        }

        return usable
            .OrderByDescending(c => c.Marked)
            .ThenByDescending(c => c.Bound.Count)
            .ThenByDescending(c => c.TakesMessage)
            .ThenBy(c => c.Arguments.Length)
            .Select(c => (c.Ctor, c.Arguments, c.Bound));
    }

    private static bool TryBind(ConstructorInfo ctor, Dictionary<string, JsonNode?> values, string message, JsonSerializerOptions json,
        out object?[] arguments, out HashSet<string> bound, out bool takesMessage)
    {
        var parameters = ctor.GetParameters();
        arguments = new object?[parameters.Length];
        bound = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        takesMessage = false;
        for (var i = 0; i < parameters.Length; i++)
        {
            var p = parameters[i];
            var name = p.Name ?? "";
            if (values.TryGetValue(name, out var node))
            {
                if (!TryDeserialize(node, p.ParameterType, json, out arguments[i])) return false;
                bound.Add(name);
            }
            else if (p.ParameterType == typeof(string) && (name.Equals("message", StringComparison.OrdinalIgnoreCase) || parameters.Length == 1))
            {
                arguments[i] = message;
                takesMessage = true;
            }
            else if (typeof(Exception).IsAssignableFrom(p.ParameterType) && name.StartsWith("inner", StringComparison.OrdinalIgnoreCase))
            {
                arguments[i] = null;
            }
            else if (p.IsOptional)
            {
                arguments[i] = p.HasDefaultValue && p.DefaultValue is not DBNull ? p.DefaultValue : DefaultOf(p.ParameterType);
            }
            else
            {
                return false;
            }
        }

        return true;
    }

    private static void SetProperties(Exception built, Dictionary<string, JsonNode?> values, HashSet<string> bound, JsonSerializerOptions json)
    {
        foreach (var p in PropertiesOf(built.GetType()))
        {
            if (bound.Contains(p.Name) || p.SetMethod is not { IsPublic: true } || !values.TryGetValue(p.Name, out var node)) continue;
            if (!TryDeserialize(node, p.PropertyType, json, out var value)) continue;
            try
            {
                p.SetValue(built, value);
            }
            catch (TargetInvocationException)
            {
                // A setter that validates and refuses: the property keeps what the constructor gave it.
            }
        }
    }

    private static bool TryDeserialize(JsonNode? node, Type type, JsonSerializerOptions json, out object? value)
    {
        try
        {
            value = node is null ? DefaultOf(type) : node.Deserialize(type, json);
            return true;
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException or ArgumentException)
        {
            // The caller's version of the type no longer reads the value: that parameter or property cannot be set.
            value = null;
            return false;
        }
    }

    private static Dictionary<string, JsonNode?> ParseObject(ReadOnlySpan<byte> data)
    {
        var values = new Dictionary<string, JsonNode?>(StringComparer.OrdinalIgnoreCase);
        try
        {
            if (JsonNode.Parse(data) is JsonObject o)
            {
                foreach (var (name, value) in o) values[name] = value?.DeepClone();
            }
        }
        catch (JsonException)
        {
            // Not written by Capture: rebuild from the message alone.
        }

        return values;
    }

    private static object? DefaultOf(Type type) => type.IsValueType && Nullable.GetUnderlyingType(type) is null ? Activator.CreateInstance(type) : null;

    private static int Depth(Type type)
    {
        var depth = 0;
        for (var t = type; t is not null; t = t.BaseType) depth++;
        return depth;
    }

    /// <summary>Data as described in the class summary: values a log can hold and a caller can read again.</summary>
    private static bool IsData(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (type.IsPrimitive) return type != typeof(IntPtr) && type != typeof(UIntPtr);
        if (type.IsEnum || DataTypes.Contains(type)) return true;
        if (type.IsArray) return type.GetArrayRank() == 1 && IsData(type.GetElementType()!);
        if (type.IsPointer || type.IsByRefLike || type.ContainsGenericParameters || type == typeof(object)) return false;
        if (typeof(Delegate).IsAssignableFrom(type) || typeof(Exception).IsAssignableFrom(type)) return false;
        var ns = type.Namespace ?? "";
        if (type.IsGenericType && ns.StartsWith("System.Collections", StringComparison.Ordinal)) return type.GetGenericArguments().All(IsData);
        return ns != "System" && !ns.StartsWith("System.", StringComparison.Ordinal) && !ns.StartsWith("Microsoft.", StringComparison.Ordinal);
    }

    /// <summary>Writes <paramref name="node"/> with the keys of every object in ordinal order: one value, one byte string.</summary>
    private static void WriteCanonical(Utf8JsonWriter writer, JsonNode? node)
    {
        switch (node)
        {
            case null:
                writer.WriteNullValue();
                break;
            case JsonObject o:
                writer.WriteStartObject();
                foreach (var (name, value) in o.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                {
                    writer.WritePropertyName(name);
                    WriteCanonical(writer, value);
                }

                writer.WriteEndObject();
                break;
            case JsonArray a:
                writer.WriteStartArray();
                foreach (var item in a) WriteCanonical(writer, item);
                writer.WriteEndArray();
                break;
            default:
                node.WriteTo(writer);
                break;
        }
    }
}
