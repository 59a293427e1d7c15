using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace Middleware.Analyzers;

/// <summary>
/// Code in components that the log cannot see: work started on other threads, parallel loops and timers (MW0007),
/// and mutable static fields (MW0008), which are outside State and so are neither checkpointed nor replayed.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class ComponentDeterminismAnalyzer : DiagnosticAnalyzer
{
    private const string OtherThread = "runs code on another thread, outside the turn: the runtime neither records nor replays it, it can change State while the next turn runs, and work still running is lost in a crash. Do the work in the turn itself and await it, or hand it to another component with Context.Call<T>(key)";
    private const string Parallel = "runs the body on several threads in an order that differs from run to run, so a replay can compute something else from the same log. Use a plain loop";
    private const string Timer = "fires outside any turn: what its callback does is not recorded or replayed, and the timer is gone after a crash. Have a caller (or a scheduler outside the component) call a component method instead";

    /// <inheritdoc />
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => ImmutableArray.Create(Rules.Concurrency, Rules.StaticField);

    /// <inheritdoc />
    public override void Initialize(AnalysisContext context)
    {
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.EnableConcurrentExecution();
        context.RegisterCompilationStartAction(start =>
        {
            if (ComponentSymbols.For(start.Compilation) is not { } symbols) return;
            start.RegisterOperationAction(c => CheckCall(c, symbols, ((IInvocationOperation)c.Operation).TargetMethod), OperationKind.Invocation);
            start.RegisterOperationAction(c => CheckCall(c, symbols, ((IObjectCreationOperation)c.Operation).Constructor), OperationKind.ObjectCreation);
            start.RegisterSymbolAction(c => CheckStatic(c, symbols), SymbolKind.Field, SymbolKind.Property);
        });
    }

    private static void CheckCall(OperationAnalysisContext c, ComponentSymbols symbols, IMethodSymbol? method)
    {
        if (method is null || Why(method) is not { } why || !symbols.InsideComponent(c.ContainingSymbol.ContainingType)) return;
        var name = method.MethodKind == MethodKind.Constructor ? "new " + method.ContainingType.ToDisplayString(ComponentSymbols.Display) + "()" : method.ContainingType.Name + "." + method.Name;
        c.ReportDiagnostic(Diagnostic.Create(Rules.Concurrency, c.Operation.Syntax.GetLocation(), $"'{name}' {why}"));
    }

    private static string? Why(IMethodSymbol method)
    {
        var type = method.ContainingType?.OriginalDefinition.ToDisplayString();
        var ctor = method.MethodKind == MethodKind.Constructor;
        return type switch
        {
            "System.Threading.Tasks.Task" when method.Name == "Run" => OtherThread,
            "System.Threading.Tasks.TaskFactory" or "System.Threading.Tasks.TaskFactory<TResult>" when method.Name == "StartNew" => OtherThread,
            "System.Threading.Thread" when ctor => OtherThread,
            "System.Threading.ThreadPool" when method.Name.Contains("QueueUserWorkItem") || method.Name.Contains("RegisterWaitForSingleObject") => OtherThread,
            "System.Threading.Tasks.Parallel" => Parallel,
            "System.Linq.ParallelEnumerable" when method.Name == "AsParallel" => Parallel,
            "System.Threading.Timer" or "System.Timers.Timer" or "System.Threading.PeriodicTimer" when ctor => Timer,
            "System.TimeProvider" when method.Name == "CreateTimer" => Timer,
            _ => null,
        };
    }

    private static void CheckStatic(SymbolAnalysisContext c, ComponentSymbols symbols)
    {
        var symbol = c.Symbol;
        if (!symbol.IsStatic || symbol.IsImplicitlyDeclared || !symbols.InsideComponent(symbol.ContainingType)) return;
        string kind;
        switch (symbol)
        {
            case IFieldSymbol { IsConst: false, IsReadOnly: false, AssociatedSymbol: null }:
                kind = "field";
                break;
            case IPropertySymbol { SetMethod: not null } property when property.ContainingType.GetMembers().OfType<IFieldSymbol>().Any(f => ComponentSymbols.Same(f.AssociatedSymbol, property)):
                kind = "property";
                break;
            default:
                return;
        }

        c.ReportDiagnostic(Diagnostic.Create(Rules.StaticField, symbol.Locations.FirstOrDefault() ?? Location.None,
            $"Static {kind} '{symbol.Name}' of {symbol.ContainingType.Name} is not in State: it is not checkpointed or replayed, every component of the type in this process shares it, and after a crash or a failover it starts over. "
            + $"Keep the data in State; if it never changes, make it {(kind == "field" ? "readonly (or const)" : "get-only")}"));
    }
}
