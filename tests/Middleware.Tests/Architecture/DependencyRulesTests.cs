using System.Reflection;

namespace Middleware.Tests.Architecture;

/// <summary>
/// The layering of docs/ARCHITECTURE.md, checked on the built assemblies (what they reference in their metadata, which is
/// what loads at run time): Grains depends on nothing of ours; Core on Grains; Protocol on Core; the client never on the
/// engine, the transport or the silo; the engine never on the protocol or ASP.NET Core; the admin tool never on the silo; what mw and the dashboard show
/// (Inspection) never on ASP.NET Core or the silo, and the dashboard never on the silo;
/// the sample's interfaces on Grains alone; the pure client sample (samples/Bank.Client) on the interfaces and the client
/// SDK, never on the engine or the components.
/// </summary>
public sealed class DependencyRulesTests
{
    /// <summary>Each assembly of ours and the assemblies of ours (and the frameworks) it may reference.</summary>
    public static TheoryData<string, string[]> Allowed() => new()
    {
        // Context.Logger: the logging abstractions (no implementation) are the programming model's only dependency.
        { "Middleware.Grains", ["Microsoft.Extensions.Logging.Abstractions"] },
        { "Middleware.Core", ["Middleware.Grains"] },
        { "Middleware.Protocol", ["Middleware.Core", "Middleware.Grains"] },
        // AddMiddlewareClient: the DI, hosting and configuration abstractions, never ASP.NET Core.
        { "Middleware.Client", ["Middleware.Grains", "Middleware.Core", "Middleware.Protocol", "Polly.Core", "Microsoft.Extensions.DependencyInjection.Abstractions", "Microsoft.Extensions.Hosting.Abstractions", "Microsoft.Extensions.Configuration.Abstractions", "Microsoft.Extensions.Configuration.Binder", "Microsoft.Extensions.Logging.Abstractions"] },
        { "Middleware.Recovery", ["Middleware.Grains", "Middleware.Core", "Microsoft.Extensions.Logging.Abstractions", "Microsoft.Extensions.DependencyInjection.Abstractions"] },
        { "Middleware.Recovery.Sqlite", ["Middleware.Grains", "Middleware.Core", "Middleware.Recovery", "SQLitePCLRaw.core", "SQLitePCLRaw.batteries_v2"] },
        { "Middleware.Recovery.Postgres", ["Middleware.Grains", "Middleware.Core", "Middleware.Recovery", "Npgsql"] },
        { "Middleware.Recovery.SqlServer", ["Middleware.Grains", "Middleware.Core", "Middleware.Recovery", "Microsoft.Data.SqlClient"] },
        { "Middleware.Recovery.TestKit", ["Middleware.Grains", "Middleware.Core", "Middleware.Recovery", "xunit.*"] },
        { "Middleware.Testing", ["Middleware.Grains", "Middleware.Core", "Middleware.Recovery", "Middleware.Recovery.Sqlite", "Microsoft.Data.Sqlite", "SQLitePCLRaw.core", "Microsoft.Extensions.Logging.Abstractions"] },
        { "Middleware.Inspection", ["Middleware.Grains", "Middleware.Core", "Middleware.Recovery", "Middleware.Protocol", "Microsoft.Extensions.Logging.Abstractions"] },
        { "Middleware.Dashboard", ["Middleware.Grains", "Middleware.Core", "Middleware.Recovery", "Middleware.Protocol", "Middleware.Inspection", "Microsoft.AspNetCore.*", "Microsoft.Extensions.*"] },
        { "Middleware.Transport", ["Middleware.Grains", "Middleware.Core", "Middleware.Protocol", "Microsoft.AspNetCore.*", "Microsoft.Extensions.*"] },
        { "Bank.Abstractions", ["Middleware.Grains"] },
        { "Bank", ["Middleware.Grains", "Bank.Abstractions"] },
        { "Bank.Client", ["Bank.Abstractions", "Middleware.Client", "Middleware.Core", "Middleware.Grains", "Middleware.Protocol", "Polly.Core"] },
    };

    [Theory]
    [MemberData(nameof(Allowed))]
    public void An_assembly_references_only_what_its_layer_allows(string assembly, string[] allowed)
    {
        var references = References(assembly).Where(IsOurs).ToList();
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
    [InlineData("mw", "Middleware.Silo")]                  // src/Admin (Middleware.Admin.csproj) builds mw.dll
    [InlineData("Middleware.Inspection", "Microsoft.AspNetCore.*")]
    [InlineData("Middleware.Inspection", "Middleware.Silo")]
    [InlineData("Middleware.Dashboard", "Middleware.Silo")]
    [InlineData("Bank.Demo", "Middleware.Silo")]
    [InlineData("Bank.Demo", "Bank")]
    [InlineData("Middleware.Bench", "Bank")]
    [InlineData("Bank.Client", "Middleware.Recovery")]
    [InlineData("Bank.Client", "Bank")]
    [InlineData("Middleware.Testing", "xunit.*")] // the component test kit works with any test framework
    public void A_forbidden_dependency_is_absent(string assembly, string forbidden)
    {
        var references = References(assembly);
        Assert.DoesNotContain(references, r => Matches(forbidden, r));
    }

    /// <summary>Our assemblies, and the third-party ones a rule names: framework assemblies (System.*) are everyone's.</summary>
    private static bool IsOurs(string name) =>
        !(name.StartsWith("System", StringComparison.Ordinal) || name is "netstandard" or "mscorlib" or "Microsoft.Win32.Primitives" or "Microsoft.CSharp");

    private static bool Matches(string pattern, string name) =>
        pattern.EndsWith('*') ? name.StartsWith(pattern[..^1], StringComparison.Ordinal) : name == pattern;

    /// <summary>
    /// The assemblies <paramref name="name"/> references, read from its metadata: from the copy this test loads, or (for a
    /// program the tests do not reference, like the benchmark) from its build output in the repository.
    /// </summary>
    private static List<string> References(string name)
    {
        string path;
        try
        {
            path = Assembly.Load(new AssemblyName(name)).Location;
        }
        catch (FileNotFoundException)
        {
            var configuration = typeof(DependencyRulesTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
            var root = Bank.Cluster.SiloBuild.RepositoryRoot() ?? throw new InvalidOperationException("no Middleware.sln above the test directory");
            path = Directory.EnumerateFiles(root, name + ".dll", SearchOption.AllDirectories)
                .FirstOrDefault(p => p.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}{configuration}{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
                ?? throw new InvalidOperationException($"{name}.dll is not built under {root}; build the solution first.");
        }

        using var stream = File.OpenRead(path);
        using var pe = new System.Reflection.PortableExecutable.PEReader(stream);
        var metadata = System.Reflection.Metadata.PEReaderExtensions.GetMetadataReader(pe);
        return metadata.AssemblyReferences.Select(h => metadata.GetString(metadata.GetAssemblyReference(h).Name)).ToList();
    }
}
