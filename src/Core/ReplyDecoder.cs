using System.Collections.Concurrent;
using System.Text.Json;
using Middleware.Grains;

namespace Middleware.Core;

/// <summary>Turns a recorded error back into an exception for the caller.</summary>
public static class ReplyDecoder
{
    private static readonly ConcurrentDictionary<string, Type> Types = new(StringComparer.Ordinal);

    /// <summary>
    /// The exception a caller sees for an error reply, the same on every path (in-process proxy, client SDK, component
    /// call): <see cref="RequestFencedException"/> for a fenced request id; otherwise the component's own exception type
    /// when it can be found in this process and rebuilt, with the recorded message and data properties
    /// (<see cref="ExceptionContent.Rebuild"/> states the rule); else <see cref="ComponentFaultException"/> carrying type,
    /// message and data. <paramref name="json"/> reads the data (default <see cref="ComponentJson.Default"/>).
    /// </summary>
    public static Exception ToException(ComponentReply reply, JsonSerializerOptions? json = null)
    {
        ArgumentNullException.ThrowIfNull(reply);
        var typeName = reply.ErrorType ?? throw new ArgumentException("The reply is not an error.", nameof(reply));
        var message = reply.ErrorMessage ?? string.Empty;
        if (RequestOutcome.IsFenced(reply)) return new RequestFencedException(message);
        var type = FindType(typeName);
        var rebuilt = type is null ? null : ExceptionContent.Rebuild(type, message, reply.ErrorData.Span, json ?? ComponentJson.Default);
        return rebuilt ?? new ComponentFaultException(typeName, message, reply.ErrorData.IsEmpty ? null : System.Text.Encoding.UTF8.GetString(reply.ErrorData.Span));
    }

    /// <summary>The exception type of that name among the loaded assemblies; a miss is not cached, the assembly may load later.</summary>
    private static Type? FindType(string name)
    {
        if (Types.TryGetValue(name, out var known)) return known;
        foreach (var assembly in AppDomain.CurrentDomain.GetAssemblies())
        {
            var type = assembly.GetType(name, throwOnError: false);
            if (type is not null && typeof(Exception).IsAssignableFrom(type)) return Types.GetOrAdd(name, type);
        }

        return null;
    }
}
