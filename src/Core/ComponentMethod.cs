using System.Linq.Expressions;
using System.Reflection;
using System.Text.Json;
using Middleware.Grains;

namespace Middleware.Core;

/// <summary>One dispatchable component method: how to decode its arguments, call it and encode its result.</summary>
public sealed class ComponentMethod
{
    private static readonly MethodInfo AwaitGeneric = typeof(ComponentMethod).GetMethod(nameof(AwaitResult), BindingFlags.NonPublic | BindingFlags.Static)!;
    private static readonly MethodInfo ResultGeneric = typeof(ComponentMethod).GetMethod(nameof(ResultOf), BindingFlags.NonPublic | BindingFlags.Static)!;
    private readonly Func<Task, object?> _result;
    private readonly Func<Task, Task<object?>> _await;
    private readonly Func<object, object?[], Task> _call;
    private readonly bool _primitiveArgs;
    private readonly bool _primitiveResult;

    private ComponentMethod(MethodInfo interfaceMethod, Type[] parameterTypes, Type? resultType, bool readOnly)
    {
        InterfaceMethod = interfaceMethod;
        ParameterTypes = parameterTypes;
        ResultType = resultType;
        IsReadOnly = readOnly;
        _call = CompileCall(interfaceMethod, parameterTypes);
        _primitiveArgs = parameterTypes.All(PrimitiveJson.Handles);
        _primitiveResult = resultType is not null && PrimitiveJson.Handles(resultType);
        _await = resultType is null
            ? static async t => { await t.ConfigureAwait(false); return null; }
            : AwaitGeneric.MakeGenericMethod(resultType).CreateDelegate<Func<Task, Task<object?>>>();
        _result = resultType is null ? static _ => null : ResultGeneric.MakeGenericMethod(resultType).CreateDelegate<Func<Task, object?>>();
    }

    /// <summary>The method name, as logged.</summary>
    public string Name => InterfaceMethod.Name;

    /// <summary>The interface method.</summary>
    public MethodInfo InterfaceMethod { get; }

    /// <summary>Parameter types in order.</summary>
    public Type[] ParameterTypes { get; }

    /// <summary>The <c>T</c> of <c>Task&lt;T&gt;</c>, or null for <c>Task</c>.</summary>
    public Type? ResultType { get; }

    /// <summary>Marked <see cref="ReadOnlyTurnAttribute"/>: not logged.</summary>
    public bool IsReadOnly { get; }

    internal static ComponentMethod Create(Type iface, MethodInfo m, Type? grainType)
    {
        var where = $"{iface.Name}.{m.Name}";
        if (m.IsGenericMethod)
            throw new ComponentDefinitionException($"{where} is generic; component methods cannot be generic because the log must name concrete argument types.");
        var result = ComponentSignature.ResultOf(where, m.ReturnType);
        foreach (var p in m.GetParameters()) ComponentSignature.CheckParameter(where, p);

        var readOnly = m.GetCustomAttribute<ReadOnlyTurnAttribute>() is not null
            || (grainType is not null && GetImplementation(iface, m, grainType)?.GetCustomAttribute<ReadOnlyTurnAttribute>() is not null);
        return new ComponentMethod(m, m.GetParameters().Select(p => p.ParameterType).ToArray(), result, readOnly);
    }

    private static MethodInfo? GetImplementation(Type iface, MethodInfo m, Type grainType)
    {
        var map = grainType.GetInterfaceMap(iface);
        var i = Array.IndexOf(map.InterfaceMethods, m);
        return i < 0 ? null : map.TargetMethods[i];
    }

    /// <summary>Calls the method on a component object and awaits its result.</summary>
    public Task<object?> InvokeAsync(object grain, object?[] args)
    {
        Task task;
        try
        {
            task = _call(grain, args);
        }
        catch (Exception e)
        {
            // A method that throws before its first await: the same outcome as a faulted task.
            return Task.FromException<object?>(e);
        }

        return _await(task);
    }

    /// <summary>
    /// Calls the method like <see cref="InvokeAsync"/>, but a method that finished without awaiting (most turns) gives its
    /// result at once: no task, no continuation.
    /// </summary>
    public ValueTask<object?> InvokeValueAsync(object grain, object?[] args)
    {
        Task task;
        try
        {
            task = _call(grain, args);
        }
        catch (Exception e)
        {
            return ValueTask.FromException<object?>(e);
        }

        return task.IsCompletedSuccessfully ? new ValueTask<object?>(_result(task)) : new ValueTask<object?>(_await(task));
    }

    /// <summary>Encodes arguments as a JSON array.</summary>
    public byte[] EncodeArgs(object?[]? args, JsonSerializerOptions json)
    {
        if (_primitiveArgs && args is not null && args.Length == ParameterTypes.Length && Array.IndexOf(args, null) < 0 && PrimitiveJson.PlainFor(json))
            return PrimitiveJson.EncodeArray(args);
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(64);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartArray();
            for (var i = 0; i < ParameterTypes.Length; i++)
            {
                JsonSerializer.Serialize(w, args is null ? null : args[i], ParameterTypes[i], json);
            }

            w.WriteEndArray();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Decodes arguments encoded by <see cref="EncodeArgs"/>; a malformed array is a clear error.</summary>
    public object?[] DecodeArgs(ReadOnlySpan<byte> bytes, JsonSerializerOptions json)
    {
        var args = new object?[ParameterTypes.Length];
        if (_primitiveArgs && PrimitiveJson.PlainFor(json) && PrimitiveJson.TryDecodeArray(bytes, ParameterTypes, args)) return args;
        try
        {
            var r = new Utf8JsonReader(bytes);
            if (!r.Read() || r.TokenType != JsonTokenType.StartArray) throw new JsonException("expected a JSON array");
            for (var i = 0; i < args.Length; i++)
            {
                if (!r.Read() || r.TokenType == JsonTokenType.EndArray) throw new JsonException($"expected {args.Length} arguments, got {i}");
                args[i] = JsonSerializer.Deserialize(ref r, ParameterTypes[i], json);
            }

            if (!r.Read() || r.TokenType != JsonTokenType.EndArray) throw new JsonException($"more than {args.Length} arguments");
            // Exact decoding: nothing but white space may follow the array (a second value or stray bytes are refused, not ignored).
            var rest = bytes[(int)r.BytesConsumed..].TrimStart(" \t\r\n"u8);
            if (!rest.IsEmpty) throw new JsonException($"{rest.Length} trailing byte(s) after the argument array");
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"The arguments of {InterfaceMethod.DeclaringType!.Name}.{Name} could not be decoded: {e.Message}. Send a JSON array of ({string.Join(", ", ParameterTypes.Select(t => t.Name))}).", e);
        }

        return args;
    }

    /// <summary>Encodes a result as JSON (empty for void methods).</summary>
    public byte[] EncodeResult(object? result, JsonSerializerOptions json) =>
        ResultType is null ? []
        : _primitiveResult && result is not null && PrimitiveJson.PlainFor(json) ? PrimitiveJson.EncodeValue(result)
        : JsonSerializer.SerializeToUtf8Bytes(result, ResultType, json);

    /// <summary>Decodes a result encoded by <see cref="EncodeResult"/>.</summary>
    public object? DecodeResult(ReadOnlySpan<byte> bytes, JsonSerializerOptions json) =>
        ResultType is null ? null
        : _primitiveResult && PrimitiveJson.PlainFor(json) && PrimitiveJson.TryDecodeValue(bytes, ResultType, out var value) ? value
        : JsonSerializer.Deserialize(bytes, ResultType, json);

    /// <summary>A compiled call (grain, args) => ((IFace)grain).Method((T0)args[0], ...): no reflection per turn.</summary>
    private static Func<object, object?[], Task> CompileCall(MethodInfo method, Type[] parameterTypes)
    {
        var grain = Expression.Parameter(typeof(object), "grain");
        var args = Expression.Parameter(typeof(object?[]), "args");
        var call = Expression.Call(
            Expression.Convert(grain, method.DeclaringType!),
            method,
            parameterTypes.Select((t, i) => Expression.Convert(Expression.ArrayIndex(args, Expression.Constant(i)), t)));
        return Expression.Lambda<Func<object, object?[], Task>>(Expression.Convert(call, typeof(Task)), grain, args).Compile();
    }

    private static async Task<object?> AwaitResult<T>(Task task) => await ((Task<T>)task).ConfigureAwait(false);

    private static object? ResultOf<T>(Task task) => ((Task<T>)task).Result;
}
