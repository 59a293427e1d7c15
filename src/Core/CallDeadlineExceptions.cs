using Middleware.Grains;

namespace Middleware.Core;

/// <summary>
/// A component call passed its deadline (<c>RuntimeOptions.CallTimeout</c>, default 30 s, or the timeout given to
/// <c>Context.Call&lt;T&gt;(key, timeout)</c>) and the callee had not committed the request: the caller fenced the
/// callee's request id through the outcome protocol, so that request will never run. In a turn, this is recorded as
/// the call's outcome (replay reproduces it) and thrown into the component code, like any error reply. Final: send the
/// operation again (a new call is a new request id) if it is still wanted.
/// </summary>
public sealed class CallTimeoutException : Exception
{
    /// <summary>Rebuilds the exception from a recorded error message (see <see cref="ReplyDecoder.ToException"/>).</summary>
    public CallTimeoutException(string message)
        : base(message)
    {
    }

    /// <summary>The call to <paramref name="target"/> under <paramref name="requestId"/> passed <paramref name="timeout"/>.</summary>
    public CallTimeoutException(ComponentId target, string method, string requestId, TimeSpan timeout)
        : base(MessageFor(target, method, requestId, timeout))
    {
    }

    /// <summary>The message for a call that passed its deadline.</summary>
    public static string MessageFor(ComponentId target, string method, string requestId, TimeSpan timeout) =>
        $"The call to {target}.{method} (request '{requestId}') did not complete within its deadline of {timeout.TotalMilliseconds:0} ms; " +
        "the request was fenced and will never run. Call again if the operation is still wanted, or give the call more time " +
        "(Context.Call<T>(key, timeout), RuntimeOptions.CallTimeout or the silo's --call-timeout-ms).";
}

/// <summary>
/// Requests of separate call chains waited on each other in a cycle (component A's turn waits on B while B's turn waits
/// on A): turns are not reentrant, so none of them could go on. The cycle was detected from the wait-for edges (at
/// once within a silo, by a probe that follows the edges across silos) and this call, the youngest waiter in it, was
/// cancelled: its callee's request id was fenced through the outcome protocol (it had not started, the callee was busy)
/// and this exception is recorded as the call's outcome, so replay reproduces it. The message names the cycle.
/// </summary>
public sealed class DeadlockException : Exception
{
    /// <summary>Rebuilds the exception from a recorded error message (see <see cref="ReplyDecoder.ToException"/>).</summary>
    public DeadlockException(string message)
        : base(message)
    {
    }

    /// <summary>A deadlock along <paramref name="cycle"/> (component ids in wait order; the first waits on the second...).</summary>
    public DeadlockException(IReadOnlyList<string> cycle, string requestId)
        : base(MessageFor(cycle, requestId))
    {
    }

    /// <summary>The message for the cycle <paramref name="cycle"/>, broken by cancelling the call <paramref name="requestId"/>.</summary>
    public static string MessageFor(IReadOnlyList<string> cycle, string requestId) =>
        $"deadlock: {string.Join(" -> ", cycle)} -> {cycle[0]} (separate requests wait on each other; turns are not reentrant). " +
        $"This call (request '{requestId}'), the youngest waiter, was cancelled and fenced. " +
        "Avoid components that call each other from separate requests, or retry the operation.";
}
