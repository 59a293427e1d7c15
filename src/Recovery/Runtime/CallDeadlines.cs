using Middleware.Core;
using Middleware.Grains;

namespace Middleware.Recovery.Runtime;

/// <summary>
/// How the calls of one activation's turns leave it: through the runtime's caller, with a deadline and a wait-for edge
/// (docs/ARCHITECTURE.md, "Call deadlines and deadlocks"). While a call is out the running turn is parked
/// (<see cref="Activation.Park"/>), so requests queued behind it can be fenced aside. When the deadline passes, or the
/// call is chosen to break a deadlock, the callee's request id is settled through the outcome protocol
/// (<see cref="IComponentCaller.GetOutcomeAsync"/>): committed meanwhile, the call returns the real reply; not committed,
/// the id is fenced for good and the call returns the error reply of <see cref="CallTimeoutException"/> or
/// <see cref="DeadlockException"/>, which the turn records as the call's outcome like any reply, so replay reproduces
/// it. When the outcome cannot be learnt (the callee's owner is unreachable, a turn of it is in doubt) the call fails
/// as undeliverable: the calling turn stays in doubt and is completed later under the same request id.
/// </summary>
internal sealed class CallDeadlines(Activation activation, IComponentCaller inner, RuntimeServices services) : IComponentCaller
{
    /// <summary>Refuses a timeout that is not a positive time span (or infinite), naming the fix.</summary>
    public static void CheckTimeout(TimeSpan timeout)
    {
        if (timeout != Timeout.InfiniteTimeSpan && (timeout <= TimeSpan.Zero || timeout > TimeSpan.FromDays(1)))
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "A call timeout must be more than zero and at most one day, or Timeout.InfiniteTimeSpan for no deadline.");
    }

    public async Task<ComponentReply> InvokeAsync(Invocation invocation, CancellationToken cancellationToken)
    {
        var timeout = invocation.Timeout ?? services.Options.CallTimeout;
        // A read-only turn's calls are not logged and run read-only methods: nothing to fence, the error is just returned.
        var readOnly = invocation.RequestId.Contains(":read:", StringComparison.Ordinal);
        var graph = services.WaitFor;
        // One object is what the call waits on besides its reply: the shared deadline timer and a broken deadlock both
        // complete it (no cancellation source, delay task or timer per call).
        var wait = new CallWait();
        activation.Park();
        var edge = graph?.Add(activation.IdText, invocation.RequestId, invocation.Target.ToString(), invocation.Target, wait);
        var timed = false;
        try
        {
            var call = inner.InvokeAsync(invocation, cancellationToken);
            if (!call.IsCompleted && !wait.Task.IsCompleted && timeout != Timeout.InfiniteTimeSpan)
            {
                services.Deadlines.Add(wait, timeout);
                timed = true;
            }

            Task first = call.IsCompleted ? call : wait.Task.IsCompleted ? wait.Task : await Task.WhenAny(call, wait.Task).ConfigureAwait(false);
            if (timed) services.Deadlines.Remove(wait);
            timed = false;
            if (first == call) return OwnFence(await call.ConfigureAwait(false), invocation);
            Exception reason = wait.Task.Result is { } deadlock
                ? deadlock
                : new CallTimeoutException(invocation.Target, invocation.Method, invocation.RequestId, timeout);
            services.Counters.CountCallCancelled(reason is DeadlockException);
            if (readOnly)
            {
                Observe(call);
                return Replayer.ErrorReply(reason);
            }

            // The outcome protocol decides: the callee may have committed meanwhile (then that reply stands), else the id is
            // fenced and never runs. Until the answer is known the call is still out (the edge stays: it is a real wait).
            var outcome = await inner.GetOutcomeAsync(invocation.Target, invocation.RequestId, cancellationToken).ConfigureAwait(false);
            Observe(call);
            return outcome is { Committed: true, Reply: { } reply } ? OwnFence(reply, invocation) : Replayer.ErrorReply(reason);
        }
        finally
        {
            if (timed) services.Deadlines.Remove(wait);
            if (edge is not null) graph!.Remove(edge);
            activation.Unpark();
        }
    }

    public Task<RequestOutcome> GetOutcomeAsync(ComponentId target, string requestId, CancellationToken cancellationToken) =>
        inner.GetOutcomeAsync(target, requestId, cancellationToken);

    public Task<IReadOnlyList<WaitEdge>> ProbeAsync(ComponentId component, IReadOnlyList<string> path, CancellationToken cancellationToken) =>
        inner.ProbeAsync(component, path, cancellationToken);

    /// <summary>
    /// A call's own request id can only have been fenced by an earlier attempt of this turn whose deadline passed (or that
    /// broke a deadlock) but whose record did not become durable: the turn, completed again, sees the deadline it missed.
    /// </summary>
    private static ComponentReply OwnFence(ComponentReply reply, Invocation invocation) =>
        RequestOutcome.IsFenced(reply)
            ? Replayer.ErrorReply(new CallTimeoutException(
                $"The call to {invocation.Target}.{invocation.Method} (request '{invocation.RequestId}') was fenced by an earlier attempt of this turn " +
                "(its deadline passed, or it broke a deadlock) and will never run. Call again if the operation is still wanted."))
            : reply;

    /// <summary>The abandoned call completes later (with the fence reply, usually): observe it so its failure is not reported as unobserved.</summary>
    private static void Observe(Task<ComponentReply> call) =>
        _ = call.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
}
