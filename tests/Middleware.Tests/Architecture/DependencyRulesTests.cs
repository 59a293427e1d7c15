using System.Reflection;

namespace Middleware.Tests.Architecture;

/// <summary>
/// The layering of docs/ARCHITECTURE.md, checked on the built assemblies (what they reference in their metadata, which is
/// what loads at run time): Grains depends on nothing of ours; Core on Grains; Protocol on Core; the client never on the
/// engine, the transport or the silo; the engine never on the protocol or ASP.NET Core; the admin tool never on the silo;
/// the sample's interfaces on Grains alone.
/// </summary>
public sealed class DependencyRulesTests
{
    /// <summary>Each assembly of ours and the assemblies of ours (and the frameworks) it may reference.</summary>
    public static TheoryData<string, string[]> Allowed() => new()
    {
        { "Middleware.Grains", [] },
        { "Middleware.Core", ["Middleware.Grains"] },
        { "Middleware.Protocol", ["Middleware.Core", "Middleware.Grains"] },
        { "Middleware.Client", ["Middleware.Grains", "Middleware.Core", "Middleware.Protocol", "Polly.Core"] },
        { "Middleware.Recovery", ["Middleware.Grains", "Middleware.Core"] },
        { "Middleware.Recovery.Sqlite", ["Middleware.Grains", "Middleware.Core", "Middleware.Recovery", "SQLitePCLRaw.core", "SQLitePCLRaw.batteries_v2"] },
        { "Middleware.Recovery.Postgres", ["Middleware.Grains", "Middleware.Core", "Middleware.Recovery", "Npgsql"] },
        { "Middleware.Recovery.SqlServer", ["Middleware.Grains", "Middleware.Core", "Middleware.Recovery", "Microsoft.Data.SqlClient"] },
        { "Middleware.Recovery.TestKit", ["Middleware.Grains", "Middleware.Core", "Middleware.Recovery", "xunit.*"] },
        { "Middleware.Transport", ["Middleware.Grains", "Middleware.Core", "Middleware.Protocol", "Microsoft.AspNetCore.*", "Microsoft.Extensions.*"] },
        { "Bank.Abstractions", ["Middleware.Grains"] },
        { "Bank", ["Middleware.Grains", "Bank.Abstractions"] },
    };

    [Theory]
    [MemberData(nameof(Allowed))]
    public void An_assembly_references_only_what_its_layer_allows(string assembly, string[] allowed)
    {
        var references = Load(assembly).GetReferencedAssemblies().Select(a => a.Name!).Where(IsOurs).ToList();
        var forbidden = references.Where(r => !allowed.Any(a => Matches(a, r))).ToList();
        Assert.True(forbidden.Count == 0, $"{assembly} references {string.Join(", ", forbidden)}; its layer allows only {(allowed.Length == 0 ? "nothing of ours" : string.Join(", ", allowed))} (docs/ARCHITECTURE.md, Layers).");
    }

    [Theory]
    [InlineData("Middleware.Client", "Middleware.Recovery")]
    [InlineData("Middleware.Client", "Middleware.Transport")]
    [InlineData("Middleware.Client", "Middleware.Silo")]
    [InlineData("Middleware.Client", "Microsoft.AspNetCore.*")]
    [InlineData("Middleware.Recovery", "Middleware.Protocol")]
    [InlineData("Middleware.Recovery", "Microsoft.AspNetCore.*")]
    [InlineData("Middleware.Admin", "Middleware.Silo")]
    [InlineData("Bank.Demo", "Middleware.Silo")]
    public void A_forbidden_dependency_is_absent(string assembly, string forbidden)
    {
        var references = Load(assembly).GetReferencedAssemblies().Select(a => a.Name!).ToList();
        Assert.DoesNotContain(references, r => Matches(forbidden, r));
    }

    /// <summary>Our assemblies, and the third-party ones a rule names: framework assemblies (System.*) are everyone's.</summary>
    private static bool IsOurs(string name) =>
        !(name.StartsWith("System", StringComparison.Ordinal) || name is "netstandard" or "mscorlib" or "Microsoft.Win32.Primitives" or "Microsoft.CSharp");

    private static bool Matches(string pattern, string name) =>
        pattern.EndsWith('*') ? name.StartsWith(pattern[..^1], StringComparison.Ordinal) : name == pattern;

    private static Assembly Load(string name) =>
        AppDomain.CurrentDomain.GetAssemblies().FirstOrDefault(a => a.GetName().Name == name)
        ?? Assembly.Load(new AssemblyName(name));
}
