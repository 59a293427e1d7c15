using System.Reflection;
using System.Text.Json;
using Middleware.Core;
using Middleware.Grains;

namespace Middleware.Recovery.Runtime;

/// <summary>
/// What the runtime knows about one registered component type: its interface, its class, its state type
/// and a dispatch table of its methods. Built once at start-up; every rule about component interfaces
/// and state types is checked here, with a message that names the offending member and the fix.
/// </summary>
public sealed class ComponentTypeInfo
{
    private ComponentTypeInfo(string name, Type interfaceType, Type grainType, Type stateType, IReadOnlyDictionary<string, ComponentMethod> methods)
    {
        Name = name;
        InterfaceType = interfaceType;
        GrainType = grainType;
        StateType = stateType;
        Methods = methods;
    }

    /// <summary>The type name in component ids.</summary>
    public string Name { get; }

    /// <summary>The component interface.</summary>
    public Type InterfaceType { get; }

    /// <summary>The implementation class.</summary>
    public Type GrainType { get; }

    /// <summary>The state type (the <c>TState</c> of <see cref="RecoverableGrain{TState}"/>).</summary>
    public Type StateType { get; }

    /// <summary>Methods by name.</summary>
    public IReadOnlyDictionary<string, ComponentMethod> Methods { get; }

    /// <summary>
    /// The code of this component type: the module version id of the assembly holding its class, which every build
    /// changes. A quarantine is about one code version: a new deployment tries the component again.
    /// </summary>
    public string CodeVersion => GrainType.Assembly.ManifestModule.ModuleVersionId.ToString("N");

    /// <summary>True when the component class asks for a warm standby (<see cref="MirroredAttribute"/>).</summary>
    public bool Mirrored => GrainType.IsDefined(typeof(MirroredAttribute), inherit: true);

    /// <summary>The back ends the class declares with <see cref="UsesBackendAttribute"/>, which a host checks at start.</summary>
    public IReadOnlyList<string> Backends => GrainType.GetCustomAttributes<UsesBackendAttribute>(inherit: true).Select(a => a.Name).Distinct(StringComparer.Ordinal).ToList();

    /// <summary>The registry this type was added to (its service provider creates the component objects), or null.</summary>
    internal ComponentRegistry? Owner { get; set; }

    /// <summary>
    /// True when the class has no public parameterless constructor: every constructor takes services, so the registry
    /// needs a service provider (<see cref="ComponentRegistry.Services"/>) to create it.
    /// </summary>
    public bool NeedsServices => GrainType.GetConstructor(Type.EmptyTypes) is null;

    /// <summary>The type name a component interface gets (see <see cref="ComponentInterface.TypeNameOf"/>).</summary>
    public static string TypeNameOf(Type interfaceType) => ComponentInterface.TypeNameOf(interfaceType);

    /// <summary>Validates and describes a component type; throws <see cref="ComponentDefinitionException"/>.</summary>
    public static ComponentTypeInfo Create(Type interfaceType, Type grainType, JsonSerializerOptions json)
    {
        if (!interfaceType.IsInterface)
            throw new ComponentDefinitionException($"{interfaceType.FullName} is not an interface: register a component by its interface and its class, e.g. AddComponent<IAccount, Account>().");
        if (!typeof(IRecoverableComponent).IsAssignableFrom(interfaceType))
            throw new ComponentDefinitionException($"{interfaceType.FullName} must extend IRecoverableComponent to be a component interface.");
        if (!interfaceType.IsAssignableFrom(grainType) || grainType.IsAbstract)
            throw new ComponentDefinitionException($"{grainType.FullName} must be a non-abstract class that implements {interfaceType.Name}.");
        if (grainType.GetConstructors().Length == 0)
            throw new ComponentDefinitionException($"{grainType.FullName} needs a public constructor: the runtime creates components on activation (parameterless, or taking services of the host's container).");
        var stateType = FindStateType(grainType)
            ?? throw new ComponentDefinitionException($"{grainType.FullName} must inherit RecoverableGrain<TState>.");
        CheckState(grainType, stateType, json);

        return new ComponentTypeInfo(TypeNameOf(interfaceType), interfaceType, grainType, stateType, ComponentInterface.MethodsOf(interfaceType, grainType));
    }

    private static Type? FindStateType(Type grainType)
    {
        for (var t = grainType; t is not null; t = t.BaseType)
        {
            if (t.IsGenericType && t.GetGenericTypeDefinition() == typeof(RecoverableGrain<>))
                return t.GetGenericArguments()[0];
        }

        return null;
    }

    private static void CheckState(Type grainType, Type stateType, JsonSerializerOptions json)
    {
        // The members first (a fresh state hides a private setter behind its default), then the fresh state itself.
        StateTypeRules.Check(grainType, stateType, json);
        object fresh;
        try
        {
            fresh = Activator.CreateInstance(stateType)!;
        }
        catch (TargetInvocationException e)
        {
            throw new ComponentDefinitionException($"The state type {stateType.FullName} of {grainType.Name} throws in its constructor ({e.InnerException?.Message}); a component's state starts as new {stateType.Name}().");
        }

        var (_, loss) = StateRoundTrip.Write(fresh, stateType, json);
        if (loss is null) return;
        if (loss.Error is not null)
            throw new ComponentDefinitionException($"The state type {stateType.FullName} of {grainType.Name} cannot be serialized to JSON and back: {loss.Error}. Checkpoints store state as JSON: use public get/set properties of JSON-serializable types.");
        throw new ComponentDefinitionException($"The state type {stateType.FullName} of {grainType.Name} does not serialize to the same JSON after a round trip: {loss.Describe()}; checkpoints need a canonical form. Use public get/set properties of JSON-serializable types (a get-only collection marked Populate must start empty).");
    }
}
