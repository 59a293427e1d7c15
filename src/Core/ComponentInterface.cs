using System.Collections.Concurrent;
using System.Reflection;
using Middleware.Grains;

namespace Middleware.Core;

/// <summary>
/// A component interface as callers and the engine both see it: the type name in component ids and the dispatch table
/// of its methods, with every rule about component interfaces checked once (the message names the member and the
/// fix). Built from the interface alone, so a caller needs the interface's assembly, never the implementation's.
/// </summary>
public static class ComponentInterface
{
    private static readonly ConcurrentDictionary<Type, (string Name, IReadOnlyDictionary<string, ComponentMethod> Methods)> Views = new();

    /// <summary>The type name a component interface gets: its <see cref="ComponentTypeAttribute"/>, else its name without a leading 'I'.</summary>
    public static string TypeNameOf(Type interfaceType)
    {
        var attr = interfaceType.GetCustomAttribute<ComponentTypeAttribute>();
        if (attr is not null) return attr.Name;
        var n = interfaceType.Name;
        return n.Length > 1 && n[0] == 'I' && char.IsUpper(n[1]) ? n[1..] : n;
    }

    /// <summary>
    /// The dispatch table of a component interface (validated); <paramref name="grainType"/> adds the
    /// <see cref="ReadOnlyTurnAttribute"/>s of the implementation, null takes the interface's alone (a caller's view).
    /// </summary>
    public static Dictionary<string, ComponentMethod> MethodsOf(Type interfaceType, Type? grainType)
    {
        var methods = new Dictionary<string, ComponentMethod>(StringComparer.Ordinal);
        foreach (var iface in new[] { interfaceType }.Concat(interfaceType.GetInterfaces()))
        {
            if (iface == typeof(IRecoverableComponent)) continue;
            if (iface.GetProperties().Length > 0 || iface.GetEvents().Length > 0)
                throw new ComponentDefinitionException($"{iface.Name} declares properties or events; component interfaces may only declare async methods.");
            foreach (var m in iface.GetMethods())
            {
                if (methods.ContainsKey(m.Name))
                    throw new ComponentDefinitionException($"{iface.Name}.{m.Name} is overloaded; component methods are identified by name in the log, so give each overload its own name.");
                methods.Add(m.Name, ComponentMethod.Create(iface, m, grainType));
            }
        }

        if (methods.Count == 0)
            throw new ComponentDefinitionException($"{interfaceType.Name} declares no methods.");
        return methods;
    }

    /// <summary>
    /// A caller's view of <paramref name="interfaceType"/>, cached: its type name and method table, read-only flags from
    /// the interface only. Enough to encode calls and decode replies.
    /// </summary>
    public static (string Name, IReadOnlyDictionary<string, ComponentMethod> Methods) Of(Type interfaceType) =>
        Views.GetOrAdd(interfaceType, static t => (TypeNameOf(t), MethodsOf(t, grainType: null)));
}

/// <summary>A component type or interface breaks a rule; the message names the member and the fix.</summary>
public sealed class ComponentDefinitionException(string message) : Exception(message);
