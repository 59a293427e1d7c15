using System.Diagnostics;
using Middleware.Recovery.Stores;

namespace Bank.Demo;

/// <summary>
/// The demo's parent process: starts the host as a child, drives the workload, SIGKILLs the host mid-run,
/// restarts it on the same database, resends every unacknowledged request with its same id, and at the end
/// verifies balances and the log itself. The last line is the verdict.
/// </summary>
public static class DemoRunner
{
    private const int MaxDiscrepanciesShown = 50;

    /// <summary>Runs the demo; returns 0 when verification passes, 1 on a discrepancy, 2 on an error.</summary>
    public static async Task<int> RunAsync(DemoOptions options)
    {
        var clock = Stopwatch.StartNew();
        var random = new Random(options.Seed);
        var setting = options.StoreSetting;
        IReadOnlyList<string> accounts = DemoWorkload.Accounts(options.Accounts);
        string storeLine;
        if (LogStores.SchemeOf(setting) == "sqlite")
        {
            var dbPath = Path.GetFullPath(setting["sqlite:".Length..]);
            WipeDatabase(dbPath);
            WipeDatabase(LedgerBackend.SqlitePathFor(dbPath));
            setting = "sqlite:" + dbPath;
            storeLine = $"database: {dbPath} (wiped), ledger: {LedgerBackend.SqlitePathFor(dbPath)} (wiped)";
        }
        else
        {
            // A server database is not wiped: this run's accounts get a fresh prefix, so earlier runs' logs do not count.
            var run = $"run{DateTime.UtcNow:yyyyMMddHHmmss}-{options.Seed}";
            accounts = [.. accounts.Select(a => $"{run}-{a}")];
            storeLine = $"store: {LogStores.SchemeOf(setting)} (accounts prefixed {run}-)";
        }

        var requests = DemoWorkload.Create(accounts, options.Operations, random);
        var kills = DemoWorkload.KillPoints(options.Operations, options.Kills, random);
        Console.WriteLine($"bank demo: {options.Accounts} accounts, {options.Operations} operations, {options.Concurrency} in flight, seed {options.Seed}");
        Console.WriteLine($"{storeLine}; host checkpoints every {HostMode.CheckpointEveryTurns} turns");
        Console.WriteLine(kills.Count == 0 ? "plan: no kill (--kills 0)" : $"plan: SIGKILL the host after {string.Join(", ", kills.Select(k => k.AfterAcks))} acknowledged requests");

        using var timeout = new CancellationTokenSource(options.Timeout);
        await using var supervisor = new HostSupervisor(HostLaunch.Locate(), setting, options.HostStartTimeout);
        try
        {
            var started = Stopwatch.StartNew();
            await supervisor.StartAsync().WaitAsync(timeout.Token).ConfigureAwait(false);
            Console.WriteLine($"host started (pid {supervisor.CurrentPid}) in {started.ElapsedMilliseconds} ms");

            var runner = new WorkloadRunner(supervisor, options.Concurrency) { OnRestart = ReportRestart };
            var run = Stopwatch.StartNew();
            var work = runner.RunAsync(requests, kills, timeout.Token);
            await ReportProgressAsync(runner, work, requests.Count, run).ConfigureAwait(false);
            await work.ConfigureAwait(false);
            Console.WriteLine($"workload done: {runner.AckCount} acknowledged in {run.Elapsed.TotalSeconds:0.0} s ({runner.AckCount / run.Elapsed.TotalSeconds:0} req/s), {supervisor.Kills} kill(s), {supervisor.Resent} request(s) resent after a kill, {supervisor.FailReplies} FAIL replies retried");

            var balances = await QueryBalancesAsync(supervisor, accounts, timeout.Token).ConfigureAwait(false);
            await supervisor.StopAsync(TimeSpan.FromSeconds(15)).ConfigureAwait(false);
            Console.WriteLine("host stopped cleanly; checking the log in the database");

            await using var store = await LogStores.OpenAsync(setting, timeout.Token).ConfigureAwait(false);
            var report = await LogVerifier.VerifyAsync(store, runner.Acknowledged.Values, balances, timeout.Token).ConfigureAwait(false);
            report = await CheckLedgerAsync(setting, accounts, runner, report, timeout.Token).ConfigureAwait(false);
            Console.WriteLine($"checked {report.LogRecords} log records of {accounts.Count} accounts; total balance {balances.Values.Sum()}; took {clock.Elapsed.TotalSeconds:0.0} s in all");
            foreach (var issue in report.Discrepancies.Take(MaxDiscrepanciesShown)) Console.WriteLine("DISCREPANCY " + issue);
            if (report.Discrepancies.Count > MaxDiscrepanciesShown)
                Console.WriteLine($"... and {report.Discrepancies.Count - MaxDiscrepanciesShown} more discrepancies");
            Console.WriteLine(report.Summary);
            return report.Passed ? 0 : 1;
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            Console.WriteLine($"error: the demo did not finish within {options.Timeout.TotalSeconds:0} s (raise it with --timeout SECONDS)");
            return 2;
        }
        catch (Exception e) when (e is HostDiedException or TimeoutException or InvalidOperationException)
        {
            Console.WriteLine("error: " + e.Message);
            return 2;
        }
    }

    /// <summary>Adds the external ledger's verdict: missing rows count as lost, extra rows as duplicated.</summary>
    private static async Task<VerificationReport> CheckLedgerAsync(string setting, IReadOnlyList<string> accounts, WorkloadRunner runner, VerificationReport report, CancellationToken cancellationToken)
    {
        var (source, _, description) = LedgerBackend.For(setting);
        await using (source.ConfigureAwait(false))
        {
            var entries = await LedgerBackend.ReadAsync(source, accounts, cancellationToken).ConfigureAwait(false);
            var (missing, doubled, issues) = LedgerVerifier.Verify(runner.Acknowledged.Values, entries);
            Console.WriteLine($"ledger ({description}): {entries.Count} rows for {runner.Acknowledged.Values.Count(a => a.Request.Kind == OperationKind.Withdraw && a.Reply.Kind == ReplyKind.Ok)} acknowledged withdrawals, {missing} missing, {doubled} doubled");
            return report with
            {
                Lost = report.Lost + missing,
                Duplicated = report.Duplicated + doubled,
                Discrepancies = [.. report.Discrepancies, .. issues],
            };
        }
    }

    private static void ReportRestart(RestartInfo info, long acksAtKill, long acksWhenReady)
    {
        Console.WriteLine($"KILL: sent SIGKILL to host pid {info.KilledPid} at {acksAtKill} acknowledged requests, {info.InFlightAtKill} awaiting a reply; restarting it on the same database");
        Console.WriteLine($"host is back (pid {info.NewPid}): READY {info.ReadyAfter.TotalMilliseconds:0} ms after the kill; {acksWhenReady - acksAtKill} replies the old host had already written arrived meanwhile, the other requests are resent with their same ids");
        _ = info.FirstReplyAfter.ContinueWith(
            t => Console.WriteLine($"recovered: first request acknowledged by the new host {t.Result.TotalMilliseconds:0} ms after the kill (log replayed from the latest checkpoint)"),
            CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
    }

    private static async Task ReportProgressAsync(WorkloadRunner runner, Task work, int total, Stopwatch run)
    {
        var lastAcks = 0L;
        var lastTime = TimeSpan.Zero;
        using var tick = new PeriodicTimer(TimeSpan.FromMilliseconds(500));
        while (!work.IsCompleted)
        {
            await Task.WhenAny(work, tick.WaitForNextTickAsync().AsTask()).ConfigureAwait(false);
            if (work.IsCompleted) break;
            var acks = runner.AckCount;
            var now = run.Elapsed;
            var rate = (acks - lastAcks) / Math.Max(0.001, (now - lastTime).TotalSeconds);
            Console.WriteLine($"progress: {acks}/{total} acknowledged ({100.0 * acks / total:0}%), {runner.InFlight} in flight, {rate:0} req/s");
            (lastAcks, lastTime) = (acks, now);
        }
    }

    private static async Task<Dictionary<string, long>> QueryBalancesAsync(HostSupervisor supervisor, IReadOnlyList<string> accounts, CancellationToken cancellationToken)
    {
        var replies = await Task.WhenAll(accounts.Select(a =>
            supervisor.SendAsync(new HostRequest($"balance-{a}-{Guid.NewGuid():N}", OperationKind.Balance, a), cancellationToken))).ConfigureAwait(false);
        var balances = new Dictionary<string, long>(StringComparer.Ordinal);
        for (var i = 0; i < accounts.Count; i++)
        {
            if (replies[i].Kind != ReplyKind.Ok)
                throw new InvalidOperationException($"Reading the balance of {accounts[i]} failed: {replies[i]}");
            balances[accounts[i]] = replies[i].Balance;
        }

        return balances;
    }

    /// <summary>Every run starts from an empty database (with its WAL and shared-memory files).</summary>
    private static void WipeDatabase(string dbPath)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(dbPath)!);
        foreach (var suffix in new[] { "", "-wal", "-shm", "-journal" })
        {
            File.Delete(dbPath + suffix);
        }
    }
}
