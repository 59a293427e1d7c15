using System.Diagnostics;
using System.Reflection;
using Bank.Demo;

namespace Middleware.Tests.Crash;

/// <summary>
/// How to start the single-host child process of the crash tests: <c>dotnet Middleware.TestHost.dll host --db PATH</c>
/// (or <c>host --store SETTING</c>), the test host's own build output (with its runtimeconfig and deps files), found from
/// the repository root. The test project references the test host for build order.
/// </summary>
public sealed record HostLaunch(string DotnetPath, string DllPath)
{
    private const string AssemblyName = "Middleware.TestHost";

    /// <summary>Finds the dotnet executable and a runnable Middleware.TestHost.dll; throws naming what is missing.</summary>
    /// <summary>Environment variables set for the host process, on top of this process's (null: none).</summary>
    public IReadOnlyDictionary<string, string>? Environment { get; init; }

    public static HostLaunch Locate() => new(Bank.Cluster.SiloBuild.LocateDotnet(), FindBuildOutput(typeof(HostLaunch).Assembly.Location));

    /// <summary>
    /// The start information for a host serving <paramref name="dbPath"/>, with redirected pipes: a SQLite file path,
    /// or a store setting with its kind (<c>postgres:...</c>, <c>sqlite:...</c>), which is passed as <c>--store</c>.
    /// </summary>
    public ProcessStartInfo StartInfo(string dbPath)
    {
        var info = new ProcessStartInfo(DotnetPath)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(DllPath);
        info.ArgumentList.Add("host");
        info.ArgumentList.Add(IsStoreSetting(dbPath) ? "--store" : "--db");
        info.ArgumentList.Add(dbPath);
        foreach (var (name, value) in Environment ?? new Dictionary<string, string>()) info.Environment[name] = value;
        return info;
    }

    private static bool IsStoreSetting(string value) =>
        new[] { "sqlite:", "postgres:", "sqlserver:", "memory:", "sharded:" }.Any(p => value.StartsWith(p, StringComparison.OrdinalIgnoreCase));

    private static bool IsRunnable(string dll) =>
        dll.Length > 0 && File.Exists(dll)
        && File.Exists(Path.ChangeExtension(dll, ".runtimeconfig.json"))
        && File.Exists(Path.ChangeExtension(dll, ".deps.json"));

    private static string FindBuildOutput(string own)
    {
        var configuration = typeof(HostLaunch).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
        var framework = new DirectoryInfo(Path.GetDirectoryName(own) ?? AppContext.BaseDirectory).Name; // e.g. net10.0
        var root = Bank.Cluster.SiloBuild.RepositoryRoot()
            ?? throw new FileNotFoundException($"Cannot find {AssemblyName}.dll: no Middleware.sln above {AppContext.BaseDirectory}.");
        var candidate = Path.Combine(root, "tests", AssemblyName, "bin", configuration, framework, AssemblyName + ".dll");
        return IsRunnable(candidate)
            ? candidate
            : throw new FileNotFoundException($"The test host is not built at {candidate} (or its runtimeconfig/deps files are missing); run 'dotnet build tests/{AssemblyName} -c {configuration}'.", candidate);
    }
}
