using System.Reflection;

namespace Bank.Cluster;

/// <summary>
/// Where the silo program is: the dotnet muxer that runs it and <c>Middleware.Silo.dll</c> from the silo's own build
/// output (<c>src/Silo/bin/&lt;configuration&gt;/&lt;tfm&gt;</c>, which has its runtimeconfig and deps files), found from
/// the repository root above this program. Bank.Cluster references the silo project for build order only, so building
/// the demo or the benchmark builds the silo in the same configuration.
/// </summary>
public static class SiloBuild
{
    /// <summary>An environment variable that names the silo dll explicitly (e.g. a published silo).</summary>
    public const string DllVariable = "MIDDLEWARE_SILO_DLL";

    /// <summary>The path of a runnable <c>Middleware.Silo.dll</c>; throws <see cref="FileNotFoundException"/> naming the build command when there is none.</summary>
    public static string LocateDll()
    {
        var explicitPath = Environment.GetEnvironmentVariable(DllVariable);
        if (!string.IsNullOrWhiteSpace(explicitPath))
        {
            return IsRunnable(explicitPath)
                ? Path.GetFullPath(explicitPath)
                : throw new FileNotFoundException($"{DllVariable} names {explicitPath}, which is not a runnable silo (the dll with its .runtimeconfig.json beside it).", explicitPath);
        }

        var (root, configuration, framework) = BuildCoordinates();
        var dll = Path.Combine(root, "src", "Silo", "bin", configuration, framework, "Middleware.Silo.dll");
        return IsRunnable(dll)
            ? dll
            : throw new FileNotFoundException($"The silo is not built at {dll}; run 'dotnet build src/Silo -c {configuration}' (or set {DllVariable}).", dll);
    }

    /// <summary>
    /// The path of the sample's component assembly (<c>samples/Bank/bin/&lt;configuration&gt;/&lt;tfm&gt;/Bank.dll</c>) that silos
    /// load with <c>--components</c>: clients and the benchmark reference the interfaces (Bank.Abstractions) only, and
    /// Bank.Cluster references the Bank project for build order only. Throws <see cref="FileNotFoundException"/> naming
    /// the build command when it is not built.
    /// </summary>
    public static string LocateBankComponents()
    {
        var (root, configuration, framework) = BuildCoordinates();
        var dll = Path.Combine(root, "samples", "Bank", "bin", configuration, framework, "Bank.dll");
        return File.Exists(dll)
            ? dll
            : throw new FileNotFoundException($"The sample components are not built at {dll}; run 'dotnet build samples/Bank -c {configuration}'.", dll);
    }

    /// <summary>The dotnet muxer running this process if it is one, else DOTNET_HOST_PATH, else DOTNET_ROOT/dotnet, else 'dotnet' on PATH.</summary>
    public static string LocateDotnet()
    {
        var current = Environment.ProcessPath;
        if (current is not null && Path.GetFileNameWithoutExtension(current).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
            return current;
        var hostPath = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(hostPath) && File.Exists(hostPath)) return hostPath;
        var root = Environment.GetEnvironmentVariable("DOTNET_ROOT");
        if (!string.IsNullOrEmpty(root))
        {
            var candidate = Path.Combine(root, OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet");
            if (File.Exists(candidate)) return candidate;
        }

        return "dotnet";
    }

    /// <summary>The directory holding Middleware.sln above this program's directory or the current directory, or null.</summary>
    public static string? RepositoryRoot()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Middleware.sln"))) return dir.FullName;
            }
        }

        return null;
    }

    /// <summary>The repository root and the configuration and target framework this program was built with.</summary>
    private static (string Root, string Configuration, string Framework) BuildCoordinates()
    {
        var configuration = typeof(SiloBuild).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
        var framework = new DirectoryInfo(Path.GetDirectoryName(typeof(SiloBuild).Assembly.Location) is { Length: > 0 } dir ? dir : AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Name;
        if (!framework.StartsWith("net", StringComparison.Ordinal)) framework = "net10.0";
        var root = RepositoryRoot()
            ?? throw new FileNotFoundException($"No Middleware.sln above {AppContext.BaseDirectory} or {Environment.CurrentDirectory}: cannot find the build outputs; set {DllVariable} to the path of Middleware.Silo.dll.");
        return (root, configuration, framework);
    }

    private static bool IsRunnable(string dll) =>
        File.Exists(dll) && File.Exists(Path.ChangeExtension(dll, ".runtimeconfig.json"));
}
