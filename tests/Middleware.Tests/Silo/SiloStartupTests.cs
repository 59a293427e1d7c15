namespace Middleware.Tests.Silo;

/// <summary>Start-up of the silo host: configuration precedence, and settings that cannot work failing with one clear line.</summary>
public sealed class SiloStartupTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("mw-silo-start-").FullName;

    private string Store => $"sqlite:{Path.Combine(_directory, "middleware.db")}";

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    /// <summary>
    /// Runs a silo that must refuse to start: exit code 2, exactly one <c>silo: ...</c> line on stderr, and no stack trace
    /// on either stream (the host's own "Hosting failed to start" log entry included).
    /// </summary>
    internal static async Task<string> FailsWithOneLineAsync(IEnumerable<string> args, IDictionary<string, string>? environment = null)
    {
        await using var silo = SiloProcess.Launch(args, environment);
        var exitCode = await silo.WaitForExitAsync();
        var both = $"exit code {exitCode}\nstdout:\n{silo.Stdout}\nstderr:\n{silo.Stderr}";
        Assert.True(exitCode == 2, both);
        var lines = silo.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.True(lines.Length == 1, $"expected one stderr line, got:\n{both}");
        Assert.StartsWith("silo: ", lines[0], StringComparison.Ordinal);
        Assert.DoesNotContain("listening", silo.Stdout);
        Assert.False(silo.Stdout.Contains("   at ", StringComparison.Ordinal) || silo.Stderr.Contains("   at ", StringComparison.Ordinal), "a stack trace was printed:\n" + both);
        Assert.DoesNotContain("Exception:", silo.Stdout, StringComparison.Ordinal);
        return lines[0];
    }

    private string[] Args(string store, params string[] extra) =>
        ["--store", store, "--port", "0", "--http-port", "0", "--components", SiloProcess.BankAssembly, "--Silo:Backends:ledger", SiloProcess.DefaultLedger, .. extra];

    [Theory]
    [InlineData("--port")]
    [InlineData("--http-port")]
    public async Task A_port_in_use_is_one_line_naming_the_setting_and_port_with_no_stack_trace(string option)
    {
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        var port = ((System.Net.IPEndPoint)taken.LocalEndpoint).Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var args = Args(Store).ToList();
        args[args.IndexOf(option) + 1] = port;
        var line = await FailsWithOneLineAsync(args);
        Assert.Contains(option, line);
        Assert.Contains(port, line);
        Assert.Contains("in use", line);
    }

    [Fact]
    public async Task A_store_path_that_cannot_be_opened_is_one_line_with_no_stack_trace()
    {
        // A directory where the file should be: cannot be opened as a database.
        var line = await FailsWithOneLineAsync(Args($"sqlite:{_directory}"));
        Assert.Contains("Cannot open the SQLite log store", line);
        var parentIsAFile = Path.Combine(_directory, "plain.txt");
        await File.WriteAllTextAsync(parentIsAFile, "x");
        Assert.Contains("Cannot open the SQLite log store", await FailsWithOneLineAsync(Args($"sqlite:{Path.Combine(parentIsAFile, "x.db")}")));
    }

    [Fact]
    public async Task A_component_assembly_that_is_not_an_assembly_or_lacks_its_dependencies_is_one_line_with_no_stack_trace()
    {
        var garbage = Path.Combine(_directory, "Garbage.dll");
        await File.WriteAllTextAsync(garbage, "not a PE file");
        var line = await FailsWithOneLineAsync(["--store", Store, "--port", "0", "--http-port", "0", "--components", garbage]);
        Assert.Contains("--components", line);
        Assert.Contains("not a .NET assembly", line);

        // Bank.dll alone, without Bank.Abstractions.dll beside it: its types cannot be loaded.
        var lonely = Directory.CreateDirectory(Path.Combine(_directory, "lonely")).FullName;
        var copy = Path.Combine(lonely, "Bank.dll");
        File.Copy(SiloProcess.BankAssembly, copy);
        var missing = await FailsWithOneLineAsync(["--store", Store, "--port", "0", "--http-port", "0", "--components", copy]);
        Assert.Contains("--components", missing);
        Assert.Contains(copy, missing);
    }

    [Fact]
    public async Task A_foreign_sqlite_file_is_refused_untouched_no_wal_and_no_tables()
    {
        var foreign = Path.Combine(_directory, "foreign.db");
        Storage.ForeignSqlite.Create(foreign);
        var before = Storage.ForeignSqlite.Snapshot(foreign);
        var line = await FailsWithOneLineAsync(Args($"sqlite:{foreign}"));
        Assert.Contains("not a log store of this middleware", line);
        Storage.ForeignSqlite.AssertUntouched(foreign, before);
    }

    [Fact]
    public async Task A_debug_flag_shows_the_stack_trace_of_a_start_failure_on_stderr()
    {
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        var args = Args(Store).ToList();
        args[args.IndexOf("--port") + 1] = ((System.Net.IPEndPoint)taken.LocalEndpoint).Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        await using var silo = SiloProcess.Launch(args, new Dictionary<string, string> { ["MIDDLEWARE_DEBUG"] = "1" });
        Assert.Equal(2, await silo.WaitForExitAsync());
        Assert.StartsWith("silo: ", silo.Stderr, StringComparison.Ordinal);
        Assert.Contains("   at ", silo.Stderr, StringComparison.Ordinal);
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
