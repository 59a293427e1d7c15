using System.Collections.Concurrent;
using System.Reflection;
using System.Text.Json;
using Middleware.Grains;
using Middleware.Recovery.Log;

namespace Middleware.Recovery.Runtime;

/// <summary>
/// A typed proxy for a component interface: each call becomes an <see cref="Invocation"/> with a request id
/// from the proxy's id source, and its reply becomes the method's result or exception.
/// </summary>
public class ComponentProxy : DispatchProxy
{
    private static readonly ConcurrentDictionary<Type, Func<Task<TurnReply>, ComponentMethod, JsonSerializerOptions, Task>> Adapters = new();
    private static readonly ConcurrentDictionary<Type, (string Name, IReadOnlyDictionary<string, ComponentMethod> Methods)> Interfaces = new();
    private static readonly MethodInfo TypedGeneric = typeof(ComponentProxy).GetMethod(nameof(TypedCore), BindingFlags.NonPublic | BindingFlags.Static)!;

    private Func<Invocation, Task<TurnReply>> _invoke = null!;
    private IReadOnlyDictionary<string, ComponentMethod> _methods = null!;
    private JsonSerializerOptions _json = null!;
    private ComponentId _id;
    private Func<string> _nextRequestId = null!;
    private string? _sessionId;

    /// <summary>Creates a proxy that sends its calls to <paramref name="invoke"/>.</summary>
    public static T Create<T>(Func<Invocation, Task<TurnReply>> invoke, ComponentRegistry registry, string key, Func<string> nextRequestId, string? sessionId = null)
        where T : IRecoverableComponent
    {
        var type = registry.Get(typeof(T));
        return Create<T>(invoke, type.Name, type.Methods, registry.Json, key, nextRequestId, sessionId);
    }

    /// <summary>Creates a proxy from a method table (a registered type's, or a caller's view of an interface).</summary>
    internal static T Create<T>(Func<Invocation, Task<TurnReply>> invoke, string typeName, IReadOnlyDictionary<string, ComponentMethod> methods, JsonSerializerOptions json, string key, Func<string> nextRequestId, string? sessionId = null)
        where T : IRecoverableComponent
    {
        var id = new ComponentId(typeName, key);
        var proxy = Create<T, ComponentProxy>();
        var p = (ComponentProxy)(object)proxy!;
        p._invoke = invoke;
        p._methods = methods;
        p._json = json;
        p._id = id;
        p._nextRequestId = nextRequestId;
        p._sessionId = sessionId;
        return proxy;
    }

    /// <summary>
    /// A caller's view of a component interface that need not be registered here (its type name and methods, read-only
    /// flags from the interface only): enough to encode calls and decode replies.
    /// </summary>
    internal static (string Name, IReadOnlyDictionary<string, ComponentMethod> Methods) InterfaceView(Type interfaceType) =>
        Interfaces.GetOrAdd(interfaceType, static t => (ComponentTypeInfo.TypeNameOf(t), ComponentTypeInfo.MethodsOf(t, grainType: null)));

    /// <inheritdoc />
    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        var method = _methods[targetMethod!.Name];
        var inv = new Invocation(_id, _nextRequestId(), method.Name, method.EncodeArgs(args, _json), _sessionId);
        Task<TurnReply> reply;
        try
        {
            reply = _invoke(inv);
        }
        catch (Exception e)
        {
            reply = Task.FromException<TurnReply>(e);
        }

        var adapter = Adapters.GetOrAdd(method.ResultType ?? typeof(void), static t => t == typeof(void)
            ? static async (r, m, json) => Unwrap(await r.ConfigureAwait(false), m, json)
            : TypedGeneric.MakeGenericMethod(t).CreateDelegate<Func<Task<TurnReply>, ComponentMethod, JsonSerializerOptions, Task>>());
        return adapter(reply, method, _json);
    }

    private static object? Unwrap(TurnReply reply, ComponentMethod method, JsonSerializerOptions json) =>
        reply.IsError ? throw ReplyDecoder.ToException(reply) : method.DecodeResult(reply.Result.Span, json);

    private static async Task<T> TypedCore<T>(Task<TurnReply> reply, ComponentMethod method, JsonSerializerOptions json) =>
        (T)Unwrap(await reply.ConfigureAwait(false), method, json)!;
}
