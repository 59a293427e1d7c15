using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;

namespace Middleware.Analyzers;

/// <summary>
/// MW0006: the state type of every component class (the TState of RecoverableGrain&lt;TState&gt;) and the types it
/// holds must survive a checkpoint: written as JSON and read back with every value and its type. The same rules as the
/// runtime's StateTypeRules (which refuses the state type when the component is registered), with the same words, on
/// the System.Text.Json defaults the registry uses (public properties, no fields), attributes included. A member
/// declared in this compilation is reported where it is declared; one from a referenced assembly at the component's
/// base type.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class StateTypeAnalyzer : DiagnosticAnalyzer
{
    /// <summary>The key of a diagnostic's property that tells the code fix what to do.</summary>
    public const string FixKey = "Fix";

    /// <summary>The property gets a public setter (an existing non-public one becomes public).</summary>
    public const string FixAddSetter = "AddSetter";

    /// <summary>The public field becomes a { get; set; } property.</summary>
    public const string FixFieldToProperty = "FieldToProperty";

    private const string Lost = "so it would be lost at the first recovery";

    /// <inheritdoc />
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => ImmutableArray.Create(Rules.State);

    /// <inheritdoc />
    public override void Initialize(AnalysisContext context)
    {
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.EnableConcurrentExecution();
        context.RegisterCompilationStartAction(start =>
        {
            if (ComponentSymbols.For(start.Compilation) is not { } symbols) return;
            // Findings are computed once per compilation from every component class in it, then each is reported by the
            // action of the symbol it is about, so the diagnostic is local to that symbol's document (and can be fixed there).
            var findings = new Lazy<Findings>(() => Findings.Of(start.Compilation, symbols), System.Threading.LazyThreadSafetyMode.ExecutionAndPublication);
            start.RegisterSymbolAction(c =>
            {
                if (!findings.Value.BySymbol.TryGetValue(c.Symbol, out var found)) return;
                foreach (var f in found) c.ReportDiagnostic(Diagnostic.Create(Rules.State, f.Location ?? c.Symbol.Locations.FirstOrDefault() ?? Location.None, f.Properties, f.Message));
            }, SymbolKind.NamedType, SymbolKind.Property, SymbolKind.Field);
        });
    }

    private sealed class Finding
    {
        public Finding(string message, ImmutableDictionary<string, string?> properties, Location? location)
        {
            Message = message;
            Properties = properties;
            Location = location;
        }

        public string Message { get; }

        public ImmutableDictionary<string, string?> Properties { get; }

        /// <summary>Where to report, when not at the symbol itself (a component's base type, for members of other assemblies).</summary>
        public Location? Location { get; }
    }

    private sealed class Findings
    {
        public Dictionary<ISymbol, List<Finding>> BySymbol { get; } = new(SymbolEqualityComparer.Default);

        public HashSet<string> Keys { get; } = new();

        public static Findings Of(Compilation compilation, ComponentSymbols symbols)
        {
            var findings = new Findings();
            foreach (var grain in Types(compilation.Assembly.GlobalNamespace))
            {
                if (grain.IsAbstract || symbols.StateTypeOf(grain) is not { } state) continue;
                new Walk(compilation, symbols, grain, state, findings).Type(state, "", state);
            }

            return findings;
        }

        private static IEnumerable<INamedTypeSymbol> Types(INamespaceOrTypeSymbol container)
        {
            foreach (var member in container.GetMembers())
            {
                if (member is INamespaceOrTypeSymbol inner)
                {
                    if (inner is INamedTypeSymbol type) yield return type;
                    foreach (var nested in Types(inner)) yield return nested;
                }
            }
        }
    }

    private sealed class Walk
    {
        private readonly Compilation _compilation;
        private readonly ComponentSymbols _symbols;
        private readonly INamedTypeSymbol _grain;
        private readonly ITypeSymbol _state;
        private readonly Findings _findings;
        private readonly HashSet<ITypeSymbol> _seen = new(SymbolEqualityComparer.Default);

        public Walk(Compilation compilation, ComponentSymbols symbols, INamedTypeSymbol grain, ITypeSymbol state, Findings findings)
        {
            _compilation = compilation;
            _symbols = symbols;
            _grain = grain;
            _state = state;
            _findings = findings;
        }

        public void Type(ITypeSymbol type, string path, ITypeSymbol memberType, ISymbol? member = null)
        {
            if (!_seen.Add(type)) return;
            if (HasAttribute(type, "JsonConverterAttribute")) return; // the application's own converter: trusted
            if (type is INamedTypeSymbol { OriginalDefinition.SpecialType: SpecialType.System_Nullable_T } nullable)
            {
                Type(nullable.TypeArguments[0], path, memberType, member);
                return;
            }

            if (type.SpecialType == SpecialType.System_Object || type.TypeKind == TypeKind.Dynamic)
            {
                FailType(member, path, memberType, type, "holds values of any type (object or dynamic), so a number stored there is an Int32 while the component runs but a JsonElement after recovery, and the component would behave differently once recovered",
                    "Use a concrete type (e.g. Dictionary<string, long>, or a class with typed properties), or give the member a [JsonConverter] that restores the values' types.");
                return;
            }

            if (type.TypeKind is TypeKind.Pointer or TypeKind.FunctionPointer or TypeKind.Delegate || type.IsRefLikeType
                || ComponentSymbols.DerivesFrom(type, _symbols.Stream) || ComponentSymbols.DerivesFrom(type, _symbols.Task) || _symbols.IsValueTask(type))
            {
                FailType(member, path, memberType, type, "cannot be serialized to JSON", "Checkpoints store state as JSON: use public get/set properties of JSON-serializable types.");
                return;
            }

            if (type.SpecialType != SpecialType.None || type.TypeKind is TypeKind.Enum or TypeKind.Error || type is ITypeParameterSymbol) return;
            if (type is IArrayTypeSymbol array)
            {
                Type(array.ElementType, path + "[]", memberType, member);
                return;
            }

            if (type is not INamedTypeSymbol named) return;
            var derived = type.GetAttributes().Where(a => a.AttributeClass?.Name == "JsonDerivedTypeAttribute")
                .Select(a => a.ConstructorArguments.FirstOrDefault().Value).OfType<ITypeSymbol>().ToList();
            foreach (var d in derived) Type(d, path, memberType, member);
            if (derived.Count > 0 && (type.TypeKind == TypeKind.Interface || type.IsAbstract)) return;

            if (named.IsTupleType)
            {
                FailType(member, path, memberType, type, "is a tuple: its elements are fields, which checkpoints do not write, so they would be lost at the first recovery",
                    "Use a record (e.g. record Line(string Sku, int Quantity)) or a class with properties.");
                return;
            }

            if (Dictionary(named) is { } kv)
            {
                if (!Collection(named, path, memberType, member)) return;
                if (!KeyOk(kv.Key))
                {
                    FailType(member, path, memberType, type, $"has keys of type {ComponentSymbols.Name(kv.Key)}, which JSON cannot write as property names, so the first checkpoint with an item would fail",
                        "Use keys of type string, a number, an enum or Guid (e.g. a string made of the key's parts).");
                    return;
                }

                Type(kv.Key, path + "[]", memberType, member);
                Type(kv.Value, path + "[]", memberType, member);
                return;
            }

            if (Element(named) is { } element)
            {
                if (!Collection(named, path, memberType, member)) return;
                Type(element, path + "[]", memberType, member);
                return;
            }

            // Value types of the base library (DateTime, Guid, TimeSpan...) and its other classes are written by built-in converters.
            if (InSystem(named)) return;
            Object(named, path, memberType, member);
        }

        private bool Collection(INamedTypeSymbol type, string path, ITypeSymbol memberType, ISymbol? member)
        {
            var definition = type.OriginalDefinition.ToDisplayString();
            if (definition is "System.Collections.Generic.Stack<T>" or "System.Collections.Concurrent.ConcurrentStack<T>")
            {
                FailType(member, path, memberType, type, "comes back reversed after recovery (the serializer writes it top first and pushes the items back in that order)", "Use a List<T> and treat its end as the top.");
                return false;
            }

            // A concrete collection is created by its parameterless constructor (immutable ones by their builders).
            var why = type.TypeKind == TypeKind.Interface || type.ContainingNamespace?.ToDisplayString() == "System.Collections.Immutable" ? null
                : !type.InstanceConstructors.Any(c => c.DeclaredAccessibility == Accessibility.Public && c.Parameters.Length == 0)
                    ? "Deserialization of types without a parameterless constructor, a singular parameterized constructor, or a parameterized constructor annotated with 'JsonConstructorAttribute' is not supported"
                : definition == "System.Collections.Concurrent.ConcurrentBag<T>" ? "the serializer cannot add items to a ConcurrentBag" : null;
            if (why is not null)
            {
                FailType(member, path, memberType, type, $"is written to checkpoints but cannot be read back ({why}), so recovery would fail",
                    "Use a collection type the serializer can create: List<T>, T[], HashSet<T>, Dictionary<TKey, TValue> or an immutable collection.");
                return false;
            }

            return true;
        }

        private void Object(INamedTypeSymbol type, string path, ITypeSymbol memberType, ISymbol? member)
        {
            if (type.TypeKind == TypeKind.Interface || type.IsAbstract)
            {
                FailType(member, path, memberType, type, $"is {(type.TypeKind == TypeKind.Interface ? "an interface" : "an abstract class")}, which the serializer cannot create when it reads a checkpoint back, so recovery would fail",
                    $"Use a concrete class, or list its implementations with [JsonDerivedType(typeof(Impl), \"impl\")] on {ComponentSymbols.Name(type)}.");
                return;
            }

            var properties = Properties(type);
            var constructor = Constructor(type);
            if (type.TypeKind != TypeKind.Struct && constructor is null)
            {
                FailType(member, path, memberType, type, "has no constructor the serializer can use (a public parameterless one, a single public one, or one marked [JsonConstructor]), so reading a checkpoint back would fail",
                    $"Give {ComponentSymbols.Name(type)} a public parameterless constructor, or mark one constructor [JsonConstructor].");
                return;
            }

            var bound = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            if (constructor is not null)
            {
                foreach (var p in constructor.Parameters)
                {
                    if (!properties.Any(q => string.Equals(JsonName(q), p.Name, StringComparison.OrdinalIgnoreCase)))
                    {
                        FailType(member, path, memberType, type, $"has a constructor parameter '{p.Name}' that matches no serialized property, so reading a checkpoint back would fail",
                            $"Name each constructor parameter of {ComponentSymbols.Name(type)} after a public property of the same type.");
                        return;
                    }

                    bound.Add(p.Name);
                }
            }

            foreach (var property in properties)
            {
                var at = Join(path, property.Name);
                if (!Accessors(type, property, at, bound)) continue;
                if (!HasAttribute(property, "JsonConverterAttribute")) Type(property.Type, at, property.Type, property);
            }

            Fields(type, path, properties);
        }

        /// <summary>The properties the serializer sees: public instance ones (the most derived of a name) and [JsonInclude] ones, less [JsonIgnore].</summary>
        private static List<IPropertySymbol> Properties(INamedTypeSymbol type)
        {
            var result = new List<IPropertySymbol>();
            var names = new HashSet<string>();
            for (var t = type; t is not null && t.SpecialType != SpecialType.System_Object; t = t.BaseType)
            {
                foreach (var p in t.GetMembers().OfType<IPropertySymbol>())
                {
                    if (p.IsStatic || p.IsIndexer || p.IsImplicitlyDeclared && p.Name == "EqualityContract") continue;
                    if (p.DeclaredAccessibility != Accessibility.Public && !HasAttribute(p, "JsonIncludeAttribute")) continue;
                    if (!names.Add(p.Name) || Ignored(p)) continue;
                    result.Add(p);
                }
            }

            return result;
        }

        private static IMethodSymbol? Constructor(INamedTypeSymbol type)
        {
            var constructors = type.InstanceConstructors.Where(c => !IsCopyConstructor(type, c)).ToList();
            if (constructors.FirstOrDefault(c => HasAttribute(c, "JsonConstructorAttribute")) is { } marked) return marked;
            if (type.IsValueType) return null; // a struct is created by its default constructor
            var open = constructors.Where(c => c.DeclaredAccessibility == Accessibility.Public).ToList();
            if (open.FirstOrDefault(c => c.Parameters.Length == 0) is { } parameterless) return parameterless;
            return open.Count == 1 ? open[0] : null;
        }

        private static bool IsCopyConstructor(INamedTypeSymbol type, IMethodSymbol c) =>
            type.IsRecord && c.Parameters.Length == 1 && ComponentSymbols.Same(c.Parameters[0].Type, type);

        /// <summary>The runtime's CheckAccessors: false when the property was reported.</summary>
        private bool Accessors(INamedTypeSymbol owner, IPropertySymbol property, string path, HashSet<string> bound)
        {
            var included = HasAttribute(property, "JsonIncludeAttribute");
            if (property.GetMethod is null || (!included && property.GetMethod.DeclaredAccessibility != Accessibility.Public))
            {
                Fail(property, $"has property {path} with a non-public getter: it is read from checkpoints but never written to them, {Lost}",
                    "Make the getter public (or mark it [JsonInclude]), or exclude it with [JsonIgnore].", null);
                return false;
            }

            var setter = property.SetMethod;
            if (setter is not null && (included || setter.DeclaredAccessibility == Accessibility.Public)) return true;
            if (bound.Contains(JsonName(property)) || Populates(owner, property)) return true;
            if (setter is not null)
            {
                Fail(property, $"has property {path} with {Access(setter.DeclaredAccessibility)} setter: it is written to checkpoints but cannot be read back, {Lost}",
                    "Make the setter public (or mark it [JsonInclude]), or exclude it with [JsonIgnore] if it is derived.", FixAddSetter);
                return false;
            }

            // A computed property ({ get => ... }) has no setter to add: only auto-properties get the code fix.
            var fix = IsAutoProperty(property) ? FixAddSetter : null;
            if (property.Type is INamedTypeSymbol t && (Dictionary(t) is not null || Element(t) is not null) && !HasAttribute(property, "JsonConverterAttribute"))
            {
                var how = CanPopulate(t)
                    ? "Give it a setter ({ get; set; } = [];), or mark it [JsonObjectCreationHandling(JsonObjectCreationHandling.Populate)] and start it empty."
                    : "Give it a setter ({ get; set; } = [];).";
                Fail(property, $"has collection property {path} without a setter: its items are written to checkpoints, but a get-only collection is not filled when one is read back, so they would be lost at the first recovery", how, fix);
                return false;
            }

            Fail(property, $"has property {path} without a setter: it is written to checkpoints but cannot be read back, {Lost}",
                "Give it a setter ({ get; set; } or { get; init; }), or exclude it with [JsonIgnore] if it is derived from other members.", fix);
            return false;
        }

        /// <summary>The runtime's CheckFields: public fields are not written; non-public ones that back no serialized property are lost.</summary>
        private void Fields(INamedTypeSymbol type, string path, List<IPropertySymbol> properties)
        {
            var backed = new HashSet<string>(properties.Select(p => p.Name), StringComparer.OrdinalIgnoreCase);
            for (var t = type; t is not null && t.SpecialType != SpecialType.System_Object && !InSystem(t); t = t.BaseType)
            {
                foreach (var f in t.GetMembers().OfType<IFieldSymbol>())
                {
                    if (f.IsStatic || f.IsConst || f.IsImplicitlyDeclared || f.AssociatedSymbol is not null || Ignored(f)) continue;
                    var included = HasAttribute(f, "JsonIncludeAttribute");
                    if (f.DeclaredAccessibility == Accessibility.Public && !included)
                    {
                        Fail(f, $"has public field {Join(path, f.Name)}: checkpoints write properties only, {Lost}", "Make it a property ({ get; set; }), or mark it [JsonInclude].",
                            f.IsReadOnly ? null : FixFieldToProperty);
                    }
                    else if (included && f.IsReadOnly)
                    {
                        Fail(f, $"has read-only field {Join(path, f.Name)} without a setter: it is written to checkpoints but cannot be read back, {Lost}",
                            "Remove readonly, or exclude it with [JsonIgnore] if it is derived from other members.", null);
                    }
                    else if (f.DeclaredAccessibility != Accessibility.Public && !included
                        && !backed.Contains(f.Name.StartsWith("m_", StringComparison.Ordinal) ? f.Name.Substring(2) : f.Name.TrimStart('_')))
                    {
                        Fail(f, $"has non-public field {Join(path, f.Name)}, which backs no serialized property: checkpoints do not write it, {Lost}",
                            "Keep state in public properties, mark the field [JsonInclude], or mark it [JsonIgnore] if it is not state (a cache).", null);
                    }
                }
            }
        }

        private bool Populates(INamedTypeSymbol owner, IPropertySymbol property)
        {
            var handling = CreationHandling(property) ?? CreationHandling(owner);
            return handling == 1 && property.Type is INamedTypeSymbol t && CanPopulate(t);
        }

        private static int? CreationHandling(ISymbol symbol) =>
            symbol.GetAttributes().FirstOrDefault(a => a.AttributeClass?.Name == "JsonObjectCreationHandlingAttribute")?.ConstructorArguments.FirstOrDefault().Value as int?;

        /// <summary>What System.Text.Json fills in place: a mutable reference type (an object, or a collection it can add to).</summary>
        private bool CanPopulate(INamedTypeSymbol type)
        {
            if (type.IsValueType || type.ContainingNamespace?.ToDisplayString() == "System.Collections.Immutable" || type.Name.StartsWith("ReadOnly", StringComparison.Ordinal)) return false;
            if (Dictionary(type) is null && Element(type) is null) return true;
            return new[] { type }.Concat(type.AllInterfaces).Any(i => i.OriginalDefinition.ToDisplayString() is "System.Collections.Generic.ICollection<T>"
                or "System.Collections.Generic.IDictionary<TKey, TValue>" or "System.Collections.IList" or "System.Collections.IDictionary");
        }

        private static (ITypeSymbol Key, ITypeSymbol Value)? Dictionary(INamedTypeSymbol type)
        {
            foreach (var i in new[] { type }.Concat(type.AllInterfaces))
            {
                if (i.OriginalDefinition.ToDisplayString() is "System.Collections.Generic.IDictionary<TKey, TValue>" or "System.Collections.Generic.IReadOnlyDictionary<TKey, TValue>")
                    return (i.TypeArguments[0], i.TypeArguments[1]);
            }

            return null;
        }

        private ITypeSymbol? Element(INamedTypeSymbol type)
        {
            if (type.SpecialType == SpecialType.System_String) return null;
            foreach (var i in new[] { type }.Concat(type.AllInterfaces))
            {
                if (i.OriginalDefinition.SpecialType == SpecialType.System_Collections_Generic_IEnumerable_T) return i.TypeArguments[0];
            }

            return new[] { type }.Concat(type.AllInterfaces).Any(i => i.SpecialType == SpecialType.System_Collections_IEnumerable)
                ? _symbols.Compilation.GetSpecialType(SpecialType.System_Object)
                : null;
        }

        private static bool KeyOk(ITypeSymbol key)
        {
            if (key.SpecialType is not SpecialType.None and not SpecialType.System_Object || key.TypeKind == TypeKind.Enum) return true;
            return key.ToDisplayString() is "System.Guid" or "System.DateTimeOffset" or "System.TimeSpan" or "System.DateOnly" or "System.TimeOnly"
                or "System.Version" or "System.Uri" or "System.Half" or "System.Int128" or "System.UInt128" or "object";
        }

        private static bool InSystem(ITypeSymbol type)
        {
            var ns = type.ContainingNamespace?.ToDisplayString() ?? "";
            return ns == "System" || ns.StartsWith("System.", StringComparison.Ordinal);
        }

        private static bool IsAutoProperty(IPropertySymbol property) =>
            property.ContainingType.GetMembers().OfType<IFieldSymbol>().Any(f => ComponentSymbols.Same(f.AssociatedSymbol, property));

        private static bool Ignored(ISymbol member)
        {
            var ignore = member.GetAttributes().FirstOrDefault(a => a.AttributeClass?.Name == "JsonIgnoreAttribute");
            if (ignore is null) return false;
            // [JsonIgnore] ignores always unless its Condition says otherwise (JsonIgnoreCondition.Always = 1 is the default).
            var condition = ignore.NamedArguments.FirstOrDefault(a => a.Key == "Condition").Value;
            return condition.Value is null or 1;
        }

        private static string JsonName(IPropertySymbol p) =>
            p.GetAttributes().FirstOrDefault(a => a.AttributeClass?.Name == "JsonPropertyNameAttribute")?.ConstructorArguments.FirstOrDefault().Value as string ?? p.Name;

        private static bool HasAttribute(ISymbol symbol, string name) => symbol.GetAttributes().Any(a => a.AttributeClass?.Name == name);

        private static string Join(string path, string name) => path.Length == 0 ? name : path + "." + name;

        private static string Access(Accessibility accessibility) => accessibility switch
        {
            Accessibility.Private => "a private",
            Accessibility.Protected => "a protected",
            Accessibility.Internal => "an internal",
            Accessibility.ProtectedOrInternal => "a protected internal",
            _ => "a private protected",
        };

        private void FailType(ISymbol? member, string path, ITypeSymbol memberType, ITypeSymbol type, string problem, string fix)
        {
            var name = path.TrimEnd('[', ']');
            if (name.Length == 0)
            {
                Fail(member, ComponentSymbols.Same(type, _state) ? problem : $"holds {ComponentSymbols.Name(type)}, which {problem}", fix, null, type);
                return;
            }

            var subject = ComponentSymbols.Same(type, memberType) ? "it" : ComponentSymbols.Name(type);
            Fail(member, $"has property {name} of type {ComponentSymbols.Name(memberType)}: {subject} {problem}", fix, null, type);
        }

        private void Fail(ISymbol? member, string problem, string fix, string? codeFix, ISymbol? fallback = null)
        {
            // Each member (or type) once per compilation, though several components may share a state type.
            var at = member ?? fallback;
            var key = at?.ToDisplayString() + "|" + problem;
            Location? location = null;
            if (at is null || !at.Locations.Any(l => l.IsInSource && _compilation.ContainsSyntaxTree(l.SourceTree)))
            {
                // Declared in a referenced assembly: report at this component's base type, once per component.
                key = _grain.ToDisplayString() + "|" + key;
                at = _grain;
                location = BaseTypeLocation();
                codeFix = null;
            }

            if (!_findings.Keys.Add(key)) return;
            var properties = codeFix is null ? ImmutableDictionary<string, string?>.Empty : ImmutableDictionary<string, string?>.Empty.Add(FixKey, codeFix);
            if (!_findings.BySymbol.TryGetValue(at, out var list)) _findings.BySymbol[at] = list = new List<Finding>();
            list.Add(new Finding($"The state type {ComponentSymbols.Name(_state)} of {_grain.Name} {problem}. {fix}", properties, location));
        }

        private Location BaseTypeLocation()
        {
            foreach (var reference in _grain.DeclaringSyntaxReferences)
            {
                if (reference.GetSyntax() is ClassDeclarationSyntax { BaseList: { } list } && list.Types.Count > 0)
                    return list.Types[0].GetLocation();
            }

            return _grain.Locations.FirstOrDefault() ?? Location.None;
        }
    }
}
