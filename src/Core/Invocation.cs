using Middleware.Grains;

namespace Middleware.Core;

/// <summary>
/// One request to a component: which component, which method, the JSON-array arguments, and the request
/// id that makes it exactly-once (a retry must send the same id, method and arguments).
/// </summary>
public sealed record Invocation(ComponentId Target, string RequestId, string Method, ReadOnlyMemory<byte> Args, string? SessionId = null, string? Caller = null)
{
    /// <summary>
    /// The deadline of a component call made inside a turn (<c>Context.Call&lt;T&gt;(key, timeout)</c>), or null for the
    /// runtime's <c>CallTimeout</c>. Not sent over the wire: the calling silo enforces it.
    /// </summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>
    /// The caller's record that must be written before anything of this call may be (a partial record of the calling turn,
    /// queued but not yet durable, in the calling runtime's group-commit writer), or null. Set by the engine for calls within
    /// one runtime; never sent over the wire: whatever takes the invocation out of the runtime waits for it first.
    /// </summary>
    internal object? DurableAfter { get; init; }
}
