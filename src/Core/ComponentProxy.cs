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

    // One proxy per interface, made by DispatchProxy (reflection: its generated type's constructor is bound and invoked);
    // every other proxy of that interface is a copy of it with its own fields (Create).
    private static readonly ConcurrentDictionary<Type, ComponentProxy> Prototypes = new();

    private Func<Invocation, Task<ComponentReply>>? _invoke;
    private Func<ComponentId, ComponentMethod, ReadOnlyMemory<byte>, Task<ComponentReply>>? _call;
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
        var p = New<T>(typeName, methods, json, key, sessionId);
        p._invoke = invoke;
        p._nextRequestId = nextRequestId;
        return (T)(object)p;
    }

    /// <summary>
    /// A proxy whose calls go to <paramref name="call"/> with the target, the method and the encoded arguments (no
    /// <see cref="Invocation"/>: the caller builds the one it sends, under its own request id).
    /// </summary>
    internal static T Create<T>(Func<ComponentId, ComponentMethod, ReadOnlyMemory<byte>, Task<ComponentReply>> call, string typeName, IReadOnlyDictionary<string, ComponentMethod> methods, JsonSerializerOptions json, string key, string? sessionId = null)
        where T : IRecoverableComponent
    {
        var p = New<T>(typeName, methods, json, key, sessionId);
        p._call = call;
        return (T)(object)p;
    }

    /// <summary>A fresh proxy of <typeparamref name="T"/>: a copy of the interface's prototype (no reflection per proxy), aimed at <c>typeName/key</c>.</summary>
    private static ComponentProxy New<T>(string typeName, IReadOnlyDictionary<string, ComponentMethod> methods, JsonSerializerOptions json, string key, string? sessionId)
        where T : IRecoverableComponent
    {
        var prototype = Prototypes.GetOrAdd(typeof(T), static _ => (ComponentProxy)(object)Create<T, ComponentProxy>()!);
        var p = (ComponentProxy)prototype.MemberwiseClone();
        p._methods = methods;
        p._json = json;
        p._id = new ComponentId(typeName, key);
        p._sessionId = sessionId;
        return p;
    }

    /// <inheritdoc />
    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        var method = _methods[targetMethod!.Name];
        var call = _call;
        var inv = call is null ? new Invocation(_id, _nextRequestId(), method.Name, method.EncodeArgs(args, _json), _sessionId) : null;
        var encoded = inv is null ? method.EncodeArgs(args, _json) : default;
        Task<ComponentReply> reply;
        try
        {
            reply = inv is null ? call!(_id, method, encoded) : _invoke!(inv);
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
