using System.Diagnostics;
using System.Reflection;

namespace Bank.Demo;

/// <summary>
/// How to start the host process: <c>dotnet &lt;Bank.Demo.dll&gt; host --db &lt;path&gt;</c> (or <c>host --store &lt;setting&gt;</c>). The dll is this
/// assembly when Bank.Demo is the running program (with its runtimeconfig and deps files, which the demo and
/// a plain build have); a test project that references Bank.Demo gets only a copy of the dll beside its own
/// dependencies, so then the Bank.Demo build output is looked up from the repository root.
/// </summary>
public sealed record HostLaunch(string DotnetPath, string DllPath)
{
    private const string AssemblyName = "Bank.Demo";

    /// <summary>Finds the dotnet executable and a runnable Bank.Demo.dll; throws naming what is missing.</summary>
    public static HostLaunch Locate()
    {
        var own = typeof(HostLaunch).Assembly.Location;
        // Another program (a test host) runs Bank.Demo's own build output, not its copy of the dll: that copy comes
        // with the other program's dependency files, which can lack what the host loads (a test project on the
        // ASP.NET Core shared framework gets no copy of Microsoft.Extensions.Logging.Abstractions, which Npgsql needs).
        var runningAsDemo = System.Reflection.Assembly.GetEntryAssembly() == typeof(HostLaunch).Assembly;
        var dll = runningAsDemo && IsRunnable(own) ? own : FindBuildOutput(own);
        return new HostLaunch(Bank.Cluster.SiloBuild.LocateDotnet(), dll);
    }

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
        return info;
    }

    private static bool IsStoreSetting(string value) =>
        new[] { "sqlite:", "postgres:", "sqlserver:", "memory:" }.Any(p => value.StartsWith(p, StringComparison.OrdinalIgnoreCase));

    private static bool IsRunnable(string dll) =>
        dll.Length > 0 && File.Exists(dll)
        && File.Exists(Path.ChangeExtension(dll, ".runtimeconfig.json"))
        && File.Exists(Path.ChangeExtension(dll, ".deps.json"));

    private static string FindBuildOutput(string own)
    {
        var configuration = typeof(HostLaunch).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
        var framework = new DirectoryInfo(Path.GetDirectoryName(own) ?? AppContext.BaseDirectory).Name; // e.g. net10.0
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (!File.Exists(Path.Combine(dir.FullName, "Middleware.sln"))) continue;
            var candidate = Path.Combine(dir.FullName, "samples", AssemblyName, "bin", configuration, framework, AssemblyName + ".dll");
            if (IsRunnable(candidate)) return candidate;
            throw new FileNotFoundException($"Bank.Demo is not built at {candidate} (or its runtimeconfig/deps files are missing); run 'dotnet build samples/Bank.Demo -c {configuration}'.", candidate);
        }

        throw new FileNotFoundException($"Cannot find a runnable {AssemblyName}.dll: {own} has no runtimeconfig/deps files beside it and no Middleware.sln was found above {AppContext.BaseDirectory}.");
    }
}
