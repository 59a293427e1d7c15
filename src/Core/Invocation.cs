using Middleware.Grains;

namespace Middleware.Core;

/// <summary>
/// One request to a component: which component, which method, the JSON-array arguments, and the request
/// id that makes it exactly-once (a retry must send the same id, method and arguments).
/// </summary>
public sealed record Invocation(ComponentId Target, string RequestId, string Method, ReadOnlyMemory<byte> Args, string? SessionId = null, string? Caller = null);
