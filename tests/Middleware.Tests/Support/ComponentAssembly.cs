using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Middleware.Grains;

namespace Middleware.Tests.Support;

/// <summary>Component assemblies compiled in a test, as an application would build them, for real silo processes to load by path.</summary>
internal static class ComponentAssembly
{
    /// <summary>
    /// A [Mirrored] component whose reply is a fresh Guid each turn (deliberately not deterministic): a replay, and so a
    /// mirror, cannot reproduce it. Type <c>Dice</c>, method <c>Roll()</c>.
    /// </summary>
    public const string DiceSource = """
        using System;
        using System.Threading.Tasks;
        using Middleware.Grains;

        namespace Games;

        public interface IDice : IRecoverableComponent
        {
            Task<string> Roll();
        }

        public sealed class DiceState
        {
            public int Rolls { get; set; }
        }

        [Mirrored]
        public sealed class Dice : RecoverableGrain<DiceState>, IDice
        {
            public Task<string> Roll()
            {
                State.Rolls++;
                return Task.FromResult(Guid.NewGuid().ToString("N"));
            }
        }
        """;

    /// <summary>Compiles <paramref name="source"/> against the runtime and Middleware.Grains into <paramref name="directory"/>/<paramref name="fileName"/>; returns the path.</summary>
    public static string Compile(string source, string directory, string fileName)
    {
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Select(p => MetadataReference.CreateFromFile(p))
            .Append(MetadataReference.CreateFromFile(typeof(RecoverableGrain<>).Assembly.Location));
        var compilation = CSharpCompilation.Create(Path.GetFileNameWithoutExtension(fileName), [CSharpSyntaxTree.ParseText(source)], references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary));
        var path = Path.Combine(directory, fileName);
        var result = compilation.Emit(path);
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
        return path;
    }
}
