using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Middleware.Analyzers;
using Middleware.Grains;

namespace Middleware.Tests.Analyzers;

public sealed class NondeterminismAnalyzerTests
{
    [Fact]
    public async Task Clock_guid_and_random_inside_a_component_are_errors_that_name_the_context_member()
    {
        var diagnostics = await Analyze("""
            using System;
            using System.Threading.Tasks;
            using Middleware.Grains;
            public sealed class S { public long V { get; set; } }
            public sealed class C : RecoverableGrain<S>
            {
                public Task<string> M()
                {
                    var a = DateTime.UtcNow;
                    var b = Guid.NewGuid();
                    var r = new Random().Next();
                    var s = Random.Shared.Next();
                    var ok = Context.UtcNow;
                    return Task.FromResult($"{a}{b}{r}{s}{ok}");
                }
            }
            """);
        Assert.Equal(4, diagnostics.Length);
        Assert.All(diagnostics, d => Assert.Equal(NondeterminismAnalyzer.Id, d.Id));
        Assert.Contains(diagnostics, d => d.GetMessage().Contains("'DateTime.UtcNow'") && d.GetMessage().Contains("use Context.UtcNow"));
        Assert.Contains(diagnostics, d => d.GetMessage().Contains("'Guid.NewGuid'") && d.GetMessage().Contains("Context.NewGuid()"));
        Assert.Equal(2, diagnostics.Count(d => d.GetMessage().Contains("Context.Random")));
    }

    [Fact]
    public async Task The_same_calls_outside_components_are_fine()
    {
        var diagnostics = await Analyze("""
            using System;
            public static class Tool { public static string M() => $"{DateTime.UtcNow}{Guid.NewGuid()}{new Random().Next()}"; }
            """);
        Assert.Empty(diagnostics);
    }

    private static async Task<ImmutableArray<Diagnostic>> Analyze(string source)
    {
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Select(p => MetadataReference.CreateFromFile(p))
            .Append(MetadataReference.CreateFromFile(typeof(RecoverableGrain<>).Assembly.Location));
        var compilation = CSharpCompilation.Create("t", [CSharpSyntaxTree.ParseText(source)], references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary));
        Assert.Empty(compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error));
        return await compilation.WithAnalyzers([new NondeterminismAnalyzer()]).GetAnalyzerDiagnosticsAsync();
    }
}
