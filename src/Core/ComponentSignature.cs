using System.Reflection;

namespace Middleware.Core;

/// <summary>
/// The rules on a component method's signature, checked at registration (and when a caller first builds a proxy):
/// arguments and results are recorded in the log as JSON, so each must be a value that can be written and read back.
/// Every message names the interface, the method, the parameter and the fix.
/// </summary>
internal static class ComponentSignature
{
    /// <summary>The <c>T</c> of a <c>Task&lt;T&gt;</c> return, null for <c>Task</c>; anything else is refused.</summary>
    public static Type? ResultOf(string where, Type returnType)
    {
        if (returnType == typeof(Task)) return null;
        if (returnType.IsGenericType && returnType.GetGenericTypeDefinition() == typeof(Task<>))
        {
            var result = returnType.GetGenericArguments()[0];
            if (Unsupported(result) is { } why)
                throw new ComponentDefinitionException($"{where} returns Task<{Display(result)}>, {why}. {FixFor(result, "return")}");
            return result;
        }

        var fix = returnType == typeof(void) ? "change it to Task"
            : returnType == typeof(ValueTask) ? "change it to Task"
            : returnType.IsGenericType && returnType.GetGenericTypeDefinition() == typeof(ValueTask<>) ? $"change it to Task<{Display(returnType.GetGenericArguments()[0])}>"
            : IsAsyncEnumerable(returnType) ? $"streams are not recorded turn by turn: return a page instead, for example Task<IReadOnlyList<{Display(returnType.GetGenericArguments()[0])}>>"
            : $"for example Task<{Display(returnType)}>";
        throw new ComponentDefinitionException($"{where} returns {Display(returnType)}; component methods must return Task or Task<T>: {fix}.");
    }

    /// <summary>Refuses a parameter that cannot travel as a recorded JSON argument.</summary>
    public static void CheckParameter(string where, ParameterInfo p)
    {
        var type = p.ParameterType;
        if (type.IsByRef || p.IsOut)
            throw new ComponentDefinitionException($"{where} has ref/out/in parameter '{p.Name}'; component arguments travel by value, so pass it by value and return a result instead.");
        if (type == typeof(CancellationToken))
            throw new ComponentDefinitionException($"{where} takes a CancellationToken ('{p.Name}'); turns run to completion once started, so remove the parameter (callers cancel their wait with the client's per-call token instead).");
        if (Unsupported(type) is { } why)
            throw new ComponentDefinitionException($"{where} has parameter '{p.Name}' of type {Display(type)}, {why}. {FixFor(type, "pass")}");
    }

    /// <summary>Why <paramref name="type"/> cannot be a recorded argument or result, or null when it can.</summary>
    private static string? Unsupported(Type type)
    {
        var t = Nullable.GetUnderlyingType(type) ?? type;
        if (t.ContainsGenericParameters) return "an open generic type; the log must name concrete types";
        if (t.IsPointer || t == typeof(IntPtr) || t == typeof(UIntPtr) || t.IsFunctionPointer) return "a pointer, which means nothing in another process or after a restart";
        if (t.IsByRefLike) return "a ref struct (such as Span<T>), which cannot be stored or awaited across";
        if (typeof(Delegate).IsAssignableFrom(t)) return "a delegate (code), which cannot be recorded as data";
        if (typeof(System.IO.Stream).IsAssignableFrom(t)) return "a Stream, which cannot be recorded in the log or sent again on a retry";
        if (typeof(Task).IsAssignableFrom(t) || t == typeof(ValueTask) || (t.IsGenericType && t.GetGenericTypeDefinition() == typeof(ValueTask<>)))
            return "a task, which is a running operation rather than a value";
        if (IsAsyncEnumerable(t)) return "an asynchronous stream, which is not a value that can be recorded";
        if (typeof(Exception).IsAssignableFrom(t) || typeof(MemberInfo).IsAssignableFrom(t) || typeof(Assembly).IsAssignableFrom(t)
            || typeof(WaitHandle).IsAssignableFrom(t) || t == typeof(CancellationToken) || t == typeof(Thread))
            return "a runtime object, not data that can be recorded as JSON";
        if (t.IsArray) return Unsupported(t.GetElementType()!) is { } element ? $"an array whose elements are {element}" : null;
        if (t.IsGenericType)
        {
            foreach (var argument in t.GetGenericArguments())
            {
                if (Unsupported(argument) is { } inner) return $"a {Display(t.GetGenericTypeDefinition())} of {Display(argument)}, {inner}";
            }
        }

        return null;
    }

    private static string FixFor(Type type, string verb)
    {
        var t = Nullable.GetUnderlyingType(type) ?? type;
        if (typeof(System.IO.Stream).IsAssignableFrom(t) || t.IsByRefLike)
            return $"Fix: {verb} the bytes as byte[] or ReadOnlyMemory<byte> (or store large content elsewhere and {verb} a reference to it).";
        if (IsAsyncEnumerable(t))
            return $"Fix: {verb} a list (for example IReadOnlyList<{Display(t.GetGenericArguments()[0])}>), one page per call.";
        return $"Fix: {verb} a plain data type instead (numbers, strings, records, arrays, lists and dictionaries of them).";
    }

    private static bool IsAsyncEnumerable(Type t) => t.IsGenericType && t.GetGenericTypeDefinition() == typeof(IAsyncEnumerable<>);

    /// <summary>A type as C# spells it: <c>Task&lt;int&gt;</c>, not <c>Task`1</c>.</summary>
    public static string Display(Type type)
    {
        if (Nullable.GetUnderlyingType(type) is { } underlying) return Display(underlying) + "?";
        if (type.IsArray) return Display(type.GetElementType()!) + "[]";
        var keyword = Type.GetTypeCode(type) switch
        {
            TypeCode.Boolean => "bool", TypeCode.Byte => "byte", TypeCode.SByte => "sbyte", TypeCode.Char => "char",
            TypeCode.Int16 => "short", TypeCode.UInt16 => "ushort", TypeCode.Int32 => "int", TypeCode.UInt32 => "uint",
            TypeCode.Int64 => "long", TypeCode.UInt64 => "ulong", TypeCode.Single => "float", TypeCode.Double => "double",
            TypeCode.Decimal => "decimal", TypeCode.String => "string",
            _ => type == typeof(object) ? "object" : type == typeof(void) ? "void" : null,
        };
        if (keyword is not null && !type.IsEnum) return keyword;
        if (!type.IsGenericType) return type.Name;
        var name = type.Name;
        var tick = name.IndexOf('`');
        if (tick >= 0) name = name[..tick];
        return $"{name}<{string.Join(", ", type.GetGenericArguments().Select(a => a.IsGenericParameter ? a.Name : Display(a)))}>";
    }
}
