using System.Text.RegularExpressions;
using Middleware.Grains;

namespace Middleware.Recovery.Runtime;

/// <summary>
/// Replay of a component's log did not reproduce what was recorded: the code or its state type changed
/// behaviour, or it used nondeterminism outside the context. Names the first diverging turn and, with the fix for
/// each, the possible causes: the likely one first when the difference is in clock, GUID or random values.
/// </summary>
public sealed partial class ReplayDivergenceException(ComponentId component, long seq, string method, string expected, string actual, bool codeChangeOnly = false)
    : Exception($"Replay of {component} diverged at seq {seq} ({method}): expected {expected}, got {actual}. {Explain(expected, actual, codeChangeOnly)}")
{
    private const string CodeChanged = "restore the previous code, or audit the change (mw audit)";
    private const string Outside = "read the clock, a GUID or random numbers directly (DateTime.Now/UtcNow, Guid.NewGuid(), new Random()) instead of through Context " +
                                   "(the MW0001 analyzer flags it); use Context.UtcNow, Context.NewGuid() and Context.Random";

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

    /// <summary>
    /// The causes to name: a code change alone for what only code can change (a checkpoint, a method, arguments);
    /// otherwise both, nondeterminism outside the context first when clock or GUID values are what differ.
    /// </summary>
    private static string Explain(string expected, string actual, bool codeChangeOnly)
    {
        if (codeChangeOnly) return $"The component's code or state type no longer reproduces its log; {CodeChanged}.";
        if (DiffersInVolatileValues(expected, actual))
            return $"Likely cause: the turn {Outside}. Otherwise the component's code changed since the turn ran: {CodeChanged}.";
        return $"Either the component's code changed since the turn ran ({CodeChanged}), or the turn {Outside}.";
    }

    /// <summary>Both sides hold timestamps or GUIDs, and not the same ones: values a run made up for itself.</summary>
    private static bool DiffersInVolatileValues(string expected, string actual)
    {
        var recorded = VolatileValue().Matches(expected).Select(m => m.Value).ToList();
        var reproduced = VolatileValue().Matches(actual).Select(m => m.Value).ToList();
        return recorded.Count > 0 && reproduced.Count > 0 && !recorded.SequenceEqual(reproduced);
    }

    [GeneratedRegex(@"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b|\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?")]
    private static partial Regex VolatileValue();
}
