using System.Collections.Concurrent;
using System.Reflection;
using Middleware.Grains;

namespace Middleware.Core;

/// <summary>Turns a recorded error back into an exception for the caller.</summary>
public static class ReplyDecoder
{
    private static readonly ConcurrentDictionary<string, ConstructorInfo?> Constructors = new(StringComparer.Ordinal);

    /// <summary>
    /// The exception a caller sees for an error reply: the component's own exception type when it can be
    /// found in this process and has a constructor taking a message, else <see cref="ComponentFaultException"/>.
    /// </summary>
    public static Exception ToException(ComponentReply reply)
    {
        var typeName = reply.ErrorType ?? throw new ArgumentException("The reply is not an error.", nameof(reply));
        var ctor = Constructors.GetOrAdd(typeName, static name =>
        {
            foreach (var assembly in AppDomain.CurrentDomain.GetAssemblies())
            {
                var type = assembly.GetType(name, throwOnError: false);
                // (message, inner) first: for ArgumentNullException and ArgumentOutOfRangeException the lone string is
                // the parameter name, which would garble the message.
                if (type is not null && typeof(Exception).IsAssignableFrom(type))
                    return type.GetConstructor([typeof(string), typeof(Exception)]) ?? type.GetConstructor([typeof(string)]);
            }

            return null;
        });
        object?[] args = ctor?.GetParameters().Length == 2 ? [reply.ErrorMessage, null] : [reply.ErrorMessage];
        return ctor?.Invoke(args) as Exception ?? new ComponentFaultException(typeName, reply.ErrorMessage ?? string.Empty);
    }
}
