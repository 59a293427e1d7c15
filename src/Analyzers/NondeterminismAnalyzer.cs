using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace Middleware.Analyzers;

/// <summary>
/// Flags nondeterminism that bypasses the component context inside recoverable components: the wall clock,
/// new GUIDs and random numbers. Such values are not recorded, so replay after a crash would compute
/// something else; the runtime catches it as divergence, this analyzer catches it at build time.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class NondeterminismAnalyzer : DiagnosticAnalyzer
{
    /// <summary>The diagnostic id.</summary>
    public const string Id = "MW0001";

    private static readonly DiagnosticDescriptor Rule = new(
        Id,
        "Nondeterminism outside the component context",
        "'{0}' is not recorded, so replay after a crash would see a different value; use {1} instead",
        "Determinism",
        DiagnosticSeverity.Error,
        isEnabledByDefault: true,
        description: "Recoverable components must take time, GUIDs and random numbers from Context so they are logged and replayed. See docs/analyzers.md#mw0001.",
        helpLinkUri: Rules.HelpLink(Id));

    /// <inheritdoc />
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => ImmutableArray.Create(Rule);

    /// <inheritdoc />
    public override void Initialize(AnalysisContext context)
    {
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.EnableConcurrentExecution();
        context.RegisterCompilationStartAction(start =>
        {
            var grainBase = start.Compilation.GetTypeByMetadataName("Middleware.Grains.RecoverableGrain`1");
            if (grainBase is null) return;
            start.RegisterOperationAction(c => CheckMember(c, grainBase, ((IPropertyReferenceOperation)c.Operation).Property), OperationKind.PropertyReference);
            start.RegisterOperationAction(c => CheckMember(c, grainBase, ((IInvocationOperation)c.Operation).TargetMethod), OperationKind.Invocation);
            start.RegisterOperationAction(c => CheckMember(c, grainBase, ((IObjectCreationOperation)c.Operation).Constructor), OperationKind.ObjectCreation);
        });
    }

    private static void CheckMember(OperationAnalysisContext c, INamedTypeSymbol grainBase, ISymbol? member)
    {
        if (member is null) return;
        var replacement = Replacement(member);
        if (replacement is null || !InsideComponent(c.ContainingSymbol.ContainingType, grainBase)) return;
        var name = member is IMethodSymbol { MethodKind: MethodKind.Constructor } ? "new " + member.ContainingType.Name + "()" : member.ContainingType.Name + "." + member.Name;
        c.ReportDiagnostic(Diagnostic.Create(Rule, c.Operation.Syntax.GetLocation(), name, replacement));
    }

    private static string? Replacement(ISymbol member)
    {
        var type = member.ContainingType?.ToDisplayString();
        switch (type)
        {
            case "System.DateTime" when member.Name is "Now" or "UtcNow" or "Today":
            case "System.DateTimeOffset" when member.Name is "Now" or "UtcNow":
            case "System.Environment" when member.Name is "TickCount" or "TickCount64":
            case "System.Diagnostics.Stopwatch" when member.Name is "GetTimestamp" or "StartNew":
                return "Context.UtcNow";
            case "System.Guid" when member.Name == "NewGuid":
                return "Context.NewGuid()";
            case "System.Random" when member.Name is "Shared" or ".ctor":
            case "System.Security.Cryptography.RandomNumberGenerator" when member.Name is "GetInt32" or "GetBytes" or "Fill":
                return "Context.Random";
            default:
                return null;
        }
    }

    private static bool InsideComponent(INamedTypeSymbol? type, INamedTypeSymbol grainBase)
    {
        for (var t = type; t is not null; t = t.ContainingType)
        {
            for (var b = t.BaseType; b is not null; b = b.BaseType)
            {
                if (SymbolEqualityComparer.Default.Equals(b.OriginalDefinition, grainBase)) return true;
            }
        }

        return false;
    }
}
