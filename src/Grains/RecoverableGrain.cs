namespace Middleware.Grains;

/// <summary>
/// Base class of recoverable components. A component keeps all of its data in <see cref="State"/>,
/// which must be serializable to JSON (it is checkpointed), and takes every nondeterministic value
/// from <see cref="Context"/> (it is recorded). Everything else about durability, exactly-once
/// execution and recovery is done by the runtime around each method call.
/// </summary>
/// <typeparam name="TState">The state type: a class with a public parameterless constructor.</typeparam>
public abstract class RecoverableGrain<TState> : IRecoverableGrain
    where TState : class, new()
{
    private TState? _state;
    private IComponentContext? _context;

    /// <summary>The component's state. Replaced by the runtime on activation and recovery.</summary>
    protected internal TState State
    {
        get => _state ?? throw new InvalidOperationException(
            $"{GetType().Name} has no state yet: create components through the runtime or ComponentTesting.Create.");
        internal set => _state = value;
    }

    /// <summary>The context of the current turn: id, request id, recorded time, GUIDs and random numbers.</summary>
    protected internal IComponentContext Context
    {
        get => _context ?? throw new InvalidOperationException(
            $"{GetType().Name} has no context outside a turn: create components through the runtime or ComponentTesting.Create.");
        internal set => _context = value;
    }

    Type IRecoverableGrain.StateType => typeof(TState);

    object IRecoverableGrain.State
    {
        get => State;
        set => State = (TState)value;
    }

    IComponentContext? IRecoverableGrain.Context
    {
        set => _context = value; // null between turns
    }
}

/// <summary>The runtime's untyped view of a component object.</summary>
internal interface IRecoverableGrain
{
    Type StateType { get; }

    object State { get; set; }

    /// <summary>The context of the turn that runs now; null between turns.</summary>
    IComponentContext? Context { set; }
}
