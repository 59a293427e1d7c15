using Middleware.Grains;

namespace Middleware.Testing;

/// <summary>What a recovery check of the harness compared.</summary>
public enum RecoveryCheck
{
    /// <summary>A replayed turn did not reproduce its recorded reply (or the reply the caller got), or its nondeterminism or outbound calls.</summary>
    Reply,

    /// <summary>The state rebuilt by replay differs from the live state.</summary>
    State,

    /// <summary>The live state does not survive a checkpoint (written to JSON and read back it is not the same).</summary>
    Checkpoint,
}

/// <summary>
/// A component would not survive a crash as it is: replaying its log (what recovery does) did not give the reply its
/// caller got or the state it had, or its state does not survive a checkpoint. Names the component, the seq and method
/// of the turn, what was expected (recorded, live) and what recovery produced, and the likely fix.
/// </summary>
public sealed class RecoveryCheckException(RecoveryCheck check, ComponentId component, long seq, string method, string expected, string actual, string fix, Exception? inner = null)
    : Exception($"{component} would not recover as it ran: {Describe(check)} at seq {seq} ({method}): expected {expected}, got {actual}. {fix}", inner)
{
    /// <summary>What differed.</summary>
    public RecoveryCheck Check { get; } = check;

    /// <summary>The component.</summary>
    public ComponentId Component { get; } = component;

    /// <summary>The seq of the turn (the last one replayed when the state differs).</summary>
    public long Seq { get; } = seq;

    /// <summary>The method of that turn.</summary>
    public string Method { get; } = method;

    /// <summary>What the live run produced (recorded reply, live state).</summary>
    public string Expected { get; } = expected;

    /// <summary>What replay or the checkpoint produced.</summary>
    public string Actual { get; } = actual;

    private static string Describe(RecoveryCheck check) => check switch
    {
        RecoveryCheck.Reply => "replay diverged",
        RecoveryCheck.State => "the replayed state differs from the live state",
        _ => "its state does not survive a checkpoint",
    };
}
