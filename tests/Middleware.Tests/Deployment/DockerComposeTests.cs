using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

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
        var siloEntry = dockerfile[dockerfile.IndexOf("tools/middleware-silo\"", StringComparison.Ordinal)..];
        siloEntry = siloEntry[..siloEntry.IndexOf(']')];
        foreach (Match m in DashOption().Matches(siloEntry)) Assert.Contains(m.Value, options);

        var compose = File.ReadAllText(Path.Combine(Root, "docker-compose.yml"));
        var used = EnvironmentName().Matches(compose).Select(m => m.Value).Distinct().ToList();
        Assert.NotEmpty(used);
        foreach (var name in used)
        {
            // MIDDLEWARE_PUBLISH_ADDRESS is compose's own (the host address ports are published on), not the silo's.
            if (name == "MIDDLEWARE_PUBLISH_ADDRESS") continue;
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
        // The tools come from the packages the build stage packs (Recoverix.Silo.Tool, Recoverix.Admin), from that feed only.
        Assert.Contains("dotnet pack Middleware.sln", dockerfile);
        Assert.Contains("dotnet tool install Recoverix.Silo.Tool", dockerfile);
        Assert.Contains("dotnet tool install Recoverix.Admin", dockerfile);
        Assert.Contains("ENTRYPOINT [\"/opt/recoverix/tools/mw\"]", dockerfile);
        Assert.Contains("<clear />", File.ReadAllText(Path.Combine(Root, "packaging", "docker", "nuget.config")));
        Assert.Contains("<ToolCommandName>mw</ToolCommandName>", File.ReadAllText(Path.Combine(Root, "src", "Admin", "Middleware.Admin.csproj")));
        Assert.Contains("<ToolCommandName>middleware-silo</ToolCommandName>", File.ReadAllText(Path.Combine(Root, "src", "Silo.Tool", "Middleware.Silo.Tool.csproj")));
        Assert.True(File.Exists(Path.Combine(Root, "deploy", "postgres-init.sql")));
    }

    /// <summary>The compose file as YAML, with merge keys (<c>&lt;&lt;: *silo</c>) applied to every service.</summary>
    private static Dictionary<string, YamlMappingNode> Services(out YamlMappingNode root)
    {
        var yaml = new YamlStream();
        using (var reader = new StreamReader(Path.Combine(Root, "docker-compose.yml"))) yaml.Load(reader);
        root = (YamlMappingNode)yaml.Documents[0].RootNode;
        return ((YamlMappingNode)root.Children[new YamlScalarNode("services")]).Children
            .ToDictionary(e => ((YamlScalarNode)e.Key).Value!, e => Merged((YamlMappingNode)e.Value));
    }

    private static YamlMappingNode Merged(YamlMappingNode node)
    {
        var result = new YamlMappingNode();
        if (node.Children.TryGetValue(new YamlScalarNode("<<"), out var merge))
        {
            foreach (var source in merge is YamlSequenceNode list ? list.Children : [merge])
                foreach (var (key, value) in Merged((YamlMappingNode)source).Children) result.Children[key] = value;
        }

        foreach (var (key, value) in node.Children)
        {
            if (key is YamlScalarNode { Value: "<<" }) continue;
            result.Children[key] = value is YamlMappingNode m ? Merged(m) : value;
        }

        return result;
    }

    private static YamlNode? Get(YamlMappingNode node, string key) => node.Children.TryGetValue(new YamlScalarNode(key), out var value) ? value : null;

    [Fact]
    public void Every_published_port_is_bound_to_loopback_unless_the_documented_variable_opens_it()
    {
        var services = Services(out _);
        var published = 0;
        foreach (var (name, service) in services)
        {
            if (Get(service, "ports") is not YamlSequenceNode ports) continue;
            foreach (var port in ports.Children)
            {
                published++;
                // Short syntax HOST_IP:HOST_PORT:CONTAINER_PORT, or the long syntax with host_ip.
                var hostIp = port is YamlMappingNode longForm
                    ? (Get(longForm, "host_ip") as YamlScalarNode)?.Value
                    : PublishedHost().Match(((YamlScalarNode)port).Value!) is { Success: true } m ? m.Groups["host"].Value : null;
                Assert.True(hostIp is "127.0.0.1" or "${MIDDLEWARE_PUBLISH_ADDRESS:-127.0.0.1}",
                    $"service {name} publishes {port} on {hostIp ?? "every interface"}; bind it to 127.0.0.1 or ${{MIDDLEWARE_PUBLISH_ADDRESS:-127.0.0.1}}");
            }
        }

        Assert.True(published >= 6, "the silos' ports should be published");
        var readme = File.ReadAllText(Path.Combine(Root, "README.md"));
        Assert.Contains("MIDDLEWARE_PUBLISH_ADDRESS", readme);
    }

    [Fact]
    public void The_cluster_key_comes_from_a_secret_file_never_a_literal_in_the_compose_file()
    {
        var compose = File.ReadAllText(Path.Combine(Root, "docker-compose.yml"));
        Assert.DoesNotContain("change-me", compose);
        var services = Services(out var root);
        var secrets = (YamlMappingNode)Get(root, "secrets")!;
        var file = ((YamlScalarNode)Get((YamlMappingNode)Get(secrets, "cluster-key")!, "file")!).Value!;
        Assert.Equal("./secrets/cluster-key", file);
        var silos = services.Where(s => s.Key.StartsWith("silo", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(silos);
        foreach (var (name, service) in services)
        {
            var environment = Get(service, "environment") as YamlMappingNode;
            Assert.True(environment is null || Get(environment, "MIDDLEWARE_CLUSTER_KEY") is null, $"service {name} sets the cluster key itself");
        }

        foreach (var (name, silo) in silos)
        {
            var environment = (YamlMappingNode)Get(silo, "environment")!;
            Assert.Equal("/run/secrets/cluster-key", ((YamlScalarNode)Get(environment, "MIDDLEWARE_CLUSTER_KEY_FILE")!).Value);
            var used = ((YamlSequenceNode)Get(silo, "secrets")!).Children.Select(c => ((YamlScalarNode)c).Value);
            Assert.True(used.Contains("cluster-key"), $"service {name} does not mount the cluster-key secret");
        }

        Assert.Contains("secrets/", File.ReadAllText(Path.Combine(Root, ".gitignore")));
        var readme = File.ReadAllText(Path.Combine(Root, "README.md"));
        Assert.Contains("secrets/cluster-key", readme);
    }

    [Fact]
    public void The_images_run_as_a_fixed_non_root_user_that_owns_the_data_directory()
    {
        var dockerfile = File.ReadAllText(Path.Combine(Root, "Dockerfile"));
        foreach (var stage in new[] { "AS silo", "AS admin" })
        {
            var start = dockerfile.IndexOf(stage, StringComparison.Ordinal);
            Assert.True(start >= 0, stage);
            var next = dockerfile.IndexOf("\nFROM ", start, StringComparison.Ordinal);
            var text = next < 0 ? dockerfile[start..] : dockerfile[start..next];
            var user = UserLine().Match(text);
            Assert.True(user.Success, $"the stage '{stage}' has no USER line with a numeric uid");
            Assert.NotEqual("0", user.Groups["uid"].Value);
            Assert.True(text.IndexOf("USER", StringComparison.Ordinal) < text.IndexOf("ENTRYPOINT", StringComparison.Ordinal), $"{stage}: USER must come before ENTRYPOINT");
        }

        Assert.Matches(@"chown[^\n]*10001[^\n]*/data", dockerfile);
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

    [GeneratedRegex(@"^(?<host>.+):(?<hostPort>\d+):(?<containerPort>\d+)(/\w+)?$")]
    private static partial Regex PublishedHost();

    [GeneratedRegex(@"(?m)^USER (?<uid>\d+)(:\d+)?\s*$")]
    private static partial Regex UserLine();

    [GeneratedRegex("--[a-z][a-z-]+")]
    private static partial Regex DashOption();

    [GeneratedRegex("MIDDLEWARE_[A-Z_]+")]
    private static partial Regex EnvironmentName();
}
