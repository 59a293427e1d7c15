using System.Text.RegularExpressions;

namespace Middleware.Tests.Deployment;

/// <summary>
/// docker-compose.yml and the Dockerfile cannot be run here (no Docker engine); these tests keep them
/// consistent with the real silo host: every option and environment variable they use must exist.
/// </summary>
public sealed partial class DockerComposeTests
{
    private static readonly string Root = FindRoot();

    [Fact]
    public void Every_silo_option_and_variable_the_deployment_uses_is_one_the_silo_host_reads()
    {
        var settings = File.ReadAllText(Path.Combine(Root, "src", "Silo", "Hosting", "SiloSettings.cs"));
        var options = SettingOption().Matches(settings).Select(m => m.Groups["option"].Value).ToHashSet();
        var variables = SettingOption().Matches(settings).Select(m => m.Groups["env"].Value).ToHashSet();
        Assert.Contains("--store", options);

        var dockerfile = File.ReadAllText(Path.Combine(Root, "Dockerfile"));
        var siloEntry = dockerfile[dockerfile.IndexOf("Middleware.Silo.dll", StringComparison.Ordinal)..];
        siloEntry = siloEntry[..siloEntry.IndexOf(']')];
        foreach (Match m in DashOption().Matches(siloEntry)) Assert.Contains(m.Value, options);

        var compose = File.ReadAllText(Path.Combine(Root, "docker-compose.yml"));
        var used = EnvironmentName().Matches(compose).Select(m => m.Value).Distinct().ToList();
        Assert.NotEmpty(used);
        foreach (var name in used)
        {
            Assert.True(variables.Contains(name) || name.StartsWith("MIDDLEWARE_BACKEND_", StringComparison.Ordinal),
                $"docker-compose.yml sets {name}, which the silo host does not read (known: {string.Join(", ", variables.Order())})");
        }
    }

    [Fact]
    public void The_images_load_the_component_assembly_the_sample_builds_and_the_admin_entry_point_exists()
    {
        var dockerfile = File.ReadAllText(Path.Combine(Root, "Dockerfile"));
        Assert.Contains("/app/components/Bank.dll", dockerfile);
        Assert.Contains("samples/Bank/Bank.csproj", dockerfile);
        Assert.Contains("/app/Middleware.Admin.dll", dockerfile);
        Assert.True(File.Exists(Path.Combine(Root, "src", "Admin", "Middleware.Admin.csproj")));
        Assert.True(File.Exists(Path.Combine(Root, "deploy", "postgres-init.sql")));
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Middleware.sln"))) return dir.FullName;
        }

        throw new InvalidOperationException("Cannot find the repository root (Middleware.sln) above " + AppContext.BaseDirectory);
    }

    [GeneratedRegex("new\\(\"(?<option>--[a-z-]+)\", \"(?<env>MIDDLEWARE_[A-Z_]+)\"")]
    private static partial Regex SettingOption();

    [GeneratedRegex("--[a-z][a-z-]+")]
    private static partial Regex DashOption();

    [GeneratedRegex("MIDDLEWARE_[A-Z_]+")]
    private static partial Regex EnvironmentName();
}
