using System.Collections.Concurrent;
using System.Reflection;
using Middleware.Grains;
using Middleware.Recovery.Log;

namespace Middleware.Recovery.Runtime;

/// <summary>
/// A typed proxy for a component interface: each call becomes an <see cref="Invocation"/> with a request id
/// from the proxy's id source, and its reply becomes the method's result or exception.
/// </summary>
public class ComponentProxy : DispatchProxy
{
    private static readonly ConcurrentDictionary<Type, Func<Task<TurnReply>, ComponentMethod, ComponentRegistry, Task>> Adapters = new();
    private static readonly MethodInfo TypedGeneric = typeof(ComponentProxy).GetMethod(nameof(TypedCore), BindingFlags.NonPublic | BindingFlags.Static)!;

    private Func<Invocation, Task<TurnReply>> _invoke = null!;
    private ComponentTypeInfo _type = null!;
    private ComponentRegistry _registry = null!;
    private ComponentId _id;
    private Func<string> _nextRequestId = null!;
    private string? _sessionId;

    /// <summary>Creates a proxy that sends its calls to <paramref name="invoke"/>.</summary>
    public static T Create<T>(Func<Invocation, Task<TurnReply>> invoke, ComponentRegistry registry, string key, Func<string> nextRequestId, string? sessionId = null)
        where T : IRecoverableComponent
    {
        var type = registry.Get(typeof(T));
        var proxy = Create<T, ComponentProxy>();
        var p = (ComponentProxy)(object)proxy!;
        p._invoke = invoke;
        p._type = type;
        p._registry = registry;
        p._id = new ComponentId(type.Name, key);
        p._nextRequestId = nextRequestId;
        p._sessionId = sessionId;
        return proxy;
    }

    /// <inheritdoc />
    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        var method = _type.Methods[targetMethod!.Name];
        var inv = new Invocation(_id, _nextRequestId(), method.Name, method.EncodeArgs(args, _registry.Json), _sessionId);
        var reply = _invoke(inv);
        var adapter = Adapters.GetOrAdd(method.ResultType ?? typeof(void), static t => t == typeof(void)
            ? static async (r, m, reg) => Unwrap(await r.ConfigureAwait(false), m, reg)
            : TypedGeneric.MakeGenericMethod(t).CreateDelegate<Func<Task<TurnReply>, ComponentMethod, ComponentRegistry, Task>>());
        return adapter(reply, method, _registry);
    }

    private static object? Unwrap(TurnReply reply, ComponentMethod method, ComponentRegistry registry) =>
        reply.IsError ? throw ReplyDecoder.ToException(reply) : method.DecodeResult(reply.Result.Span, registry.Json);

    private static async Task<T> TypedCore<T>(Task<TurnReply> reply, ComponentMethod method, ComponentRegistry registry) =>
        (T)Unwrap(await reply.ConfigureAwait(false), method, registry)!;
}
