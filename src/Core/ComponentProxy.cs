using System.Collections.Concurrent;
using System.Reflection;
using System.Text.Json;
using Middleware.Grains;

namespace Middleware.Core;

/// <summary>
/// A typed proxy for a component interface: each call becomes an <see cref="Invocation"/> with a request id
/// from the proxy's id source, and its reply becomes the method's result or exception.
/// </summary>
public class ComponentProxy : DispatchProxy
{
    private static readonly ConcurrentDictionary<Type, Func<Task<ComponentReply>, ComponentMethod, JsonSerializerOptions, Task>> Adapters = new();
    private static readonly MethodInfo TypedGeneric = typeof(ComponentProxy).GetMethod(nameof(TypedCore), BindingFlags.NonPublic | BindingFlags.Static)!;

    private Func<Invocation, Task<ComponentReply>> _invoke = null!;
    private IReadOnlyDictionary<string, ComponentMethod> _methods = null!;
    private JsonSerializerOptions _json = null!;
    private ComponentId _id;
    private Func<string> _nextRequestId = null!;
    private string? _sessionId;

    /// <summary>
    /// Creates a proxy of <typeparamref name="T"/> for the component <c>TypeName/<paramref name="key"/></c> that sends
    /// each call to <paramref name="invoke"/> under the next id of <paramref name="nextRequestId"/>. Built from the
    /// interface alone (<see cref="ComponentInterface.Of"/>): no implementation class is needed.
    /// </summary>
    public static T Create<T>(Func<Invocation, Task<ComponentReply>> invoke, string key, Func<string> nextRequestId, string? sessionId = null, JsonSerializerOptions? json = null)
        where T : IRecoverableComponent
    {
        var (name, methods) = ComponentInterface.Of(typeof(T));
        return Create<T>(invoke, name, methods, json ?? ComponentJson.Default, key, nextRequestId, sessionId);
    }

    /// <summary>Creates a proxy from a method table (a registered type's, or a caller's view of an interface).</summary>
    internal static T Create<T>(Func<Invocation, Task<ComponentReply>> invoke, string typeName, IReadOnlyDictionary<string, ComponentMethod> methods, JsonSerializerOptions json, string key, Func<string> nextRequestId, string? sessionId = null)
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

    /// <inheritdoc />
    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        var method = _methods[targetMethod!.Name];
        var inv = new Invocation(_id, _nextRequestId(), method.Name, method.EncodeArgs(args, _json), _sessionId);
        Task<ComponentReply> reply;
        try
        {
            reply = _invoke(inv);
        }
        catch (Exception e)
        {
            reply = Task.FromException<ComponentReply>(e);
        }

        var adapter = Adapters.GetOrAdd(method.ResultType ?? typeof(void), static t => t == typeof(void)
            ? static async (r, m, json) => Unwrap(await r.ConfigureAwait(false), m, json)
            : TypedGeneric.MakeGenericMethod(t).CreateDelegate<Func<Task<ComponentReply>, ComponentMethod, JsonSerializerOptions, Task>>());
        return adapter(reply, method, _json);
    }

    private static object? Unwrap(ComponentReply reply, ComponentMethod method, JsonSerializerOptions json) =>
        reply.IsError ? throw ReplyDecoder.ToException(reply, json) : method.DecodeResult(reply.Result.Span, json);

    private static async Task<T> TypedCore<T>(Task<ComponentReply> reply, ComponentMethod method, JsonSerializerOptions json) =>
        (T)Unwrap(await reply.ConfigureAwait(false), method, json)!;
}
