using Middleware.Core;

namespace Middleware.Recovery.Runtime;

/// <summary>
/// A component caller that keeps the order of local calls (docs/ARCHITECTURE.md, "Calls that do not wait for the
/// caller's partial record"): an invocation made by a turn of this runtime may carry the caller's partial record that is
/// not durable yet, and such a caller either hands it to <see cref="LocalRuntime.InvokeAsync"/> of that runtime as it is
/// (the callee's records then commit only with or after it), or awaits <see cref="LocalRuntime.WhenCallerDurableAsync"/>
/// before it sends it anywhere else (another silo, a new invocation object, a queue). A turn whose runtime's caller is not
/// one waits for its partial record before every call, as always.
/// </summary>
public interface IOrderedLocalCaller : IComponentCaller;

/// <summary>
/// A record was not written because the record it depends on was not: the partial record of the turn that called the
/// component (queued in the same group-commit writer, refused or failed). Nothing of the callee's turn is durable.
/// </summary>
internal sealed class DependencyNotWrittenException(string message) : Exception(message)
{
    public static DependencyNotWrittenException Of(string componentId) =>
        new($"The record of {componentId} was not written: the partial record of the turn that called it was not written first (its write was refused or failed).");
}
