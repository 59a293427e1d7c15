using System.Diagnostics;
using System.Globalization;
using System.Text;
using Bank.Cluster;
using Middleware.Client;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Recovery.Log;
using Middleware.Recovery.Stores;

namespace Bank.Demo;

/// <summary>
/// The demo: starts a cluster of silo processes on one store (with the ledger back end), drives deposits, withdrawals and
/// transfers through the client SDK with concurrent workers, SIGKILLs the silo that owns the busiest accounts mid-run,
/// keeps going, and at the end verifies every acknowledged request, the money, the ledger and the logs. The last line is
/// the verdict.
/// </summary>
public static class DemoRunner
{
    private const int MaxDiscrepanciesShown = 50;
    private const int MaxOutcomesShown = 5;

    /// <summary>How long a silo may take to exit after SIGTERM before it is killed.</summary>
    private static readonly TimeSpan SiloStopTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Runs the demo; returns 0 when verification passes, 1 on a discrepancy, 2 on an error.</summary>
    public static async Task<int> RunAsync(DemoOptions options)
    {
        var clock = Stopwatch.StartNew();
        var setting = options.StoreSetting;
        var prefix = "";
        string storeLine;
        string ledgerSetting;
        if (LogStores.SchemeOf(setting) == "sqlite")
        {
            var dbPath = Path.GetFullPath(setting["sqlite:".Length..]);
            var ledgerPath = LedgerBackend.SqlitePathFor(dbPath);
            WipeDatabase(dbPath);
            WipeDatabase(ledgerPath);
            setting = "sqlite:" + dbPath;
            ledgerSetting = "sqlite:" + ledgerPath;
            storeLine = $"store: {dbPath} (wiped), ledger: {ledgerPath} (wiped)";
        }
        else if (LogStores.SchemeOf(setting) == "postgres")
        {
            // A server database is not wiped: this run's components get a fresh prefix, so earlier runs' logs do not count.
            prefix = $"run{DateTime.UtcNow:yyyyMMddHHmmss}-{options.Seed}-";
            ledgerSetting = setting;
            storeLine = $"store: postgres (components prefixed {prefix}), ledger: table ledger in the same database";
        }
        else
        {
            Console.WriteLine($"error: the demo runs on sqlite:PATH or postgres:<connection string>; '{LogStores.SchemeOf(setting)}:' has no place for the ledger or cannot be shared by silo processes.");
            return 2;
        }

        var workload = new BankWorkload(BankWorkload.AccountKeys(options.Accounts, prefix), BankWorkload.TellerKeys(options.Tellers, prefix));
        var duration = options.EffectiveDuration;
        Console.WriteLine($"bank demo: {options.Silos} silos, {options.Accounts} accounts ({workload.HotAccounts.Count} hot), {options.Tellers} tellers, {options.Concurrency} workers, {duration.TotalSeconds:0} s, seed {options.Seed}");
        Console.WriteLine($"{storeLine}; silos checkpoint every {options.CheckpointEvery} turns, dead after {options.DeadAfterMs} ms without a heartbeat");
        Console.WriteLine(options.Kills == 0
            ? "plan: no kill (--kills 0)"
            : $"plan: SIGKILL the silo owning the busiest accounts at {string.Join(", ", Enumerable.Range(0, options.Kills).Select(k => $"{(options.KillAt + (DemoOptions.KillSpacing * k)).TotalSeconds:0} s"))}, keep going, verify");

        using var timeout = new CancellationTokenSource(options.Timeout);
        try
        {
            // The log store first: a new PostgreSQL database gets the middleware's schema before the ledger adds a table
            // (a database holding other tables but no schema_version is refused as "not a log store").
            await (await LogStores.OpenAsync(setting, timeout.Token).ConfigureAwait(false)).DisposeAsync().ConfigureAwait(false);
            var (ledger, _, _) = LedgerBackend.For(setting);
            await using (ledger.ConfigureAwait(false))
            {
                await LedgerBackend.EnsureTableAsync(ledger).ConfigureAwait(false);
            }

            var started = Stopwatch.StartNew();
            await using var cluster = await SiloLauncher.StartAsync(new SiloLaunchOptions
            {
                Store = setting,
                Count = options.Silos,
                Components = [SiloBuild.LocateBankComponents()],
                ExtraArgs = ["--dead-after-ms", options.DeadAfterMs.ToString(CultureInfo.InvariantCulture), "--checkpoint-every", options.CheckpointEvery.ToString(CultureInfo.InvariantCulture),
                    "--mirroring", options.Mirroring],
                Environment = new Dictionary<string, string> { ["MIDDLEWARE_BACKEND_" + Ledger.BackendName.ToUpperInvariant()] = ledgerSetting },
                StartTimeout = options.SiloStartTimeout,
                OnOutput = options.Verbose ? (id, line) => Console.WriteLine($"  [{id}] {line}") : null,
            }, timeout.Token).ConfigureAwait(false);
            await cluster.WaitForMembershipAsync(TimeSpan.FromSeconds(30), timeout.Token).ConfigureAwait(false);
            Console.WriteLine($"cluster up in {started.ElapsedMilliseconds} ms: {string.Join(", ", cluster.Silos.Select(s => $"{s.Id} (pid {s.Pid}, {s.ProtocolAddress})"))}");

            await using var client = await MiddlewareClient.ConnectAsync(new MiddlewareClientOptions
            {
                Gateways = [.. cluster.Gateways],
                ClientName = "bank-demo",
                // Ride out a silo's death (dead-after plus take-over) with retries of the same request id.
                MaxAttempts = 20,
                RetryBaseDelay = TimeSpan.FromMilliseconds(50),
                RetryMaxDelay = TimeSpan.FromMilliseconds(500),
                AttemptTimeout = TimeSpan.FromMilliseconds(Math.Min(10_000, options.GiveUpAfterMs)),
                RequestTimeout = TimeSpan.FromMilliseconds(options.GiveUpAfterMs),
            }, timeout.Token).ConfigureAwait(false);
            Console.WriteLine($"client connected, virtual session {client.SessionId}");

            var run = new ClusterWorkload(client, workload, options.Concurrency, options.Seed);
            var work = run.RunAsync(duration, timeout.Token);
            var kills = KillScheduleAsync(options, setting, cluster, workload, run, work, timeout.Token);
            await ReportProgressAsync(run, work, duration).ConfigureAwait(false);
            await work.ConfigureAwait(false);
            await kills.ConfigureAwait(false);
            var answered = run.Completed;
            Console.WriteLine($"workload done: {answered} requests answered in {run.Elapsed.TotalSeconds:0.0} s ({answered / run.Elapsed.TotalSeconds:0} req/s), {run.Refused} refused for overdraft, {run.Unresolved.Count} gave up (cluster unavailable), {run.Unexpected.Count} unexpected errors");

            // Requests whose call gave up may or may not have run: the owner answers committed (with the reply) or not
            // committed, and then fences the id so it can never run later.
            var (resolved, fenced, unresolved) = await ResolveAsync(client, run.Unresolved, timeout.Token).ConfigureAwait(false);
            if (run.Unresolved.Count > 0)
                Console.WriteLine($"outcome queries: {resolved.Count} committed, {fenced.Count} not committed (fenced), {unresolved.Count} unanswered");

            var balances = await QueryBalancesAsync(client, workload.Accounts, timeout.Token).ConfigureAwait(false);
            var tellerTransfers = await QueryTellersAsync(client, workload.Tellers, timeout.Token).ConfigureAwait(false);
            PrintPauses(run);
            if (options.Kills > 0) await PrintTakeoversAsync(cluster, options, timeout.Token).ConfigureAwait(false);

            // The client leaves first, as applications stop before the cluster does; then each silo gets SIGTERM.
            await client.DisposeAsync().ConfigureAwait(false);
            var stopped = await cluster.StopAllAsync(SiloStopTimeout).ConfigureAwait(false);
            Console.WriteLine($"silos stopped with SIGTERM: {string.Join(", ", stopped.Select(s => s.Graceful ? $"{s.SiloId} exit {s.ExitCode} in {s.Took.TotalMilliseconds:0} ms" : $"{s.SiloId} still running after {s.Took.TotalSeconds:0} s, killed"))}; checking the logs in the store");
            foreach (var s in stopped.Where(s => !s.Graceful || s.ExitCode != 0))
            {
                // Not a verification failure (everything acknowledged is durable either way), but a graceful stop should work.
                Console.WriteLine($"warning: {s.SiloId} did not shut down cleanly: {(options.Verbose ? s.Problem : s.Problem?.Split('\n')[0]) ?? $"exit code {s.ExitCode}"}");
            }

            var outcomes = run.Outcomes.Concat(resolved).ToList();
            var accountAcks = outcomes.Where(o => o.Request.Operation != BankOperation.Transfer)
                .Select(o => new Acknowledged(new HostRequest(o.Request.RequestId, o.Request.Operation == BankOperation.Deposit ? OperationKind.Deposit : OperationKind.Withdraw, o.Request.Account, o.Request.Amount), o.Reply))
                .ToList();
            var transfers = outcomes.Where(o => o.Request.Operation == BankOperation.Transfer)
                .Select(o => new AcknowledgedTransfer(o.Request.RequestId, o.Request.Teller!, o.Request.Account, o.Request.To!, o.Request.Amount, o.Reply))
                .ToList();

            await using var store = await LogStores.OpenAsync(setting, timeout.Token).ConfigureAwait(false);
            var report = await LogVerifier.VerifyAsync(store, new VerificationInput(accountAcks, transfers, workload.Tellers, fenced, balances), timeout.Token).ConfigureAwait(false);
            var extra = new List<string>();
            extra.AddRange(run.Unexpected.Select(u => "unexpected failure: " + u));
            extra.AddRange(unresolved.Select(u => $"{u}: the outcome query got no answer, so it cannot be verified"));
            extra.AddRange(CheckMoney(accountAcks, transfers, balances, tellerTransfers));
            extra.AddRange(run.Pauses.Kills.Where(k => k.FirstAnswer is null)
                .Select(k => $"recovery: no request needing a component of the killed {k.SiloId} was answered after the kill"));
            report = report with { Discrepancies = [.. report.Discrepancies, .. extra] };
            report = await CheckLedgerAsync(setting, workload.Accounts, accountAcks, report, timeout.Token).ConfigureAwait(false);

            Console.WriteLine($"checked {report.LogRecords} log records of {workload.Accounts.Count} accounts and {workload.Tellers.Count} tellers; took {clock.Elapsed.TotalSeconds:0.0} s in all");
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
        catch (Exception e) when (e is SiloStartException or ClientConnectException or TimeoutException or InvalidOperationException or FileNotFoundException or ClusterUnavailableException)
        {
            Console.WriteLine($"error: {e.GetType().Name}: {e.Message}");
            return 2;
        }
    }

    /// <summary>At each planned time, SIGKILLs the running silo that owns the most traffic (per the store's owner column).</summary>
    private static async Task KillScheduleAsync(DemoOptions options, string setting, SiloLauncher cluster, BankWorkload workload, ClusterWorkload run, Task work, CancellationToken cancellationToken)
    {
        for (var k = 0; k < options.Kills; k++)
        {
            var at = options.KillAt + (DemoOptions.KillSpacing * k);
            while (run.Elapsed < at)
            {
                if (work.IsCompleted) return;
                await Task.Delay(TimeSpan.FromMilliseconds(20), cancellationToken).ConfigureAwait(false);
            }

            var owners = new Dictionary<string, string>(StringComparer.Ordinal);
            await using (var store = await LogStores.OpenAsync(setting, cancellationToken).ConfigureAwait(false))
            {
                foreach (var component in workload.Accounts.Select(LogVerifier.Component).Concat(workload.Tellers.Select(LogVerifier.TellerComponent)))
                {
                    var head = await store.GetHeadAsync(component, cancellationToken).ConfigureAwait(false);
                    if (head?.Owner is { } owner) owners[component] = owner;
                }
            }

            var running = cluster.Running.Select(s => s.Id).ToHashSet(StringComparer.Ordinal);
            var traffic = workload.Accounts.ToDictionary(a => a, run.TouchesOf, StringComparer.Ordinal);
            var load = running.ToDictionary(
                id => id,
                id => workload.Accounts.Where(a => owners.GetValueOrDefault(LogVerifier.Component(a)) == id).Sum(a => traffic[a]),
                StringComparer.Ordinal);
            var victimId = load.OrderByDescending(l => l.Value).ThenBy(l => l.Key, StringComparer.Ordinal).First().Key;
            var victim = cluster[victimId];
            var owned = owners.Where(o => o.Value == victimId).Select(o => o.Key).ToHashSet(StringComparer.Ordinal);
            var busiest = workload.Accounts.OrderByDescending(a => traffic[a]).Take(workload.HotAccounts.Count).ToList();
            var ownedBusiest = busiest.Where(a => owned.Contains(LogVerifier.Component(a))).ToList();
            var total = Math.Max(1, traffic.Values.Sum());
            var inFlight = run.InFlight;

            victim.Kill();
            var watch = run.Pauses.Kill(victimId, owned, run.Elapsed);
            await victim.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            Console.WriteLine(
                $"KILL at {watch.At.TotalSeconds:0.0} s: SIGKILL {victimId} (pid {victim.Pid}), owner of {owned.Count} of {owners.Count} components " +
                $"({100.0 * load[victimId] / total:0}% of the account traffic so far; {ownedBusiest.Count} of the {busiest.Count} busiest accounts: {string.Join(", ", ownedBusiest.Select(a => a[a.LastIndexOf("acct-", StringComparison.Ordinal)..]))}); {inFlight} requests in flight");
            Console.WriteLine($"  load per silo so far: {string.Join(", ", load.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key} {100.0 * l.Value / total:0}%"))}; {(options.Mirroring == "none"
                ? $"the others take over its components after {options.DeadAfterMs} ms, replaying their logs"
                : "a survivor finds its port refused and declares it dead at once; the mirrors of its components take them over warm")}");
        }
    }

    private static async Task ReportProgressAsync(ClusterWorkload run, Task work, TimeSpan duration)
    {
        var lastCompleted = 0L;
        var lastTime = TimeSpan.Zero;
        using var tick = new PeriodicTimer(TimeSpan.FromSeconds(1));
        while (!work.IsCompleted)
        {
            await Task.WhenAny(work, tick.WaitForNextTickAsync().AsTask()).ConfigureAwait(false);
            if (work.IsCompleted) break;
            var completed = run.Completed;
            var now = run.Elapsed;
            var rate = (completed - lastCompleted) / Math.Max(0.001, (now - lastTime).TotalSeconds);
            var (gap, _) = run.Pauses.LongestGap;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"progress {now.TotalSeconds,5:0.0}/{duration.TotalSeconds:0} s: {completed,7} answered, {rate,6:0} req/s, {run.InFlight,3} in flight, no answer for {run.Pauses.SinceLastCompletion.TotalMilliseconds,5:0} ms (longest gap so far {gap.TotalMilliseconds:0} ms)"));
            (lastCompleted, lastTime) = (completed, now);
        }
    }

    /// <summary>How the survivors took the killed silos' components over: warm (from a standby) or cold (log replay), from their metrics.</summary>
    private static async Task PrintTakeoversAsync(SiloLauncher cluster, DemoOptions options, CancellationToken cancellationToken)
    {
        double warm = 0, cold = 0, declared = 0;
        foreach (var silo in cluster.Running)
        {
            var metrics = await silo.ReadMetricsAsync(cancellationToken).ConfigureAwait(false);
            warm += metrics.GetValueOrDefault("middleware_mirror_takeovers_total{kind=\"warm\"}");
            cold += metrics.GetValueOrDefault("middleware_mirror_takeovers_total{kind=\"cold\"}");
            declared += metrics.GetValueOrDefault("middleware_mirror_silos_declared_dead_total");
        }

        var how = warm > 0 && cold == 0 ? "warm" : warm == 0 ? "cold" : "mixed";
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"takeover: {how}: {warm:0} component(s) taken over warm from standbys, {cold:0} cold by log replay (mirroring {options.Mirroring}); {declared:0} silo(s) declared dead on evidence before their {options.DeadAfterMs} ms window"));
    }

    private static void PrintPauses(ClusterWorkload run)
    {
        var (gap, gapEnd) = run.Pauses.LongestGap;
        var (slowest, request, slowestEnd) = run.Pauses.Slowest;
        var kills = run.Pauses.Kills;
        var killNote = kills.Count == 0 ? "" : $"; kill{(kills.Count > 1 ? "s" : "")} at {string.Join(", ", kills.Select(k => $"{k.At.TotalSeconds:0.00} s"))}";
        Console.WriteLine($"pause: longest gap between successful completions {gap.TotalMilliseconds:0} ms (from {(gapEnd - gap).TotalSeconds:0.00} s to {gapEnd.TotalSeconds:0.00} s{killNote})");
        Console.WriteLine($"pause: slowest request {slowest.TotalMilliseconds:0} ms ({request}, answered at {slowestEnd.TotalSeconds:0.00} s)");
        foreach (var kill in kills)
        {
            Console.WriteLine(kill.FirstAnswer is { } first
                ? $"pause: after the kill of {kill.SiloId}, the first request needing one of its {kill.Components.Count} components was answered {first.TotalMilliseconds:0} ms later"
                : $"pause: after the kill of {kill.SiloId}, no request needing one of its {kill.Components.Count} components was answered before the end");
        }
    }

    /// <summary>Asks the owner of each given-up request whether it committed; "not committed" fences it for good.</summary>
    private static async Task<(List<BankOutcome> Committed, List<FencedRequest> Fenced, List<BankRequest> Unanswered)> ResolveAsync(MiddlewareClient client, IEnumerable<BankRequest> requests, CancellationToken cancellationToken)
    {
        var committed = new List<BankOutcome>();
        var fenced = new List<FencedRequest>();
        var unanswered = new List<BankRequest>();
        var shown = 0;
        foreach (var request in requests)
        {
            var done = false;
            for (var attempt = 1; attempt <= 5 && !done; attempt++)
            {
                try
                {
                    var outcome = await client.GetOutcomeAsync(request.Target, request.RequestId, cancellationToken).ConfigureAwait(false);
                    if (outcome.Committed && outcome.Reply is { } reply)
                    {
                        committed.Add(new BankOutcome(request, ToHostReply(request.RequestId, reply), ViaOutcomeQuery: true));
                        if (++shown <= MaxOutcomesShown) Console.WriteLine($"outcome of {request}: committed ({reply})");
                    }
                    else
                    {
                        fenced.Add(new FencedRequest(request.RequestId, request.Target.ToString()));
                        if (++shown <= MaxOutcomesShown) Console.WriteLine($"outcome of {request}: not committed; fenced, it can never run");
                    }

                    done = true;
                }
                catch (Exception e) when (e is ClusterUnavailableException or TimeoutException)
                {
                    await Task.Delay(TimeSpan.FromSeconds(attempt), cancellationToken).ConfigureAwait(false);
                }
            }

            if (!done) unanswered.Add(request);
        }

        return (committed, fenced, unanswered);
    }

    private static HostReply ToHostReply(string requestId, ComponentReply reply) =>
        reply.IsError
            ? new HostReply(requestId, ReplyKind.Error, 0, reply.ErrorType, ClusterWorkload.OneLine(reply.ErrorMessage))
            : new HostReply(requestId, ReplyKind.Ok, long.Parse(Encoding.UTF8.GetString(reply.Result.Span), NumberStyles.Integer, CultureInfo.InvariantCulture));

    /// <summary>Money is conserved: balances sum to deposits minus withdrawals; transfers only move it; tellers counted every OK transfer.</summary>
    private static IEnumerable<string> CheckMoney(List<Acknowledged> accountAcks, List<AcknowledgedTransfer> transfers, IReadOnlyDictionary<string, long> balances, long tellerTransfers)
    {
        var deposits = accountAcks.Where(a => a.Request.Kind == OperationKind.Deposit && a.Reply.Kind == ReplyKind.Ok).Sum(a => a.Request.Amount);
        var withdrawals = accountAcks.Where(a => a.Request.Kind == OperationKind.Withdraw && a.Reply.Kind == ReplyKind.Ok).Sum(a => a.Request.Amount);
        var okTransfers = transfers.Where(t => t.Reply.Kind == ReplyKind.Ok).ToList();
        var sum = balances.Values.Sum();
        Console.WriteLine($"money: deposits {deposits} - withdrawals {withdrawals} = {deposits - withdrawals}; balances sum to {sum}; {okTransfers.Count} transfers moved {okTransfers.Sum(t => t.Amount)} ({transfers.Count - okTransfers.Count} refused); the tellers count {tellerTransfers} transfers");
        if (sum != deposits - withdrawals)
            yield return $"money: the balances sum to {sum} but acknowledged deposits minus withdrawals are {deposits - withdrawals} (difference {sum - (deposits - withdrawals)})";
        if (tellerTransfers != okTransfers.Count)
            yield return $"money: the tellers count {tellerTransfers} completed transfers but {okTransfers.Count} were acknowledged as OK";
    }

    /// <summary>Adds the external ledger's verdict: missing rows count as lost, extra rows as duplicated.</summary>
    private static async Task<VerificationReport> CheckLedgerAsync(string setting, IReadOnlyList<string> accounts, List<Acknowledged> accountAcks, VerificationReport report, CancellationToken cancellationToken)
    {
        var (source, _, description) = LedgerBackend.For(setting);
        await using (source.ConfigureAwait(false))
        {
            var entries = await LedgerBackend.ReadAsync(source, accounts, cancellationToken).ConfigureAwait(false);
            var (missing, doubled, issues) = LedgerVerifier.Verify(accountAcks, entries);
            Console.WriteLine($"ledger ({description}): {entries.Count} rows for {accountAcks.Count(a => a.Request.Kind == OperationKind.Withdraw && a.Reply.Kind == ReplyKind.Ok)} acknowledged withdrawals, {missing} missing, {doubled} doubled");
            return report with
            {
                Lost = report.Lost + missing,
                Duplicated = report.Duplicated + doubled,
                Discrepancies = [.. report.Discrepancies, .. issues],
            };
        }
    }

    private static async Task<Dictionary<string, long>> QueryBalancesAsync(MiddlewareClient client, IReadOnlyList<string> accounts, CancellationToken cancellationToken)
    {
        var replies = await Task.WhenAll(accounts.Select(a => client.GetComponent<IAccount>(a).Balance().WaitAsync(cancellationToken))).ConfigureAwait(false);
        return accounts.Zip(replies).ToDictionary(p => p.First, p => p.Second, StringComparer.Ordinal);
    }

    private static async Task<long> QueryTellersAsync(MiddlewareClient client, IReadOnlyList<string> tellers, CancellationToken cancellationToken)
    {
        var totals = await Task.WhenAll(tellers.Select(t => client.GetComponent<ITeller>(t).Totals().WaitAsync(cancellationToken))).ConfigureAwait(false);
        return totals.Sum(t => t.Transfers);
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
