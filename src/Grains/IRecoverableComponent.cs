namespace Middleware.Grains;

/// <summary>
/// Marker for component interfaces. Every method of an interface that extends this one must return
/// <see cref="Task"/> or <see cref="Task{TResult}"/> and must not be generic, overloaded, or take
/// ref/out parameters; the runtime checks this at start-up and names the offending method.
/// </summary>
public interface IRecoverableComponent
{
}
