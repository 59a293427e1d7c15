using Middleware.Grains;

namespace Middleware.Recovery.Runtime;

/// <summary>
/// Replay of a component's log did not reproduce what was recorded: the code or its state type changed
/// behaviour, or it used nondeterminism outside the context. Names the first diverging turn.
/// </summary>
public sealed class ReplayDivergenceException(ComponentId component, long seq, string method, string expected, string actual)
    : Exception($"Replay of {component} diverged at seq {seq} ({method}): expected {expected}, got {actual}. " +
                "The component's code or state type no longer reproduces its log; restore the previous code or audit the change (mw audit).")
{
    /// <summary>The component whose replay diverged.</summary>
    public ComponentId Component { get; } = component;

    /// <summary>The first diverging seq.</summary>
    public long Seq { get; } = seq;

    /// <summary>The method of that turn.</summary>
    public string Method { get; } = method;

    /// <summary>What the log recorded.</summary>
    public string Expected { get; } = expected;

    /// <summary>What the replay produced.</summary>
    public string Actual { get; } = actual;
}
