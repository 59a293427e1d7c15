using Bank.Demo;
using Middleware.Recovery.Sqlite;
using Middleware.Recovery.Storage;
using Middleware.Recovery.Stores;
using Xunit.Abstractions;

namespace Middleware.Tests.Crash;

/// <summary>
/// The crash tests start real host processes and SIGKILL them; they run one at a time and not alongside
/// other test classes, so timing-sensitive kills are not starved of the machine's cores.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class CrashCollection
{
    public const string Name = "Crash processes";
}

/// <summary>
/// One crash test's world: its own temp directory and database, a <see cref="HostSupervisor"/> running
/// Bank.Demo in host mode as a real child process, and a seeded random source printed to the test output so
/// a failing run can be repeated (<c>MIDDLEWARE_CRASH_SEED</c>). Given a store setting (e.g. <c>postgres:...</c>),
/// the host runs on that store instead of a SQLite file in the temp directory. Disposing it kills any child still running
/// and deletes the directory, also when the test failed.
/// </summary>
public sealed class CrashHarness : IAsyncDisposable
{
    private static readonly TimeSpan HostStartTimeout = TimeSpan.FromSeconds(30);
    private readonly string _directory;
    private readonly ITestOutputHelper _output;
    private readonly string? _store;

    public CrashHarness(ITestOutputHelper output, string name, string? store = null, IReadOnlyDictionary<string, string>? hostEnvironment = null)
    {
        _output = output;
        _directory = Path.Combine(Path.GetTempPath(), $"mw-crash-{name}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(_directory);
        _store = store;
        DbPath = store ?? Path.Combine(_directory, "bank.db");
        Seed = int.TryParse(Environment.GetEnvironmentVariable("MIDDLEWARE_CRASH_SEED"), out var s) ? s : Environment.TickCount & 0x7FFFFFFF;
        Random = new Random(Seed);
        Log($"seed {Seed} (repeat with MIDDLEWARE_CRASH_SEED={Seed}); database {DbPath}");
        Supervisor = new HostSupervisor(HostLaunch.Locate() with { Environment = hostEnvironment }, DbPath, HostStartTimeout);
    }

    public string DbPath { get; }

    public int Seed { get; }

    public Random Random { get; }

    public HostSupervisor Supervisor { get; }

    public void Log(string line) => _output.WriteLine($"[{DateTime.UtcNow:HH:mm:ss.fff}] {line}");

    public void LogRestart(RestartInfo info, long acksAtKill, long acksWhenReady)
    {
        Log($"SIGKILL pid {info.KilledPid} at {acksAtKill} acks ({info.InFlightAtKill} awaiting a reply, {acksWhenReady - acksAtKill} of them answered from the pipe); pid {info.NewPid} READY after {info.ReadyAfter.TotalMilliseconds:0} ms");
        _ = info.FirstReplyAfter.ContinueWith(
            t => Log($"pid {info.NewPid} acknowledged its first request {t.Result.TotalMilliseconds:0} ms after the kill"),
            CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
    }

    /// <summary>Reads every account's balance through the host (read-only turns, not logged).</summary>
    public async Task<Dictionary<string, long>> BalancesAsync(IEnumerable<string> accounts, CancellationToken cancellationToken)
    {
        var balances = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var account in accounts)
        {
            var reply = await Supervisor.SendAsync(new HostRequest($"balance-{Guid.NewGuid():N}", OperationKind.Balance, account), cancellationToken);
            Assert.Equal(ReplyKind.Ok, reply.Kind);
            balances[account] = reply.Balance;
        }

        return balances;
    }

    /// <summary>Stops the host cleanly, then checks the log in the database against what was acknowledged.</summary>
    public async Task<VerificationReport> StopAndVerifyAsync(IEnumerable<Acknowledged> acknowledged, IReadOnlyDictionary<string, long> balances)
    {
        await Supervisor.StopAsync(TimeSpan.FromSeconds(15));
        await using ILogStore store = _store is null ? SqliteLogStore.Open(DbPath) : await LogStores.OpenAsync(_store);
        var report = await LogVerifier.VerifyAsync(store, acknowledged, balances);
        Log($"{report.Summary}; {report.LogRecords} log records; {Supervisor.Kills} kills; {Supervisor.Resent} resent; {Supervisor.FailReplies} FAIL replies");
        foreach (var issue in report.Discrepancies.Take(50)) Log("DISCREPANCY " + issue);
        return report;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Supervisor.DisposeAsync();
        }
        finally
        {
            DeleteDirectory();
        }
    }

    private void DeleteDirectory()
    {
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException e)
        {
            // Leaving a temp directory behind must not turn a passing test red; say where it is.
            Log($"could not delete {_directory}: {e.Message}");
        }
    }
}
