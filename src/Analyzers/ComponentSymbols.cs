using System.Linq;
using Microsoft.CodeAnalysis;

namespace Middleware.Analyzers;

/// <summary>The programming model's types as symbols of one compilation, and the questions every rule asks of them.</summary>
internal sealed class ComponentSymbols
{
    /// <summary>The way messages spell types: as C# does, without namespaces (<c>Task&lt;int&gt;</c>, <c>Stream</c>).</summary>
    public static readonly SymbolDisplayFormat Display = SymbolDisplayFormat.MinimallyQualifiedFormat;

    private ComponentSymbols(Compilation compilation, INamedTypeSymbol component, INamedTypeSymbol grainBase)
    {
        Compilation = compilation;
        Component = component;
        GrainBase = grainBase;
        Task = compilation.GetTypeByMetadataName("System.Threading.Tasks.Task");
        TaskOfT = compilation.GetTypeByMetadataName("System.Threading.Tasks.Task`1");
        ValueTask = compilation.GetTypeByMetadataName("System.Threading.Tasks.ValueTask");
        ValueTaskOfT = compilation.GetTypeByMetadataName("System.Threading.Tasks.ValueTask`1");
        AsyncEnumerable = compilation.GetTypeByMetadataName("System.Collections.Generic.IAsyncEnumerable`1");
        CancellationToken = compilation.GetTypeByMetadataName("System.Threading.CancellationToken");
        Stream = compilation.GetTypeByMetadataName("System.IO.Stream");
        RuntimeObjects = new[] { "System.Exception", "System.Reflection.MemberInfo", "System.Reflection.Assembly", "System.Threading.WaitHandle", "System.Threading.Thread" }
            .Select(compilation.GetTypeByMetadataName).Where(t => t is not null).Cast<INamedTypeSymbol>().ToArray();
    }

    public Compilation Compilation { get; }

    /// <summary>Middleware.Grains.IRecoverableComponent.</summary>
    public INamedTypeSymbol Component { get; }

    /// <summary>Middleware.Grains.RecoverableGrain&lt;TState&gt;.</summary>
    public INamedTypeSymbol GrainBase { get; }

    public INamedTypeSymbol? Task { get; }

    public INamedTypeSymbol? TaskOfT { get; }

    public INamedTypeSymbol? ValueTask { get; }

    public INamedTypeSymbol? ValueTaskOfT { get; }

    public INamedTypeSymbol? AsyncEnumerable { get; }

    public INamedTypeSymbol? CancellationToken { get; }

    public INamedTypeSymbol? Stream { get; }

    private INamedTypeSymbol[] RuntimeObjects { get; }

    /// <summary>The symbols, or null when the compilation does not reference Middleware.Grains (then no rule applies).</summary>
    public static ComponentSymbols? For(Compilation compilation)
    {
        var component = compilation.GetTypeByMetadataName("Middleware.Grains.IRecoverableComponent");
        var grainBase = compilation.GetTypeByMetadataName("Middleware.Grains.RecoverableGrain`1");
        return component is null || grainBase is null ? null : new ComponentSymbols(compilation, component, grainBase);
    }

    /// <summary>An interface that extends IRecoverableComponent (not IRecoverableComponent itself).</summary>
    public bool IsComponentInterface(INamedTypeSymbol type) =>
        type.TypeKind == TypeKind.Interface && !Same(type, Component) && type.AllInterfaces.Any(i => Same(i, Component));

    /// <summary>The TState of a class that inherits RecoverableGrain&lt;TState&gt;, or null.</summary>
    public ITypeSymbol? StateTypeOf(INamedTypeSymbol type)
    {
        if (type.TypeKind != TypeKind.Class) return null;
        for (var b = type.BaseType; b is not null; b = b.BaseType)
        {
            if (Same(b.OriginalDefinition, GrainBase)) return b.TypeArguments[0];
        }

        return null;
    }

    /// <summary>True for a component class, or a type nested in one.</summary>
    public bool InsideComponent(INamedTypeSymbol? type)
    {
        for (var t = type; t is not null; t = t.ContainingType)
        {
            if (StateTypeOf(t) is not null) return true;
        }

        return false;
    }

    public static bool Same(ISymbol? a, ISymbol? b) => SymbolEqualityComparer.Default.Equals(a, b);

    public bool IsTask(ITypeSymbol type) => Same(type, Task) || Same(type.OriginalDefinition, TaskOfT);

    public bool IsValueTask(ITypeSymbol type) => Same(type, ValueTask) || Same(type.OriginalDefinition, ValueTaskOfT);

    public bool IsAsyncEnumerable(ITypeSymbol type) => Same(type.OriginalDefinition, AsyncEnumerable);

    public static bool DerivesFrom(ITypeSymbol type, INamedTypeSymbol? baseType)
    {
        if (baseType is null) return false;
        for (var t = type; t is not null; t = t.BaseType)
        {
            if (Same(t, baseType)) return true;
        }

        return false;
    }

    /// <summary>
    /// Why <paramref name="type"/> cannot be a recorded argument or result, or null when it can: the words of the
    /// runtime's ComponentSignature.Unsupported.
    /// </summary>
    public string? Unsupported(ITypeSymbol type)
    {
        var t = type is INamedTypeSymbol { OriginalDefinition.SpecialType: SpecialType.System_Nullable_T } nullable ? nullable.TypeArguments[0] : type;
        if (t.TypeKind is TypeKind.Pointer or TypeKind.FunctionPointer || t.SpecialType is SpecialType.System_IntPtr or SpecialType.System_UIntPtr)
            return "a pointer, which means nothing in another process or after a restart";
        if (t.IsRefLikeType) return "a ref struct (such as Span<T>), which cannot be stored or awaited across";
        if (t.TypeKind == TypeKind.Delegate || t.SpecialType is SpecialType.System_Delegate or SpecialType.System_MulticastDelegate)
            return "a delegate (code), which cannot be recorded as data";
        if (DerivesFrom(t, Stream)) return "a Stream, which cannot be recorded in the log or sent again on a retry";
        if (DerivesFrom(t, Task) || IsValueTask(t)) return "a task, which is a running operation rather than a value";
        if (IsAsyncEnumerable(t)) return "an asynchronous stream, which is not a value that can be recorded";
        if (RuntimeObjects.Any(r => DerivesFrom(t, r)) || Same(t, CancellationToken)) return "a runtime object, not data that can be recorded as JSON";
        if (t is IArrayTypeSymbol array) return Unsupported(array.ElementType) is { } element ? $"an array whose elements are {element}" : null;
        if (t is INamedTypeSymbol { IsGenericType: true } generic)
        {
            foreach (var argument in generic.TypeArguments)
            {
                if (Unsupported(argument) is { } inner) return $"a {generic.Name}<{string.Join(", ", generic.TypeParameters.Select(p => p.Name))}> of {Name(argument)}, {inner}";
            }
        }

        return null;
    }

    /// <summary>The fix the runtime names for an unsupported type.</summary>
    public string FixFor(ITypeSymbol type, string verb)
    {
        var t = type is INamedTypeSymbol { OriginalDefinition.SpecialType: SpecialType.System_Nullable_T } nullable ? nullable.TypeArguments[0] : type;
        if (DerivesFrom(t, Stream) || t.IsRefLikeType)
            return $"Fix: {verb} the bytes as byte[] or ReadOnlyMemory<byte> (or store large content elsewhere and {verb} a reference to it).";
        if (IsAsyncEnumerable(t))
            return $"Fix: {verb} a list (for example IReadOnlyList<{Name(((INamedTypeSymbol)t).TypeArguments[0])}>), one page per call.";
        return $"Fix: {verb} a plain data type instead (numbers, strings, records, arrays, lists and dictionaries of them).";
    }

    /// <summary>A type as the runtime's messages spell it (TypeNames.Of, ComponentSignature.Display): <c>Dictionary&lt;string, object&gt;</c>, <c>int?</c>, <c>(string, int)</c>, <c>IntPtr</c>.</summary>
    public static string Name(ITypeSymbol type)
    {
        switch (type)
        {
            case { TypeKind: TypeKind.Dynamic }:
                return "object";
            case IArrayTypeSymbol array:
                return Name(array.ElementType) + "[" + new string(',', array.Rank - 1) + "]";
            case INamedTypeSymbol { OriginalDefinition.SpecialType: SpecialType.System_Nullable_T } nullable:
                return Name(nullable.TypeArguments[0]) + "?";
            case INamedTypeSymbol { IsTupleType: true } tuple:
                return "(" + string.Join(", ", tuple.TupleElements.Select(e => Name(e.Type))) + ")";
            case INamedTypeSymbol { IsGenericType: true } generic:
                return generic.Name + "<" + string.Join(", ", generic.TypeArguments.Select(Name)) + ">";
        }

        return type.SpecialType switch
        {
            SpecialType.System_Object => "object", SpecialType.System_String => "string", SpecialType.System_Boolean => "bool",
            SpecialType.System_Byte => "byte", SpecialType.System_SByte => "sbyte", SpecialType.System_Int16 => "short",
            SpecialType.System_UInt16 => "ushort", SpecialType.System_Int32 => "int", SpecialType.System_UInt32 => "uint",
            SpecialType.System_Int64 => "long", SpecialType.System_UInt64 => "ulong", SpecialType.System_Single => "float",
            SpecialType.System_Double => "double", SpecialType.System_Decimal => "decimal", SpecialType.System_Char => "char",
            _ => type.Name,
        };
    }
}
