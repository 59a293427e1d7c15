using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Testing;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Testing;
using Middleware.Grains;

namespace Middleware.Tests.Analyzers;

/// <summary>
/// The Roslyn test helpers (Microsoft.CodeAnalysis.Testing) set up for this repository: sources compile against the
/// running .NET's assemblies plus Middleware.Grains (no reference packs are downloaded), and markup such as
/// <c>{|MW0002:ValueTask|}</c> or <c>{|#0:...|}</c> marks where each diagnostic must be, and nowhere else.
/// </summary>
internal static class AnalyzerVerifier
{
    private static readonly MetadataReference[] References = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
        .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))
        .Append(MetadataReference.CreateFromFile(typeof(RecoverableGrain<>).Assembly.Location))
        .ToArray();

    /// <summary>A diagnostic of <paramref name="rule"/> at markup location <c>{|#n:...|}</c> (its message checked only when given with WithMessage).</summary>
    public static DiagnosticResult At(DiagnosticDescriptor rule, int location) => new DiagnosticResult(rule.Id, rule.DefaultSeverity).WithLocation(location);

    /// <summary>Runs <typeparamref name="TAnalyzer"/> on <paramref name="source"/> and checks that it reports exactly what the markup and <paramref name="expected"/> say.</summary>
    public static Task Analyze<TAnalyzer>(string source, params DiagnosticResult[] expected)
        where TAnalyzer : DiagnosticAnalyzer, new()
    {
        var test = new CSharpAnalyzerTest<TAnalyzer, DefaultVerifier> { TestCode = source };
        Configure(test.TestState);
        test.ExpectedDiagnostics.AddRange(expected);
        return test.RunAsync();
    }

    /// <summary>Checks the diagnostics of <paramref name="source"/>, applies <typeparamref name="TFix"/> and compares with <paramref name="fixedSource"/>.</summary>
    public static Task Fix<TAnalyzer, TFix>(string source, string fixedSource, params DiagnosticResult[] expected)
        where TAnalyzer : DiagnosticAnalyzer, new()
        where TFix : CodeFixProvider, new()
    {
        var test = new CSharpCodeFixTest<TAnalyzer, TFix, DefaultVerifier> { TestCode = source, FixedCode = fixedSource };
        Configure(test.TestState);
        Configure(test.FixedState);
        test.ExpectedDiagnostics.AddRange(expected);
        return test.RunAsync();
    }

    /// <summary>
    /// Compiles <paramref name="source"/> (no markup) and loads it, for the tests that hold the analyzers' words against
    /// what the runtime says about the same types.
    /// </summary>
    public static Assembly Load(string source)
    {
        var compilation = CSharpCompilation.Create("analyzed" + Guid.NewGuid().ToString("N"), [CSharpSyntaxTree.ParseText(source)], References,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));
        using var bytes = new MemoryStream();
        var result = compilation.Emit(bytes);
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
        return Assembly.Load(bytes.ToArray());
    }

    /// <summary>The diagnostics every analyzer of the package reports on <paramref name="source"/> (no markup).</summary>
    public static async Task<IReadOnlyList<Diagnostic>> Diagnostics(string source, params DiagnosticAnalyzer[] analyzers)
    {
        var compilation = CSharpCompilation.Create("analyzed", [CSharpSyntaxTree.ParseText(source)], References,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));
        Assert.Empty(compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error));
        return await compilation.WithAnalyzers([.. analyzers]).GetAnalyzerDiagnosticsAsync();
    }

    private static void Configure(SolutionState state)
    {
        // No reference pack to download: the running runtime's assemblies are the references.
        state.ReferenceAssemblies = new ReferenceAssemblies("net10.0");
        state.AdditionalReferences.AddRange(References);
    }
}
