using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;

namespace Middleware.Analyzers;

/// <summary>
/// The rules on component interfaces that the runtime checks when a component is registered (ComponentInterface and
/// ComponentSignature in Middleware.Core), at build time and with the same words: return types (MW0002), overloads
/// (MW0003), parameters (MW0004), properties, events and generic methods (MW0005).
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class ComponentInterfaceAnalyzer : DiagnosticAnalyzer
{
    /// <summary>The key of a diagnostic's property that tells the code fix what to do.</summary>
    public const string FixKey = "Fix";

    /// <summary>MW0002 fix: the return type becomes Task (or Task&lt;T&gt; for ValueTask&lt;T&gt;).</summary>
    public const string FixReturnTask = "ReturnTask";

    /// <summary>MW0004 fix: the CancellationToken parameter goes.</summary>
    public const string FixRemoveParameter = "RemoveParameter";

    /// <inheritdoc />
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics =>
        ImmutableArray.Create(Rules.ReturnType, Rules.Overload, Rules.Parameter, Rules.InterfaceMember);

    /// <inheritdoc />
    public override void Initialize(AnalysisContext context)
    {
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.EnableConcurrentExecution();
        context.RegisterCompilationStartAction(start =>
        {
            if (ComponentSymbols.For(start.Compilation) is not { } symbols) return;
            start.RegisterSymbolAction(c => Check(c, symbols, (INamedTypeSymbol)c.Symbol), SymbolKind.NamedType);
        });
    }

    private static void Check(SymbolAnalysisContext c, ComponentSymbols symbols, INamedTypeSymbol iface)
    {
        if (!symbols.IsComponentInterface(iface)) return;
        // The names a base component interface already uses: the runtime walks the interface, then its bases.
        var inherited = new HashSet<string>(iface.AllInterfaces.Where(i => !ComponentSymbols.Same(i, symbols.Component))
            .SelectMany(i => i.GetMembers().OfType<IMethodSymbol>()).Where(m => m.MethodKind == MethodKind.Ordinary).Select(m => m.Name));
        var seen = new HashSet<string>();
        foreach (var member in iface.GetMembers())
        {
            if (member.IsImplicitlyDeclared) continue;
            switch (member)
            {
                case IPropertySymbol or IEventSymbol:
                    Report(c, Rules.InterfaceMember, member.Locations.FirstOrDefault(), null,
                        $"{iface.Name} declares {(member is IEventSymbol ? "event" : "property")} {member.Name}; component interfaces may only declare async methods. Fix: make it a method (for example Task<T> Get{member.Name}()).");
                    break;
                case IMethodSymbol { MethodKind: MethodKind.Ordinary } method:
                    CheckMethod(c, symbols, iface, method, seen, inherited);
                    break;
            }
        }
    }

    private static void CheckMethod(SymbolAnalysisContext c, ComponentSymbols symbols, INamedTypeSymbol iface, IMethodSymbol m, HashSet<string> seen, HashSet<string> inherited)
    {
        var where = $"{iface.Name}.{m.Name}";
        var syntax = m.DeclaringSyntaxReferences.FirstOrDefault()?.GetSyntax(c.CancellationToken) as MethodDeclarationSyntax;
        if (!seen.Add(m.Name) || inherited.Contains(m.Name))
        {
            Report(c, Rules.Overload, m.Locations.FirstOrDefault(), null,
                $"{where} is overloaded; component methods are identified by name in the log, so give each overload its own name");
        }

        if (m.IsGenericMethod)
        {
            Report(c, Rules.InterfaceMember, m.Locations.FirstOrDefault(), null,
                $"{where} is generic; component methods cannot be generic because the log must name concrete argument types");
        }

        CheckReturn(c, symbols, where, m, syntax?.ReturnType.GetLocation() ?? m.Locations.FirstOrDefault());
        foreach (var p in m.Parameters) CheckParameter(c, symbols, where, p);
    }

    private static void CheckReturn(SymbolAnalysisContext c, ComponentSymbols symbols, string where, IMethodSymbol m, Location? location)
    {
        var type = m.ReturnType;
        if (ComponentSymbols.Same(type, symbols.Task)) return;
        if (type is INamedTypeSymbol named && ComponentSymbols.Same(named.OriginalDefinition, symbols.TaskOfT))
        {
            var result = named.TypeArguments[0];
            if (symbols.Unsupported(result) is { } why)
                Report(c, Rules.ReturnType, location, null, $"{where} returns Task<{ComponentSymbols.Name(result)}>, {why}. {symbols.FixFor(result, "return")}");
            return;
        }

        string fix;
        var fixable = false;
        if (m.ReturnsVoid)
        {
            fix = "change it to Task";
            fixable = true;
        }
        else if (ComponentSymbols.Same(type, symbols.ValueTask))
        {
            fix = "change it to Task";
            fixable = true;
        }
        else if (type is INamedTypeSymbol v && ComponentSymbols.Same(v.OriginalDefinition, symbols.ValueTaskOfT))
        {
            fix = $"change it to Task<{ComponentSymbols.Name(v.TypeArguments[0])}>";
            fixable = true;
        }
        else if (symbols.IsAsyncEnumerable(type))
        {
            fix = $"streams are not recorded turn by turn: return a page instead, for example Task<IReadOnlyList<{ComponentSymbols.Name(((INamedTypeSymbol)type).TypeArguments[0])}>>";
        }
        else
        {
            fix = $"for example Task<{ComponentSymbols.Name(type)}>";
        }

        Report(c, Rules.ReturnType, location, fixable ? FixReturnTask : null,
            $"{where} returns {(m.ReturnsVoid ? "void" : ComponentSymbols.Name(type))}; component methods must return Task or Task<T>: {fix}");
    }

    private static void CheckParameter(SymbolAnalysisContext c, ComponentSymbols symbols, string where, IParameterSymbol p)
    {
        var location = p.Locations.FirstOrDefault();
        if (p.RefKind != RefKind.None)
        {
            Report(c, Rules.Parameter, location, null,
                $"{where} has ref/out/in parameter '{p.Name}'; component arguments travel by value, so pass it by value and return a result instead");
        }
        else if (ComponentSymbols.Same(p.Type, symbols.CancellationToken))
        {
            Report(c, Rules.Parameter, location, FixRemoveParameter,
                $"{where} takes a CancellationToken ('{p.Name}'); turns run to completion once started, so remove the parameter (callers cancel their wait with the client's per-call token instead)");
        }
        else if (symbols.Unsupported(p.Type) is { } why)
        {
            Report(c, Rules.Parameter, location, null, $"{where} has parameter '{p.Name}' of type {ComponentSymbols.Name(p.Type)}, {why}. {symbols.FixFor(p.Type, "pass")}");
        }
    }

    private static void Report(SymbolAnalysisContext c, DiagnosticDescriptor rule, Location? location, string? fix, string message)
    {
        var properties = fix is null ? ImmutableDictionary<string, string?>.Empty : ImmutableDictionary<string, string?>.Empty.Add(FixKey, fix);
        c.ReportDiagnostic(Diagnostic.Create(rule, location ?? Location.None, properties, message));
    }
}
