namespace Middleware.Tests.Silo;

/// <summary>Start-up of the silo host: configuration precedence, and settings that cannot work failing with one clear line.</summary>
public sealed class SiloStartupTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("mw-silo-start-").FullName;

    private string Store => $"sqlite:{Path.Combine(_directory, "middleware.db")}";

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static async Task<string> FailsWithOneLineAsync(IEnumerable<string> args)
    {
        await using var silo = SiloProcess.Launch(args);
        var exitCode = await silo.WaitForExitAsync();
        Assert.NotEqual(0, exitCode);
        var lines = silo.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.True(lines.Length == 1, $"expected one stderr line, got:\n{silo.Stderr}");
        Assert.DoesNotContain("listening", silo.Stdout);
        return lines[0];
    }

    [Fact]
    public async Task An_unknown_store_kind_exits_non_zero_naming_the_store_setting()
    {
        var line = await FailsWithOneLineAsync(["--store", "bogus:whatever", "--port", "0", "--http-port", "0", "--components", SiloProcess.BankAssembly]);
        Assert.Contains("--store", line);
        Assert.Contains("MIDDLEWARE_STORE", line);
        Assert.Contains("'bogus'", line);
        Assert.Contains("sqlite:PATH", line); // the fix: the accepted forms
    }

    [Fact]
    public async Task A_missing_component_assembly_exits_non_zero_naming_the_setting_and_path()
    {
        var missing = Path.Combine(_directory, "NotBuilt.dll");
        var line = await FailsWithOneLineAsync(["--store", Store, "--port", "0", "--http-port", "0", "--components", missing]);
        Assert.Contains("--components", line);
        Assert.Contains(missing, line);
        Assert.Contains("does not exist", line);
    }

    [Fact]
    public async Task No_components_and_a_bad_port_are_refused_before_anything_opens()
    {
        var none = await FailsWithOneLineAsync(["--store", Store, "--port", "0", "--http-port", "0"]);
        Assert.Contains("--components", none);
        var port = await FailsWithOneLineAsync(["--store", Store, "--port", "70000", "--http-port", "0", "--components", SiloProcess.BankAssembly]);
        Assert.Contains("--port", port);
        Assert.Contains("70000", port);
        Assert.False(File.Exists(Path.Combine(_directory, "middleware.db")), "the store must not be created when the options are invalid");
    }

    [Fact]
    public async Task The_command_line_overrides_the_environment()
    {
        var environment = new Dictionary<string, string>
        {
            ["MIDDLEWARE_STORE"] = Store,
            ["MIDDLEWARE_COMPONENTS"] = SiloProcess.BankAssembly,
            ["MIDDLEWARE_PORT"] = "0",
            ["MIDDLEWARE_HTTP_PORT"] = "0",
            ["MIDDLEWARE_SILO_ID"] = "from-environment",
            ["MIDDLEWARE_BACKEND_LEDGER"] = SiloProcess.DefaultLedger,
        };
        // One after the other: both use the same store.
        await using (var fromEnvironment = SiloProcess.Launch([], environment))
            Assert.Equal("from-environment", await ListeningIdAsync(fromEnvironment));
        await using (var fromCommandLine = SiloProcess.Launch(["--silo-id", "from-command-line"], environment))
            Assert.Equal("from-command-line", await ListeningIdAsync(fromCommandLine));
    }

    private static async Task<string> ListeningIdAsync(SiloProcess silo)
    {
        await silo.WaitListeningAsync();
        Assert.Contains($"store sqlite:", silo.ListeningLine);
        return silo.SiloId;
    }
}
