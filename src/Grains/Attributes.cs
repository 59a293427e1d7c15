namespace Middleware.Grains;

/// <summary>
/// Marks a component method that does not change state. Its turns are not logged, but the reply still
/// waits until every earlier turn of the component is durable, so a caller never sees a state that a
/// crash could take back.
/// </summary>
[AttributeUsage(AttributeTargets.Method, Inherited = true)]
public sealed class ReadOnlyTurnAttribute : Attribute
{
}

/// <summary>
/// Declares that a component calls the back end <see cref="Name"/> (<c>Context.Backend(name)</c>), so a host checks at
/// start that it is configured, instead of the first turn that needs it finding out. Repeat it for each back end.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = true, AllowMultiple = true)]
public sealed class UsesBackendAttribute(string name) : Attribute
{
    /// <summary>The back end's name, as the component passes it to <c>Context.Backend(name)</c>.</summary>
    public string Name { get; } = name;
}

/// <summary>
/// Gives a component interface an explicit type name for its ids (default: the interface name without
/// its leading 'I'). Renaming an interface then does not orphan its logs.
/// </summary>
[AttributeUsage(AttributeTargets.Interface, Inherited = false)]
public sealed class ComponentTypeAttribute(string name) : Attribute
{
    /// <summary>The type name used in component ids.</summary>
    public string Name { get; } = name;
}

/// <summary>
/// Asks for a warm standby of each component of this class on a second silo (process-level mirroring): the owner ships
/// every durable record to the mirror, which re-executes it, compares every reply and checkpoint with the owner's, and
/// takes over without a cold replay when the owner dies. Honoured when the silo runs with <c>--mirroring attributed</c>
/// (the default) or <c>all</c>; <c>none</c> turns mirroring off.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = true)]
public sealed class MirroredAttribute : Attribute
{
}
