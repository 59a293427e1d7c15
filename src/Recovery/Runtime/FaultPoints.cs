using System.Runtime.InteropServices;

namespace Middleware.Recovery.Runtime;

/// <summary>
/// Fault points for crash tests of real processes, off unless an environment variable names them (read once; when
/// unset each point costs one null check). <c>MIDDLEWARE_FAULT_FREEZE_BEFORE_OUTBOUND=PREFIX</c> freezes the process
/// (SIGSTOP to itself, Linux) once, at the first outbound call whose request id starts with PREFIX, after the turn's
/// partial record is durable and before the call leaves: exactly where a paused owner is most dangerous, because on
/// SIGCONT it makes the call its stale turn was about to make. It prints <c>fault point: frozen before outbound call
/// ID</c> on standard output first, so a test knows the moment.
/// </summary>
internal static class FaultPoints
{
    private const int SigStop = 19;
    private static readonly string? FreezeBeforeOutbound = Environment.GetEnvironmentVariable("MIDDLEWARE_FAULT_FREEZE_BEFORE_OUTBOUND");
    private static int _frozen;

    /// <summary>
    /// True when <see cref="BeforeOutbound"/> would freeze at <paramref name="requestId"/>: a call that does not wait for its
    /// partial record (CallOrder.cs) waits for it there, so the point keeps its moment (partial durable, call not sent).
    /// </summary>
    public static bool FreezesBefore(string requestId) =>
        FreezeBeforeOutbound is { } prefix && requestId.StartsWith(prefix, StringComparison.Ordinal) && Volatile.Read(ref _frozen) == 0;

    /// <summary>Called once the partial record of a turn is durable, just before its outbound call <paramref name="requestId"/>.</summary>
    public static void BeforeOutbound(string requestId)
    {
        if (FreezeBeforeOutbound is not { } prefix || !requestId.StartsWith(prefix, StringComparison.Ordinal)) return;
        if (Interlocked.Exchange(ref _frozen, 1) == 1) return;
        Console.Out.WriteLine($"fault point: frozen before outbound call {requestId}");
        Console.Out.Flush();
        _ = kill(Environment.ProcessId, SigStop);
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);
}
