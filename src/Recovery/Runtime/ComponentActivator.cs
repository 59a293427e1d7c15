using System.Collections.Concurrent;
using System.Reflection;
using Microsoft.Extensions.DependencyInjection;
using Middleware.Core;

namespace Middleware.Recovery.Runtime;

/// <summary>
/// Creates component objects: with the parameterless constructor when the registry has no services, else through
/// <see cref="ActivatorUtilities"/> so constructors may take the host's services (<see cref="ComponentRegistry.Services"/>).
/// Live activations and replays create them the same way, so a recovered component gets its services again.
/// </summary>
internal static class ComponentActivator
{
    private static readonly ConcurrentDictionary<Type, ObjectFactory> Factories = new();

    /// <summary>A new object of <paramref name="type"/>'s class (without state or context).</summary>
    public static object Create(ComponentTypeInfo type)
    {
        var services = type.Owner?.Services;
        if (services is null)
        {
            if (type.NeedsServices) throw NoServices(type);
            return Activator.CreateInstance(type.GrainType)!;
        }

        var factory = Factories.GetOrAdd(type.GrainType, static t => ActivatorUtilities.CreateFactory(t, Type.EmptyTypes));
        try
        {
            return factory(services, null);
        }
        catch (InvalidOperationException e) when (e.Message.Contains("Unable to resolve service", StringComparison.Ordinal))
        {
            throw new ComponentDefinitionException($"{type.GrainType.FullName} cannot be created: {e.Message} Register the service in the host's container (builder.Services.AddSingleton<...>()).");
        }
    }

    /// <summary>
    /// Checks at start-up that every registered class can be created: without services, that each has a parameterless
    /// constructor; with them, that some public constructor takes only registered services (when the container can say,
    /// <see cref="IServiceProviderIsService"/>). Throws <see cref="ComponentDefinitionException"/> naming the class, the
    /// parameter and the fix.
    /// </summary>
    public static void Check(ComponentRegistry registry)
    {
        foreach (var type in registry.Types.OrderBy(t => t.Name, StringComparer.Ordinal))
        {
            if (registry.Services is null)
            {
                if (type.NeedsServices) throw NoServices(type);
                continue;
            }

            if (registry.Services.GetService(typeof(IServiceProviderIsService)) is not IServiceProviderIsService known || !type.NeedsServices) continue;
            var constructors = type.GrainType.GetConstructors();
            if (constructors.Any(c => c.GetParameters().All(p => known.IsService(p.ParameterType) || p.HasDefaultValue))) continue;
            var (constructor, missing) = constructors
                .Select(c => (Constructor: c, Missing: c.GetParameters().Where(p => !known.IsService(p.ParameterType) && !p.HasDefaultValue).ToList()))
                .OrderBy(c => c.Missing.Count)
                .First();
            throw new ComponentDefinitionException(
                $"{type.GrainType.FullName} cannot be created: its constructor ({Describe(constructor)}) takes {string.Join(", ", missing.Select(p => $"{p.ParameterType.Name} {p.Name}"))}, " +
                $"which the host's container does not provide. Register {(missing.Count == 1 ? "it" : "them")} (builder.Services.AddSingleton<{missing[0].ParameterType.Name}, ...>()), or give the class a constructor without {(missing.Count == 1 ? "it" : "them")}.");
        }
    }

    private static ComponentDefinitionException NoServices(ComponentTypeInfo type)
    {
        var constructor = type.GrainType.GetConstructors().OrderBy(c => c.GetParameters().Length).First();
        return new ComponentDefinitionException(
            $"{type.GrainType.FullName} has no parameterless constructor (it takes {Describe(constructor)}), and this runtime has no services to create it with: " +
            "host it with AddMiddlewareSilo (the host's container supplies the services), set ComponentRegistry.Services to a service provider, or add a public parameterless constructor.");
    }

    private static string Describe(ConstructorInfo constructor) =>
        string.Join(", ", constructor.GetParameters().Select(p => $"{p.ParameterType.Name} {p.Name}"));
}
