using System.Diagnostics;
using Middleware.Admin.Cli;

namespace Middleware.Tests.Admin;

/// <summary>
/// Every command validates its arguments: a bad value is exit code 2 and exactly one <c>mw: ...</c> line on stderr that
/// names the option (or argument) and the fix, never a stack trace and never exit 0. An unexpected failure is one line
/// too (exit 1), with the details only under <c>--verbose</c> or <c>MIDDLEWARE_DEBUG=1</c>.
/// </summary>
public sealed class AdminArgumentTests : IClassFixture<AdminArgumentTests.BankStore>
{
    private readonly BankStore _store;

    public AdminArgumentTests(BankStore store) => _store = store;

    /// <summary>One written Bank store (accounts a0..a2, 20 turns each) shared by the cases; none of them writes.</summary>
    public sealed class BankStore : IAsyncLifetime
    {
        public AdminFixture Fixture { get; } = new();

        public Task InitializeAsync() => Fixture.WriteBankAsync();

        public Task DisposeAsync()
        {
            Fixture.Dispose();
            return Task.CompletedTask;
        }
    }

    private static readonly string B = AdminFixture.BankDll;

    /// <summary>Arguments (the store is added), and a text the one error line must contain.</summary>
    public static TheoryData<string[], string> BadArguments() => new()
    {
        // Assembly paths: empty, a directory, nothing there.
        { ["audit", "--all", "--components", ""], "--components" },
        { ["audit", "--all", "--components", "   "], "--components" },
        { ["audit", "--all", "--components", "/tmp"], "--components" },
        { ["audit", "--all", "--components", "/no/such/App.dll"], "--components" },
        { ["state", "Account/a0", "--components", ""], "--components" },
        { ["checkpoint", "Account/a0", "--components", ""], "--components" },
        { ["truncate", "Account/a0", "--before", "2", "--components", ""], "--components" },
        { ["quarantine", "Account/a0", "--reason", "r", "--components", ""], "--components" },
        { ["dev", "generate", "--components", ""], "--components" },
        // Seq ranges.
        { ["log", "Account/a0", "--from", "-5"], "--from" },
        { ["log", "Account/a0", "--from", "0"], "--from" },
        { ["log", "Account/a0", "--to", "-1"], "--to" },
        { ["log", "Account/a0", "--to", "0"], "--to" },
        { ["log", "Account/a0", "--from", "10", "--to", "3"], "--from 10" },
        { ["log", "Account/a0", "--from", "abc"], "--from" },
        { ["log", "Account/a0", "--from", "99999999999999999999"], "--from" },
        { ["state", "Account/a0", "--components", B, "--seq", "-1"], "--seq" },
        { ["state", "Account/a0", "--components", B, "--seq", "99999"], "--seq" },
        { ["truncate", "Account/a0", "--before", "0", "--force"], "--before" },
        { ["truncate", "Account/a0", "--before", "-3", "--force"], "--before" },
        { ["truncate", "Account/a0", "--before", "99999", "--force"], "--before" },
        { ["reset", "Account/a0", "--reason", "r", "--to", "-1", "--components", B], "--to" },
        { ["accept", "Account/a0", "--reason", "r", "--from", "0", "--components", B], "--from" },
        { ["accept", "Account/a0", "--reason", "r", "--from", "-2", "--components", B], "--from" },
        // Times.
        { ["state", "Account/a0", "--components", B, "--as-of", ""], "--as-of" },
        { ["state", "Account/a0", "--components", B, "--as-of", "yesterday"], "--as-of" },
        { ["state", "Account/a0", "--components", B, "--as-of", "2025-13-45T00:00:00Z"], "--as-of" },
        // Numeric ranges.
        { ["audit", "--all", "--components", B, "--parallel", "0"], "--parallel" },
        { ["audit", "--all", "--components", B, "--parallel", "-3"], "--parallel" },
        { ["audit", "--all", "--components", B, "--parallel", "100000"], "--parallel" },
        { ["sessions", "list", "--limit", "0"], "--limit" },
        { ["sessions", "list", "--limit", "-1"], "--limit" },
        { ["dev", "generate", "--components", B, "--accounts", "0"], "--accounts" },
        { ["dev", "generate", "--components", B, "--turns", "-1"], "--turns" },
        { ["dev", "generate", "--components", B, "--checkpoint-every", "0"], "--checkpoint-every" },
        { ["dev", "generate", "--components", B, "--window", "0"], "--window" },
        // Component ids, session and request ids, silo ids, types, reasons: empty or malformed.
        { ["log", ""], "component id" },
        { ["log", "Account/"], "Type/key" },
        { ["log", "/a0"], "Type/key" },
        { ["components", "show", ""], "component id" },
        { ["components", "show", "   "], "component id" },
        { ["checkpoint", "Account", "--components", B], "Type/key" },
        { ["audit", "", "--components", B], "component id" },
        { ["components", "list", "--type", ""], "--type" },
        { ["components", "list", "--type", "Account/a0"], "--type" },
        { ["audit", "--type", "", "--components", B], "--type" },
        { ["sessions", "show", ""], "session id" },
        { ["outcome", ""], "request id" },
        { ["outcome", "   "], "request id" },
        { ["outcome", "s:1", "--component", ""], "--component" },
        { ["outcome", "s:1", "--component", "nope"], "Type/key" },
        { ["move", "Account/a0", "--to", ""], "--to" },
        { ["move", "", "--to", "silo-1"], "component id" },
        { ["quarantine", "Account/a0", "--reason", ""], "--reason" },
        { ["quarantine", "Account/a0", "--reason", "  "], "--reason" },
        { ["quarantine", "Account/a0", "--reason", "two\nlines"], "--reason" },
        { ["dev", "generate", "--components", B, "--type", ""], "--type" },
        { ["dev", "generate", "--components", B, "--method", ""], "--method" },
        // Conflicting or missing options.
        { ["state", "Account/a0", "--components", B, "--seq", "1", "--as-of", "2025-01-01T00:00:00Z"], "--seq" },
        { ["audit", "Account/a0", "--all", "--components", B], "exactly one" },
        { ["audit", "--components", B], "exactly one" },
        { ["truncate", "Account/a0", "--before", "2", "--force", "--components", B], "--force" },
        { ["outcome", "s:1", "--fence"], "--component" },
        { ["log", "Account/a0", "extra"], "extra" },
        { ["components", "list", "--frobnicate"], "--frobnicate" },
        { [], "command" },
        { ["components"], "command" },
        { ["db"], "command" },
        // Unknown ids, control characters in what is echoed back (one line, escaped).
        { ["components", "show", "Account/nobody"], "No component 'Account/nobody'" },
        { ["components", "show", "Account/x\nmw: forged line"], "Account/x\\nmw: forged line" },
        { ["sessions", "show", "s\u001b[31m"], "s\\x1b[31m" },
    };

    /// <summary>Stores: given empty, of no known kind, without a path.</summary>
    public static TheoryData<string[], string> BadStores() => new()
    {
        { ["components", "list", "--store", ""], "--store" },
        { ["components", "list", "--store", "bogus"], "not a store connection string" },
        { ["components", "list", "--store", "sqlite:"], "has no path" },
        { ["components", "list", "--store", "sqlite:/tmp"], "--store" },
        { ["db", "verify", "--store", "postgres:Host=x"], "sqlite:PATH" },
        { ["db", "migrate", "--store", "memory:"], "sqlite:PATH" },
    };

    internal static void AssertOneLine((int Code, string Out, string Err) run, string mentions, int code = ExitCodes.UsageOrStore)
    {
        var all = $"exit {run.Code}\nstdout:\n{run.Out}\nstderr:\n{run.Err}";
        Assert.True(run.Code == code, all);
        Assert.False(run.Err.Contains("   at ", StringComparison.Ordinal) || run.Out.Contains("   at ", StringComparison.Ordinal), "stack trace:\n" + all);
        var lines = run.Err.TrimEnd('\n').Split('\n');
        Assert.True(lines.Length == 1, "expected one stderr line:\n" + all);
        Assert.StartsWith("mw: ", lines[0], StringComparison.Ordinal);
        Assert.True(lines[0].Contains(mentions, StringComparison.Ordinal), $"the line does not name '{mentions}':\n{lines[0]}");
        Assert.DoesNotContain('\u001b', run.Err);
    }

    [Theory]
    [MemberData(nameof(BadArguments))]
    public async Task A_bad_argument_is_exit_2_and_one_line_naming_it(string[] args, string mentions)
    {
        var run = await _store.Fixture.MwOnStore(args);
        AssertOneLine(run, mentions);
        Assert.Equal("", run.Out);
    }

    [Theory]
    [MemberData(nameof(BadStores))]
    public async Task A_bad_store_is_exit_2_and_one_line_naming_it(string[] args, string mentions) =>
        AssertOneLine(await AdminFixture.Mw(args), mentions);

    [Fact]
    public async Task An_unexpected_failure_is_one_line_and_exit_1_with_details_only_under_verbose()
    {
        var args = new[] { "components", "list", "--store", _store.Fixture.Store };
        using var error = new StringWriter();
        var code = await AdminCli.RunAsync(args, new BrokenWriter(), error);
        AssertOneLine((code, "", error.ToString()), "unexpected", ExitCodes.Divergence);
        Assert.Contains("--verbose", error.ToString(), StringComparison.Ordinal);

        using var verbose = new StringWriter();
        Assert.Equal(1, await AdminCli.RunAsync([.. args, "--verbose"], new BrokenWriter(), verbose));
        Assert.StartsWith("mw: ", verbose.ToString(), StringComparison.Ordinal);
        Assert.Contains("   at ", verbose.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("audit", "--all", "--components", "")]
    [InlineData("log", "Account/a0", "--from", "-5")]
    [InlineData("log", "Account/a0", "--from", "10", "--to", "3")]
    public async Task The_real_mw_process_exits_2_with_one_line_never_an_abort(params string[] args)
    {
        var info = new ProcessStartInfo(Bank.Cluster.SiloBuild.LocateDotnet())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(typeof(AdminCli).Assembly.Location);
        foreach (var arg in args) info.ArgumentList.Add(arg);
        info.ArgumentList.Add("--store");
        info.ArgumentList.Add(_store.Fixture.Store);
        info.Environment.Remove("MIDDLEWARE_DEBUG");
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        AssertOneLine((process.ExitCode, await output, await error), "--");
    }

    /// <summary>A stdout that fails, like a closed pipe: not something any command expects.</summary>
    private sealed class BrokenWriter : StringWriter
    {
        public override void Write(char value) => throw new InvalidOperationException("the output is gone");

        public override void Write(string? value) => throw new InvalidOperationException("the output is gone");

        public override void WriteLine(string? value) => throw new InvalidOperationException("the output is gone");

        public override Task WriteLineAsync(string? value) => throw new InvalidOperationException("the output is gone");
    }
}
