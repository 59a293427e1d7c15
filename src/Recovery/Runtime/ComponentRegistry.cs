using System.Reflection;
using System.Text.Json;
using Middleware.Core;
using Middleware.Grains;

namespace Middleware.Recovery.Runtime;

/// <summary>
/// The component types a runtime can activate, validated when added, plus the JSON settings used for
/// arguments, results and state.
/// </summary>
public sealed class ComponentRegistry
{
    private readonly Dictionary<string, ComponentTypeInfo> _byName = new(StringComparer.Ordinal);
    private readonly Dictionary<Type, ComponentTypeInfo> _byInterface = [];

    /// <summary>JSON settings for arguments, results and state (defaults: property names as declared).</summary>
    public JsonSerializerOptions Json { get; } = ComponentJson.Create();

    /// <summary>
    /// The host's services, or null. When set, component objects are created through
    /// <see cref="Microsoft.Extensions.DependencyInjection.ActivatorUtilities"/>, so a component's constructor may take
    /// services registered in the container (singletons or transients: a component lives as long as its activation, so
    /// a scoped service is refused); a class with a parameterless constructor works either way. The same services are
    /// injected again when a component is recovered by replay, so what a service returns is nondeterminism unless it goes
    /// through the context (<c>Context.UtcNow</c>, <c>Context.Backend</c>, <c>Context.Call</c>): a replay that gets another
    /// answer diverges. Use services for configuration, pure helpers and logging-like sinks, not for data a turn decides on.
    /// </summary>
    public IServiceProvider? Services { get; set; }

    /// <summary>Every registered type.</summary>
    public IEnumerable<ComponentTypeInfo> Types => _byName.Values;

    /// <summary>Registers a component interface and its implementation; throws <see cref="ComponentDefinitionException"/>.</summary>
    public ComponentRegistry Add<TInterface, TGrain>()
        where TInterface : IRecoverableComponent
        where TGrain : class, TInterface => Add(typeof(TInterface), typeof(TGrain));

    /// <summary>Registers a component interface and its implementation by type.</summary>
    public ComponentRegistry Add(Type interfaceType, Type grainType)
    {
        var info = ComponentTypeInfo.Create(interfaceType, grainType, Json);
        if (_byName.TryGetValue(info.Name, out var existing) && existing.GrainType != grainType)
            throw new ComponentDefinitionException($"Two component types are named '{info.Name}': {existing.GrainType.FullName} and {grainType.FullName}. Give one of the interfaces [ComponentType(\"OtherName\")].");
        info.Owner = this;
        _byName[info.Name] = info;
        _byInterface[interfaceType] = info;
        return this;
    }

    /// <summary>Registers every non-abstract class in the assembly that implements a component interface.</summary>
    public ComponentRegistry AddAssembly(Assembly assembly)
    {
        foreach (var type in assembly.GetTypes().Where(t => t.IsClass && !t.IsAbstract))
        {
            foreach (var iface in type.GetInterfaces().Where(i => i != typeof(IRecoverableComponent) && typeof(IRecoverableComponent).IsAssignableFrom(i)))
            {
                // Only the most derived component interfaces name a component type.
                if (type.GetInterfaces().Any(other => other != iface && iface.IsAssignableFrom(other) && other != typeof(IRecoverableComponent))) continue;
                Add(iface, type);
            }
        }

        return this;
    }

    /// <summary>The type registered under a name, or a clear error listing the known names.</summary>
    public ComponentTypeInfo Get(string typeName) =>
        _byName.TryGetValue(typeName, out var info)
            ? info
            : throw new UnknownComponentException($"No component type named '{typeName}' is registered; known types: {string.Join(", ", _byName.Keys.Order())}. Register it with AddComponent<IYour, Your>() or load its assembly.");

    /// <summary>The type registered for an interface, if any.</summary>
    /// <summary>The component type named <paramref name="typeName"/>, if registered.</summary>
    public bool TryGet(string typeName, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ComponentTypeInfo? info) =>
        _byName.TryGetValue(typeName, out info);

    internal bool TryGet(Type interfaceType, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ComponentTypeInfo? info) =>
        _byInterface.TryGetValue(interfaceType, out info);

    /// <summary>The type registered for an interface.</summary>
    public ComponentTypeInfo Get(Type interfaceType) =>
        _byInterface.TryGetValue(interfaceType, out var info)
            ? info
            : throw new UnknownComponentException($"The interface {interfaceType.FullName} is not registered as a component; register it with Add<{interfaceType.Name}, TImplementation>().");
}
