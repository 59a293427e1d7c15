using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Bank;
using Bank.Cluster;
using Middleware.Client;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Protocol;
using Middleware.Recovery.Log;
using Middleware.Recovery.Stores;

namespace Middleware.Bench;

/// <summary>Settings of the <c>failover</c> and <c>takeover</c> scenarios.</summary>
public sealed record FailoverOptions(
    int Silos,
    string Store,
    string StoreKind,
    string? TempDb,
    string Mirroring,
    int Concurrency,
    int Keys,
    double WarmupSeconds,
    double BeforeSeconds,
    double DurationSeconds,
    string? JsonPath,
    int CheckpointEvery,
    int? DeadAfterMs,
    int Turns,
    int ProbeIntervalMs,
    int Seed)
{
    private static readonly string[] KnownFailover = ["--silos", "--store", "--mirroring", "--concurrency", "--keys", "--warmup", "--before", "--duration", "--json", "--checkpoint-every", "--dead-after-ms", "--seed"];
    private static readonly string[] KnownTakeover = ["--silos", "--store", "--mirroring", "--concurrency", "--turns", "--warmup", "--duration", "--json", "--dead-after-ms", "--probe-interval-ms", "--seed"];

    public static FailoverOptions Parse(string[] args, bool takeover)
    {
        var f = new FlagReader(args, takeover ? KnownTakeover : KnownFailover);
        var (store, kind, temp) = ClusterOptions.ParseStore(f);
        if (kind == "memory") throw new UsageException("--store memory is one process; a failover needs silos sharing a store: --store sqlite, sqlite:PATH or postgres:<cs>.");
        var silos = f.PositiveInt("--silos", 3);
        if (silos is < 2 or > 16) throw new UsageException($"--silos is {silos}; a failover needs a survivor: use 2 to 16 (default 3).");
        int? deadAfter = f.String("--dead-after-ms") is null ? null : f.PositiveInt("--dead-after-ms", 2000);
        return new FailoverOptions(
            silos,
            store,
            kind,
            temp,
            ClusterOptions.ParseMirroring(f),
            f.PositiveInt("--concurrency", 64),
            f.PositiveInt("--keys", 1000),
            f.PositiveSeconds("--warmup", takeover ? 3 : 8, allowZero: true),
            f.PositiveSeconds("--before", 5),
            f.PositiveSeconds("--duration", takeover ? 30 : 10),
            f.OutputFile("--json"),
            f.PositiveInt("--checkpoint-every", 1000),
            deadAfter,
            f.PositiveInt("--turns", 100_000),
            f.PositiveInt("--probe-interval-ms", 10),
            f.PositiveInt("--seed", 1, allowZero: true));
    }
}

/// <summary>
/// <c>failover</c>: N silo processes, C closed loops of <c>Deposit(1)</c> on K accounts; after the warm-up and
/// <c>--before</c> measured seconds, the silo owning most of the accounts (by the store's heads) is SIGKILLed and the
/// load goes on for <c>--duration</c> seconds. Reports how long clients waited: the first answer for a dead silo's
/// account, the longest gap between successive completions, the slowest request; the takeovers (warm/cold) the
/// survivors counted; and checks every account's balance against the deposits acknowledged on it (lost/duplicated).
/// <para>
/// <c>takeover</c>: one account gets <c>--turns</c> deposits with checkpoints off, then its owner is SIGKILLed and a
/// new <c>Deposit(1)</c> is sent every <c>--probe-interval-ms</c> until one is answered: the time from the kill and
/// from the survivors' takeover decision (their log lines) to that answer, with and without a warm standby.
/// </para>
/// </summary>
internal static class FailoverScenario
{
    private static readonly string AccountType = ComponentInterface.TypeNameOf(typeof(IAccount));

    private static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);

    /// <summary>
    /// SIGKILLs <paramref name="silo"/> with one kill(2) and returns the moment just before it. (LaunchedSilo.Kill goes
    /// through Process.Kill(entireProcessTree), which first walks /proc for children: on a loaded box that took up to a
    /// second, which would be counted as part of the failover.)
    /// </summary>
    private static long SigKill(LaunchedSilo silo)
    {
        var at = Stopwatch.GetTimestamp();
        if (kill(silo.Pid, 9) != 0) throw new InvalidOperationException($"kill({silo.Pid}, SIGKILL) failed: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
        silo.Kill(); // marks it killed by the launcher; the process is already gone or going
        return at;
    }

    /// <summary>First time (Stopwatch) a survivor printed each kind of line after the kill.</summary>
    private sealed class SiloEvents
    {
        private readonly ConcurrentDictionary<string, long> _first = new(StringComparer.Ordinal);
        private long _armedAt = long.MaxValue;

        public void Arm(long at) => Volatile.Write(ref _armedAt, at);

        public void OnLine(string siloId, string line)
        {
            var now = Stopwatch.GetTimestamp();
            if (now < Volatile.Read(ref _armedAt)) return;
            if (line.Contains("declared silo", StringComparison.Ordinal)) _first.TryAdd("declared", now);
            if (line.Contains("silos gone from the cluster", StringComparison.Ordinal)) _first.TryAdd("gone", now);
            if (line.Contains("taking over", StringComparison.Ordinal)) _first.TryAdd("taking_over", now);
        }

        public long? At(string kind) => _first.TryGetValue(kind, out var t) ? t : null;

        /// <summary>The takeover decision: the first survivor that declared the silo dead or saw it leave the view.</summary>
        public long? Decision => new[] { At("declared"), At("gone") }.Where(t => t is not null).Min();
    }

    private static async Task<SiloLauncher> StartAsync(FailoverOptions o, SiloEvents events, IEnumerable<string> extra)
    {
        var args = new List<string> { "--mirroring", o.Mirroring };
        if (o.DeadAfterMs is { } d) args.AddRange(["--dead-after-ms", d.ToString(CultureInfo.InvariantCulture)]);
        args.AddRange(extra);
        var cluster = await SiloLauncher.StartAsync(new SiloLaunchOptions
        {
            Store = o.Store,
            Count = o.Silos,
            Components = [SiloBuild.LocateBankComponents()],
            ExtraArgs = args,
            Environment = new Dictionary<string, string> { ["MIDDLEWARE_BACKEND_LEDGER"] = $"sqlite:{Path.Combine(Path.GetTempPath(), $"middleware-bench-ledger-{Environment.ProcessId}.db")}" },
            OnOutput = events.OnLine,
        }).ConfigureAwait(false);
        await cluster.WaitForMembershipAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        return cluster;
    }

    private static Task<MiddlewareClient> ConnectAsync(SiloLauncher cluster, string name) =>
        // Default client settings (retries, backoff, routing to owners): what an application gets.
        MiddlewareClient.ConnectAsync(new MiddlewareClientOptions { Gateways = [.. cluster.Gateways], ClientName = name });


    public static async Task<int> RunFailoverAsync(FailoverOptions o)
    {
        var nonce = Guid.NewGuid().ToString("N")[..6];
        var keys = Enumerable.Range(1, o.Keys).Select(i => $"f{nonce}-{LocalScenario.KeyOf(i)}").ToArray();
        Console.Error.WriteLine($"failover: silos={o.Silos} store={o.StoreKind} mirroring={o.Mirroring} concurrency={o.Concurrency} keys={o.Keys} warmup={o.WarmupSeconds}s before={o.BeforeSeconds}s after={o.DurationSeconds}s");
        var events = new SiloEvents();
        try
        {
            await using var cluster = await StartAsync(o, events, ["--checkpoint-every", o.CheckpointEvery.ToString(CultureInfo.InvariantCulture)]).ConfigureAwait(false);
            Console.Error.WriteLine($"  silos: {string.Join(", ", cluster.Silos.Select(s => $"{s.Id} pid {s.Pid} {s.ProtocolAddress}"))}");
            await using var client = await ConnectAsync(cluster, "bench-failover").ConfigureAwait(false);
            long initialErrors = 0;
            await Parallel.ForEachAsync(keys, new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (key, _) =>
            {
                try
                {
                    if (await client.GetComponent<IAccount>(key).Balance().ConfigureAwait(false) != 0) Interlocked.Increment(ref initialErrors);
                }
                catch (Exception e)
                {
                    Console.Error.WriteLine($"error: activating {key}: {e.Message}");
                    Interlocked.Increment(ref initialErrors);
                }
            }).ConfigureAwait(false);
            if (initialErrors > 0) return 1;

            var acked = new long[keys.Length];
            var control = new RunControl();
            var workers = Enumerable.Range(0, o.Concurrency).Select(w => new DepositWorker(w, o.Seed)).ToArray();
            var depositArgs = ComponentInterface.Of(typeof(IAccount)).Methods[nameof(IAccount.Deposit)].EncodeArgs([1L], ComponentJson.Default);
            var tasks = workers.Select(w => Task.Run(() => w.RunAsync(client, keys, acked, depositArgs, control))).ToArray();
            using var progressStop = new CancellationTokenSource();
            var progress = Task.Run(() => control.ProgressAsync(workers, o.WarmupSeconds, o.BeforeSeconds + o.DurationSeconds, "req/s", null, progressStop.Token));

            await Task.Delay(TimeSpan.FromSeconds(o.WarmupSeconds)).ConfigureAwait(false);
            var mirrorAtStart = await MirrorMetrics.ScrapeAsync(cluster.Running).ConfigureAwait(false);
            var cpuStart = HostCpu.Read();
            control.MeasureStart = Stopwatch.GetTimestamp();
            await Task.Delay(TimeSpan.FromSeconds(o.BeforeSeconds)).ConfigureAwait(false);

            // The victim: the silo owning most of the accounts, by the store's heads.
            var byOwner = new Dictionary<string, List<int>>(StringComparer.Ordinal);
            await using (var store = await LogStores.OpenAsync(o.Store).ConfigureAwait(false))
            {
                var index = keys.Select((k, i) => (Id: new ComponentId(AccountType, k).ToString(), i)).ToDictionary(p => p.Id, p => p.i, StringComparer.Ordinal);
                foreach (var head in await store.ListComponentsAsync().ConfigureAwait(false))
                {
                    if (head.Owner is null || !index.TryGetValue(head.ComponentId, out var i)) continue;
                    if (!byOwner.TryGetValue(head.Owner, out var list)) byOwner[head.Owner] = list = [];
                    list.Add(i);
                }
            }

            var (victimId, victimKeyList) = byOwner.MaxBy(p => p.Value.Count);
            var victim = cluster[victimId];
            var isVictimKey = new bool[keys.Length];
            foreach (var i in victimKeyList) isVictimKey[i] = true;
            var mirrorBeforeKill = await MirrorMetrics.ScrapeAsync(cluster.Running).ConfigureAwait(false);
            var cpuBeforeKill = HostCpu.Read();
            Console.Error.WriteLine($"  owners: {string.Join(", ", byOwner.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key} {p.Value.Count}"))}; killing {victimId} (pid {victim.Pid})");

            events.Arm(Stopwatch.GetTimestamp());
            var killedAt = SigKill(victim);
            await victim.WaitForExitAsync().ConfigureAwait(false);
            var exitedAt = Stopwatch.GetTimestamp();
            await Task.Delay(TimeSpan.FromSeconds(o.DurationSeconds)).ConfigureAwait(false);
            control.Stop = true;
            var stopAt = Stopwatch.GetTimestamp();
            await Task.WhenAll(tasks).ConfigureAwait(false);
            await progressStop.CancelAsync().ConfigureAwait(false);
            await progress.ConfigureAwait(false);
            var survivors = cluster.Running;
            var mirrorAfter = await MirrorMetrics.ScrapeAsync(survivors).ConfigureAwait(false);
            var cpuEnd = HostCpu.Read();

            // Completions after the kill, in time order.
            var all = workers.SelectMany(w => w.Completions).ToArray();
            Array.Sort(all, (a, b) => a.End.CompareTo(b.End));
            var after = all.Where(c => c.End > killedAt).ToArray();
            long longestGap = 0, gapEndsAt = killedAt, previous = killedAt;
            foreach (var c in after)
            {
                if (c.End - previous > longestGap) (longestGap, gapEndsAt) = (c.End - previous, c.End);
                previous = c.End;
            }

            var victimAfter = after.Where(c => isVictimKey[c.Key]).ToArray();
            var firstSentAfter = victimAfter.Where(c => c.Start >= killedAt).Select(c => c.End).DefaultIfEmpty(-1).Min();
            var firstAny = victimAfter.Select(c => c.End).DefaultIfEmpty(-1).Min();
            var slowest = after.Select(c => c.End - c.Start).DefaultIfEmpty(0).Max();
            var slowestVictim = victimAfter.Select(c => c.End - c.Start).DefaultIfEmpty(0).Max();
            var beforeCount = all.Count(c => c.End >= control.MeasureStart && c.End < killedAt);
            var afterCount = all.Count(c => c.End >= killedAt && c.End <= stopAt);
            var otherAfter = after.Where(c => !isVictimKey[c.Key]).Select(c => c.End - c.Start).DefaultIfEmpty(0).Max();

            // Every acknowledged deposit exactly once, per account.
            long lost = 0, duplicated = 0, readErrors = 0, sum = 0;
            var balances = new long[keys.Length];
            await Parallel.ForEachAsync(Enumerable.Range(0, keys.Length), new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (i, _) =>
            {
                try
                {
                    balances[i] = await client.GetComponent<IAccount>(keys[i]).Balance().ConfigureAwait(false);
                }
                catch (Exception e)
                {
                    Console.Error.WriteLine($"error: reading the balance of {keys[i]} failed: {e.Message}");
                    Interlocked.Increment(ref readErrors);
                    balances[i] = acked[i];
                }
            }).ConfigureAwait(false);
            for (var i = 0; i < keys.Length; i++)
            {
                sum += balances[i];
                if (balances[i] < acked[i]) lost += acked[i] - balances[i];
                else duplicated += balances[i] - acked[i];
            }

            var ackedTotal = acked.Sum();
            var failedRequests = workers.Sum(w => w.TotalErrors);
            var firstError = workers.Select(w => w.FirstError).FirstOrDefault(e => e is not null);
            var latency = new LatencySummary(workers.Select(w => w.Latencies));
            var measured = (stopAt - control.MeasureStart) / (double)Stopwatch.Frequency;
            var beforeSeconds = (killedAt - control.MeasureStart) / (double)Stopwatch.Frequency;
            var afterSeconds = (stopAt - killedAt) / (double)Stopwatch.Frequency;
            var errors = failedRequests + readErrors + lost + duplicated;
            double Since(long? t) => t is { } v ? Ms(v - killedAt) : double.NaN;
            var check = lost == 0 && duplicated == 0 && readErrors == 0 ? "ok" : $"MISMATCH: {lost} acknowledged deposits lost, {duplicated} duplicated";

            var report = new JsonReport()
                .Add("scenario", "failover")
                .Add("store", o.StoreKind)
                .Add("concurrency", o.Concurrency)
                .Add("keys", o.Keys)
                .Add("duration_s", o.BeforeSeconds + o.DurationSeconds)
                .Add("requests", beforeCount + afterCount)
                .Add("throughput_per_s", (beforeCount + afterCount) / measured)
                .Add("p50_ms", latency.PercentileMs(50))
                .Add("p99_ms", latency.PercentileMs(99))
                .Add("errors", errors)
                .Add("silos", o.Silos)
                .Add("mirroring", o.Mirroring)
                .Add("first_answer_after_kill_ms", firstSentAfter < 0 ? double.NaN : Ms(firstSentAfter - killedAt))
                .Add("first_answer_after_kill_any_ms", firstAny < 0 ? double.NaN : Ms(firstAny - killedAt))
                .Add("longest_gap_ms", Ms(longestGap))
                .Add("longest_gap_ends_after_kill_ms", Ms(gapEndsAt - killedAt))
                .Add("slowest_request_ms", Ms(slowest))
                .Add("slowest_request_dead_owner_ms", Ms(slowestVictim))
                .Add("slowest_request_other_ms", Ms(otherAfter))
                .Add("warm_takeovers", mirrorAfter.Warm)
                .Add("cold_takeovers", mirrorAfter.Cold)
                .Add("declared_dead", mirrorAfter.Declared)
                .Add("victim", victimId)
                .Add("victim_keys", victimKeyList.Count)
                .Add("victim_exited_after_kill_ms", Ms(exitedAt - killedAt))
                .Add("declared_dead_after_kill_ms", Since(events.At("declared")))
                .Add("left_view_after_kill_ms", Since(events.At("gone")))
                .Add("taking_over_after_kill_ms", Since(events.At("taking_over")))
                .Add("throughput_before_kill_per_s", beforeCount / beforeSeconds)
                .Add("throughput_after_kill_per_s", afterCount / afterSeconds)
                .Add("warmup_s", o.WarmupSeconds)
                .Add("before_kill_s", beforeSeconds)
                .Add("after_kill_s", afterSeconds)
                .Add("p999_ms", latency.PercentileMs(99.9))
                .Add("max_ms", latency.MaxMs)
                .Add("mirror_records_shipped_before_kill", mirrorBeforeKill.Shipped - mirrorAtStart.Shipped)
                .Add("mirror_lag_mean_ms", MirrorMetrics.LagMeanMs(mirrorAtStart, mirrorBeforeKill))
                .Add("mirror_lag_p99_le_ms", MirrorMetrics.LagPercentileBound(mirrorAtStart, mirrorBeforeKill, 99))
                .Add("mirror_lag_recent_p99_ms", mirrorBeforeKill.RecentP99Ms)
                .Add("host_cpu_cores_busy_before_kill", HostCpu.CoresBusy(cpuStart, cpuBeforeKill, beforeSeconds))
                .Add("host_steal_cores_before_kill", HostCpu.CoresStolen(cpuStart, cpuBeforeKill, beforeSeconds))
                .Add("host_cpu_cores_busy_after_kill", HostCpu.CoresBusy(cpuBeforeKill, cpuEnd, afterSeconds))
                .Add("host_steal_cores", HostCpu.CoresStolen(cpuStart, cpuEnd, measured))
                .Add("checkpoint_every", o.CheckpointEvery)
                .Add("dead_after_ms", o.DeadAfterMs)
                .Add("acknowledged_total", ackedTotal)
                .Add("balance_sum", sum)
                .Add("lost", lost)
                .Add("duplicated", duplicated)
                .Add("failed_requests", failedRequests)
                .Add("balance_check", check)
                .Add("first_error", firstError)
                .Add("utc", DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture));
            if (o.JsonPath is not null) report.WriteTo(o.JsonPath);

            Console.WriteLine(
                $"failover silos={o.Silos} store={o.StoreKind} mirroring={o.Mirroring} c={o.Concurrency} keys={o.Keys}: killed {victimId} ({victimKeyList.Count} accounts); " +
                $"first answer for its accounts {(firstSentAfter < 0 ? "none" : $"{Ms(firstSentAfter - killedAt):F0} ms")} (any {(firstAny < 0 ? "none" : $"{Ms(firstAny - killedAt):F0} ms")}), longest gap {Ms(longestGap):F0} ms, slowest request {Ms(slowest):F0} ms; " +
                $"declared dead {Since(events.At("declared")):F0} ms, left view {Since(events.At("gone")):F0} ms; takeovers warm {mirrorAfter.Warm} cold {mirrorAfter.Cold}; " +
                $"{beforeCount / beforeSeconds:F0} req/s before, {afterCount / afterSeconds:F0} after; acknowledged {ackedTotal}, balances {sum}, lost {lost}, duplicated {duplicated}, failed {failedRequests}" +
                (o.JsonPath is null ? "" : $" -> {o.JsonPath}"));
            if (check != "ok") Console.Error.WriteLine($"error: {check}");
            if (firstError is not null) Console.Error.WriteLine($"error: {failedRequests} requests failed; first: {firstError}");
            return errors == 0 ? 0 : 1;
        }
        catch (Exception e) when (e is SiloStartException or ClientConnectException or TimeoutException or FileNotFoundException)
        {
            Console.Error.WriteLine($"error: {e.GetType().Name}: {e.Message}");
            return 1;
        }
        finally
        {
            DeleteTemp(o.TempDb);
        }
    }

    public static async Task<int> RunTakeoverAsync(FailoverOptions o)
    {
        var nonce = Guid.NewGuid().ToString("N")[..6];
        var key = $"t{nonce}-long";
        var component = new ComponentId(AccountType, key);
        var siloIds = Enumerable.Range(1, o.Silos).Select(i => $"silo-{i}").ToArray();
        var longOwner = PlacedOn(component.ToString(), siloIds);
        // Warm-up accounts placed on the other silos only: the long account is the one component its owner has, so the
        // survivors' takeover counters and log lines are about it alone.
        var warmKeys = Enumerable.Range(1, 2000).Select(i => $"t{nonce}-{LocalScenario.KeyOf(i)}")
            .Where(k => PlacedOn(new ComponentId(AccountType, k).ToString(), siloIds) != longOwner).Take(300).ToArray();
        Console.Error.WriteLine($"takeover: silos={o.Silos} store={o.StoreKind} mirroring={o.Mirroring} turns={o.Turns} concurrency={o.Concurrency} probe every {o.ProbeIntervalMs} ms");
        var events = new SiloEvents();
        try
        {
            // Checkpoints off (by count and by time), so every turn is since the checkpoint.
            await using var cluster = await StartAsync(o, events, ["--checkpoint-every", "1000000000", "--checkpoint-interval-ms", "86400000"]).ConfigureAwait(false);
            await using var client = await ConnectAsync(cluster, "bench-takeover").ConfigureAwait(false);
            var deposit = ComponentInterface.Of(typeof(IAccount)).Methods[nameof(IAccount.Deposit)].EncodeArgs([1L], ComponentJson.Default);

            // Warm-up: every silo serves and mirrors other accounts for a while (JIT), as in a running cluster.
            var warmStop = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, 16).Select(w => Task.Run(async () =>
            {
                var random = new Random(w);
                while (warmStop.Elapsed.TotalSeconds < o.WarmupSeconds)
                    await client.InvokeAsync(new ComponentId(AccountType, warmKeys[random.Next(warmKeys.Length)]), nameof(IAccount.Deposit), deposit).ConfigureAwait(false);
            }))).ConfigureAwait(false);

            // The long log: N deposits on one account, C in flight.
            long issued = 0, acked = 0;
            string? firstError = null;
            var writeWatch = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, o.Concurrency).Select(_ => Task.Run(async () =>
            {
                while (Interlocked.Increment(ref issued) <= o.Turns)
                {
                    try
                    {
                        var reply = await client.InvokeAsync(component, nameof(IAccount.Deposit), deposit).ConfigureAwait(false);
                        if (reply.IsError) throw new InvalidOperationException(reply.ToString());
                        Interlocked.Increment(ref acked);
                    }
                    catch (Exception e)
                    {
                        Interlocked.CompareExchange(ref firstError, $"{e.GetType().Name}: {e.Message}", null);
                    }
                }
            }))).ConfigureAwait(false);
            var writeSeconds = writeWatch.Elapsed.TotalSeconds;
            Console.Error.WriteLine($"  {acked} deposits on {component} in {writeSeconds:F1} s ({acked / writeSeconds:F0}/s)");

            ComponentHead head;
            await using (var store = await LogStores.OpenAsync(o.Store).ConfigureAwait(false))
                head = await store.GetHeadAsync(component.ToString()).ConfigureAwait(false) ?? throw new InvalidOperationException($"{component} has no head in the store.");
            var owner = cluster[head.Owner ?? throw new InvalidOperationException($"{component} has no owner.")];
            if (owner.Id != longOwner) Console.Error.WriteLine($"warning: {component} is owned by {owner.Id}, placement predicted {longOwner}; takeover counters may include warm-up accounts");
            var others = cluster.Running.Where(s => s != owner).ToList();

            // With mirroring: wait until the owner has nothing unacknowledged for its mirrors (the standby applied the log).
            var caughtUp = Stopwatch.StartNew();
            if (o.Mirroring != "none")
            {
                while (caughtUp.Elapsed < TimeSpan.FromSeconds(60))
                {
                    var m = await owner.ReadMetricsAsync().ConfigureAwait(false);
                    if (m.Where(p => p.Key.StartsWith("middleware_mirror_lag_records{", StringComparison.Ordinal)).All(p => p.Value == 0)) break;
                    await Task.Delay(50).ConfigureAwait(false);
                }
            }

            var caughtUpSeconds = caughtUp.Elapsed.TotalSeconds;
            var baseline = await MirrorMetrics.ScrapeAsync(others).ConfigureAwait(false);
            Console.Error.WriteLine($"  head seq {head.LastSeq}, checkpoint seq {head.CheckpointSeq}, owner {owner.Id}; mirrors caught up after {caughtUpSeconds:F1} s; killing {owner.Id} (pid {owner.Pid})");

            // Watch the survivors' takeover counters while probing.
            long activatedAt = 0;
            using var stopWatching = new CancellationTokenSource();
            var watcher = Task.Run(async () =>
            {
                while (!stopWatching.IsCancellationRequested)
                {
                    var now = await MirrorMetrics.ScrapeAsync(others).ConfigureAwait(false);
                    if (now.Warm + now.Cold > baseline.Warm + baseline.Cold)
                    {
                        Volatile.Write(ref activatedAt, Stopwatch.GetTimestamp());
                        return;
                    }

                    await Task.Delay(5).ConfigureAwait(false);
                }
            });

            events.Arm(Stopwatch.GetTimestamp());
            var killedAt = SigKill(owner);
            long firstAnswer = 0, probesAcked = 0, probeErrors = 0;
            var probes = new List<Task>();
            var limit = Stopwatch.StartNew();
            while (Volatile.Read(ref firstAnswer) == 0 && limit.Elapsed.TotalSeconds < o.DurationSeconds)
            {
                probes.Add(Task.Run(async () =>
                {
                    try
                    {
                        var reply = await client.InvokeAsync(component, nameof(IAccount.Deposit), deposit).ConfigureAwait(false);
                        if (reply.IsError) throw new InvalidOperationException(reply.ToString());
                        Interlocked.CompareExchange(ref firstAnswer, Stopwatch.GetTimestamp(), 0);
                        Interlocked.Increment(ref probesAcked);
                    }
                    catch (Exception e)
                    {
                        Interlocked.Increment(ref probeErrors);
                        Interlocked.CompareExchange(ref firstError, $"probe: {e.GetType().Name}: {e.Message}", null);
                    }
                }));
                await Task.Delay(o.ProbeIntervalMs).ConfigureAwait(false);
            }

            await Task.WhenAll(probes).ConfigureAwait(false);
            await Task.WhenAny(watcher, Task.Delay(2000)).ConfigureAwait(false);
            await stopWatching.CancelAsync().ConfigureAwait(false);
            var after = await MirrorMetrics.ScrapeAsync(others).ConfigureAwait(false);
            var balance = await client.GetComponent<IAccount>(key).Balance().ConfigureAwait(false);
            var expected = acked + probesAcked;
            var check = balance == expected ? "ok" : $"MISMATCH: balance {balance}, {expected} deposits acknowledged";
            var errors = (o.Turns - acked) + probeErrors + (check == "ok" ? 0 : 1);
            double Since(long? t) => t is { } v && v > 0 ? Ms(v - killedAt) : double.NaN;
            var decision = events.Decision;
            var firstMs = Since(firstAnswer);
            var fromDecision = decision is { } d && firstAnswer > 0 ? Ms(firstAnswer - d) : double.NaN;

            var report = new JsonReport()
                .Add("scenario", "takeover")
                .Add("store", o.StoreKind)
                .Add("concurrency", o.Concurrency)
                .Add("silos", o.Silos)
                .Add("mirroring", o.Mirroring)
                .Add("turns", o.Turns)
                .Add("turns_since_checkpoint_at_kill", head.LastSeq - head.CheckpointSeq)
                .Add("first_answer_after_kill_ms", firstMs)
                .Add("first_answer_after_decision_ms", fromDecision)
                .Add("decision_after_kill_ms", Since(decision))
                .Add("declared_dead_after_kill_ms", Since(events.At("declared")))
                .Add("left_view_after_kill_ms", Since(events.At("gone")))
                .Add("taking_over_after_kill_ms", Since(events.At("taking_over")))
                .Add("takeover_activated_after_kill_ms", Since(Volatile.Read(ref activatedAt)))
                .Add("warm_takeovers", after.Warm - baseline.Warm)
                .Add("cold_takeovers", after.Cold - baseline.Cold)
                .Add("probes", probes.Count)
                .Add("probe_interval_ms", o.ProbeIntervalMs)
                .Add("write_s", writeSeconds)
                .Add("write_per_s", acked / writeSeconds)
                .Add("mirror_caught_up_s", caughtUpSeconds)
                .Add("victim", owner.Id)
                .Add("balance", balance)
                .Add("acknowledged_total", expected)
                .Add("balance_check", check)
                .Add("errors", errors)
                .Add("first_error", firstError)
                .Add("utc", DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture));
            if (o.JsonPath is not null) report.WriteTo(o.JsonPath);
            Console.WriteLine(
                $"takeover store={o.StoreKind} mirroring={o.Mirroring}: {head.LastSeq - head.CheckpointSeq} turns since the checkpoint; killed {owner.Id}; first answer {firstMs:F0} ms after the kill, " +
                $"{fromDecision:F0} ms after the takeover decision ({Since(decision):F0} ms after the kill); survivor activated it {Since(Volatile.Read(ref activatedAt)):F0} ms after the kill; " +
                $"warm {after.Warm - baseline.Warm} cold {after.Cold - baseline.Cold}; check {check}" + (o.JsonPath is null ? "" : $" -> {o.JsonPath}"));
            if (firstError is not null) Console.Error.WriteLine($"error: first: {firstError}");
            return errors == 0 ? 0 : 1;
        }
        catch (Exception e) when (e is SiloStartException or ClientConnectException or TimeoutException or FileNotFoundException)
        {
            Console.Error.WriteLine($"error: {e.GetType().Name}: {e.Message}");
            return 1;
        }
        finally
        {
            DeleteTemp(o.TempDb);
        }
    }

    /// <summary>The silo rendezvous placement picks among <paramref name="siloIds"/> (a copy of src/Silo/Placement/Rendezvous.cs).</summary>
    private static string PlacedOn(string componentId, string[] siloIds)
    {
        static ulong Weight(string componentId, string siloId)
        {
            var hash = 14695981039346656037UL;
            foreach (var c in componentId) hash = (hash ^ c) * 1099511628211UL;
            hash = (hash ^ 0xff) * 1099511628211UL;
            foreach (var c in siloId) hash = (hash ^ c) * 1099511628211UL;
            hash ^= hash >> 30;
            hash *= 0xbf58476d1ce4e5b9UL;
            hash ^= hash >> 27;
            hash *= 0x94d049bb133111ebUL;
            return hash ^ (hash >> 31);
        }

        string? best = null;
        ulong bestWeight = 0;
        foreach (var id in siloIds)
        {
            var w = Weight(componentId, id);
            if (best is null || w > bestWeight || (w == bestWeight && string.CompareOrdinal(id, best) < 0)) (best, bestWeight) = (id, w);
        }

        return best!;
    }

    private static void DeleteTemp(string? path)
    {
        if (path is null) return;
        foreach (var suffix in new[] { "", "-wal", "-shm", "-journal" })
        {
            try
            {
                File.Delete(path + suffix);
            }
            catch (IOException e)
            {
                Console.Error.WriteLine($"warning: could not delete {path + suffix}: {e.Message}");
            }
        }
    }
}
