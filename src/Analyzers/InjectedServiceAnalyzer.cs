using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;

namespace Middleware.Analyzers;

/// <summary>
/// MW0009: a component's constructor parameters are services from the host's dependency injection. What a service
/// returns is not recorded, so a component that decides on it can compute something else on replay: outside data goes
/// through Context, which records it. Reported once per parameter, so a service known to be deterministic is
/// accepted with one suppression where it is injected.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class InjectedServiceAnalyzer : DiagnosticAnalyzer
{
    /// <inheritdoc />
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => ImmutableArray.Create(Rules.InjectedService);

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

    private static void Check(SymbolAnalysisContext c, ComponentSymbols symbols, INamedTypeSymbol type)
    {
        if (type.IsAbstract || symbols.StateTypeOf(type) is null) return;
        foreach (var constructor in type.InstanceConstructors.Where(m => !m.IsImplicitlyDeclared && m.DeclaredAccessibility == Accessibility.Public))
        {
            foreach (var p in constructor.Parameters)
            {
                if (Message(p, type) is { } message)
                    c.ReportDiagnostic(Diagnostic.Create(Rules.InjectedService, p.Locations.FirstOrDefault() ?? Location.None, message));
            }
        }
    }

    private static string? Message(IParameterSymbol p, INamedTypeSymbol component)
    {
        var type = p.Type.OriginalDefinition.ToDisplayString();
        var subject = $"Constructor parameter '{p.Name}' ({ComponentSymbols.Name(p.Type)}) of {component.Name}";
        switch (type)
        {
            // Configuration bound at start-up is the same on replay within one deployment.
            case "Microsoft.Extensions.Options.IOptions<TOptions>":
                return null;
            case "Microsoft.Extensions.Logging.ILogger" or "Microsoft.Extensions.Logging.ILogger<TCategoryName>" or "Microsoft.Extensions.Logging.ILoggerFactory":
                return $"{subject} logs again for every turn replayed after a crash, so a recovered component repeats its log lines; log through Context.Logger, which is quiet during replay";
            case "System.TimeProvider":
                return $"{subject} reads the clock, which is not recorded, so replay after a crash sees another time; use Context.UtcNow";
            default:
                return $"{subject} is a service from the host: what it returns is not recorded, so replay after a crash can see other values and the component would diverge. "
                    + "Take outside data through Context (Context.Backend(name) for databases, Context.Call<T>(key) for components, Context.UtcNow, Context.NewGuid(), Context.Random); "
                    + "if the service's results are deterministic (a calculation, a table compiled in), suppress MW0009 here";
        }
    }
}
