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
/// Gives a component interface an explicit type name for its ids (default: the interface name without
/// its leading 'I'). Renaming an interface then does not orphan its logs.
/// </summary>
[AttributeUsage(AttributeTargets.Interface, Inherited = false)]
public sealed class ComponentTypeAttribute(string name) : Attribute
{
    /// <summary>The type name used in component ids.</summary>
    public string Name { get; } = name;
}
