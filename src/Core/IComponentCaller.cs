
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
}
