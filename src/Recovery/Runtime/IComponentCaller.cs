using Middleware.Recovery.Log;

namespace Middleware.Recovery.Runtime;

/// <summary>
/// Delivers a component-to-component call made inside a turn (<c>Context.Call&lt;T&gt;(key)</c>) to the callee,
/// wherever it runs, and returns its durable reply. <see cref="RuntimeOptions.Caller"/>; null means the
/// <see cref="LocalRuntime"/> serves the call in-process.
/// <para>
/// Return the callee's reply, including a recorded error reply: it is recorded as the call's outcome. Throw only when
/// the call could not be delivered or its reply is not durable (transport or store failure, owner unreachable): the
/// calling turn is then not recorded, its activation is discarded, its caller gets <see cref="TurnNotDurableException"/>,
/// and a retry of the calling request resumes the turn and sends the call again under the same request id. A
/// <see cref="CallCycleException"/> is the exception to that rule: it is recorded as the call's outcome.
/// </para>
/// </summary>
public interface IComponentCaller
{
    /// <summary>Runs <paramref name="invocation"/> on its target (exactly once per request id) and returns the durable reply.</summary>
    Task<TurnReply> InvokeAsync(Invocation invocation, CancellationToken cancellationToken);
}
