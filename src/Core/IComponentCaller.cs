using Middleware.Grains;

namespace Middleware.Core;

/// <summary>
/// Delivers a component-to-component call made inside a turn (<c>Context.Call&lt;T&gt;(key)</c>) to the callee,
/// wherever it runs, and returns its durable reply. The engine's runtime options name one (a silo's router); without
/// one, the runtime serves the call in-process.
/// <para>
/// Return the callee's reply, including a recorded error reply: it is recorded as the call's outcome. Throw only when
/// the call could not be delivered or its reply is not durable (transport or store failure, owner unreachable): the
/// calling turn is then not recorded and stays in doubt (its partial record holds its place), its caller gets a
/// <see cref="RequestNotAcknowledgedException"/>, and the turn is completed later with the call sent again under the
/// same request id. A <see cref="CallCycleException"/> is the exception to that rule: it is recorded as the call's
/// outcome.
/// </para>
/// </summary>
public interface IComponentCaller
{
    /// <summary>Runs <paramref name="invocation"/> on its target (exactly once per request id) and returns the durable reply.</summary>
    Task<ComponentReply> InvokeAsync(Invocation invocation, CancellationToken cancellationToken);

    /// <summary>
    /// The outcome protocol (DESIGN.md, virtual sessions): whether <paramref name="requestId"/> committed on
    /// <paramref name="target"/> (with its reply), or not, in which case its owner fenced the id durably so it never runs.
    /// Used when a call passes its deadline or is chosen to break a deadlock. Throw when the owner cannot be reached (the
    /// calling turn stays in doubt and asks again later). The default refuses: a caller without it cannot time calls out.
    /// </summary>
    Task<RequestOutcome> GetOutcomeAsync(ComponentId target, string requestId, CancellationToken cancellationToken) =>
        throw new NotSupportedException($"{GetType().Name} cannot ask for the outcome of request '{requestId}' on {target}; implement IComponentCaller.GetOutcomeAsync to use call deadlines.");

    /// <summary>
    /// Follows the wait-for edge out of <paramref name="component"/> on the silo that owns it (a deadlock probe, see
    /// <c>WaitForGraph</c>): the path of waiting components from there, or empty when it waits on nothing. The default
    /// knows no other silo and answers empty.
    /// </summary>
    Task<IReadOnlyList<WaitEdge>> ProbeAsync(ComponentId component, IReadOnlyList<string> path, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<WaitEdge>>([]);
}
