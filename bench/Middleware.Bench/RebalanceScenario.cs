using System.Diagnostics;
using System.Globalization;
using Bank;
using Bank.Cluster;
using Middleware.Client;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Recovery.Storage;
using Middleware.Recovery.Stores;

namespace Middleware.Bench;

/// <summary>Settings of the <c>rebalance</c> scenario.</summary>
public sealed record RebalanceOptions(
    string Store,
    string StoreKind,
    string? TempDb,
    int Silos,
    int Concurrency,
    int Keys,
    double WarmupSeconds,
    int RebalancePerSecond,
    bool Leave,
    string? JsonPath,
    int Seed)
{
    private static readonly string[] Known = ["--store", "--silos", "--concurrency", "--keys", "--warmup", "--rebalance-per-second", "--leave", "--json", "--seed"];

    public static RebalanceOptions Parse(string[] args)
    {
        var f = new FlagReader(args, Known);
        var (store, kind, temp) = ClusterOptions.ParseStore(f);
        if (kind == "memory") throw new UsageException("--store memory is one process; rebalancing needs silos sharing a store: --store sqlite, sqlite:PATH or postgres:<cs>.");
        var silos = f.PositiveInt("--silos", 3);
        if (silos is < 1 or > 15) throw new UsageException($"--silos is {silos}; give the silos before the join, 1 to 15 (default 3).");
        var leave = (f.String("--leave") ?? "yes").ToLowerInvariant() switch
        {
            "yes" or "true" or "on" => true,
            "no" or "false" or "off" => false,
            var other => throw new UsageException($"--leave is '{other}'; use yes (after the join, SIGTERM the joined silo and measure its handover) or no."),
        };
        return new RebalanceOptions(store, kind, temp, silos, f.PositiveInt("--concurrency", 64), f.PositiveInt("--keys", 1000),
            f.PositiveSeconds("--warmup", 8, allowZero: true), f.PositiveInt("--rebalance-per-second", 50),
            leave, f.OutputFile("--json"), f.PositiveInt("--seed", 1, allowZero: true));
    }
}

/// <summary>
/// <c>rebalance</c>: N silo processes, C closed loops of <c>Deposit(1)</c> on K accounts; after the warm-up a silo
/// joins under load and receives its rendezvous share. Reports the time from its start until it owns its share (by
/// the store's heads against rendezvous over the live silos), the longest gap between successive completions, the
/// slowest request during the move (overall and of the moved accounts), throughput before and during; then (unless
/// <c>--leave no</c>) SIGTERMs the joined silo and reports the same for its graceful handover back. Last, every
/// account's balance against the deposits acknowledged on it (lost/duplicated).
/// </summary>
internal static class RebalanceScenario
{
    private static readonly string AccountType = ComponentInterface.TypeNameOf(typeof(IAccount));

    private static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;


    /// <summary>What one phase (join or leave) came to.</summary>
    private sealed record Phase(double SettledMs, int Share, int Misplaced, double LongestGapMs, double SlowestMs, double SlowestMovedMs, double P99Ms, int Requests, double ThroughputPerS, int Moved)
    {
        /// <summary>Requests of moved accounts in the phase, those over 100 ms, and their p99 (less noisy than the single slowest).</summary>
        public int MovedRequests { get; init; }

        public int MovedOver100Ms { get; init; }

        public double MovedP99Ms { get; init; }

        /// <summary>When (from the phase's start) the first owner change was seen, and when the slowest moved request started.</summary>
        public double FirstMoveSeenMs { get; init; }

        public double SlowestMovedStartMs { get; init; }

        /// <summary>
        /// The requests over 100 ms split by when they ended against the first owner change seen (polled every 50 ms, so
        /// "before" is before any move by at least the poll's lag): ended before, the joining process's start-up and the
        /// box; ended after, they could have met a move. Moved accounts' and the others' (never moved in the phase), so
        /// the move path's part is what the moved accounts have over the others in the same time.
        /// </summary>
        public int MovedOver100MsBeforeFirstMove { get; init; }

        public int MovedOver100MsAfterFirstMove { get; init; }

        public int MovedRequestsAfterFirstMove { get; init; }

        public double SlowestMovedAfterFirstMoveMs { get; init; }

        public int UnmovedRequests { get; init; }

        public int UnmovedOver100Ms { get; init; }

        public int UnmovedOver100MsAfterFirstMove { get; init; }

        public int UnmovedRequestsAfterFirstMove { get; init; }

        public int RequestsBeforeFirstMove { get; init; }

        public int Over100MsBeforeFirstMove { get; init; }

        /// <summary>The benchmark process's own longest stall in the phase (its probe thread woke this late) and its GC pause time.</summary>
        public double ClientLongestStallMs { get; init; }

        public double ClientGcPauseMs { get; init; }

        /// <summary>The accounts whose owner changed in the phase (indexes into the keys).</summary>
        public IReadOnlySet<int> MovedKeys { get; init; } = new HashSet<int>();
    }

    public static async Task<int> RunAsync(RebalanceOptions o)
    {
        var nonce = Guid.NewGuid().ToString("N")[..6];
        var keys = Enumerable.Range(1, o.Keys).Select(i => $"r{nonce}-{LocalScenario.KeyOf(i)}").ToArray();
        var index = keys.Select((k, i) => (Id: new ComponentId(AccountType, k).ToString(), i)).ToDictionary(p => p.Id, p => p.i, StringComparer.Ordinal);
        Console.Error.WriteLine($"rebalance: silos={o.Silos}+1 store={o.StoreKind} concurrency={o.Concurrency} keys={o.Keys} warmup={o.WarmupSeconds}s rate={o.RebalancePerSecond}/s leave={o.Leave}");
        try
        {
            var ledger = $"sqlite:{Path.Combine(Path.GetTempPath(), $"middleware-bench-ledger-{Environment.ProcessId}.db")}";
            await using var cluster = await SiloLauncher.StartAsync(new SiloLaunchOptions
            {
                Store = o.Store,
                Count = o.Silos,
                Components = [SiloBuild.LocateBankComponents()],
                ExtraArgs = ["--rebalance-per-second", o.RebalancePerSecond.ToString(CultureInfo.InvariantCulture)],
                Environment = SiloEnvironment(ledger),
                // MIDDLEWARE_BENCH_JOIN_NICE=N: the joining silo runs under `nice -n N` (what its start-up costs the others).
                SiloEnvironment = Environment.GetEnvironmentVariable("MIDDLEWARE_BENCH_JOIN_NICE") is { Length: > 0 } nice
                    ? new Dictionary<string, IReadOnlyDictionary<string, string>> { [$"silo-{o.Silos + 1}"] = new Dictionary<string, string> { [LaunchedSilo.NiceVariable] = nice } }
                    : new Dictionary<string, IReadOnlyDictionary<string, string>>(),
            }).ConfigureAwait(false);
            await cluster.WaitForMembershipAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
            await using var client = await MiddlewareClient.ConnectAsync(new MiddlewareClientOptions { Gateways = [.. cluster.Gateways], ClientName = "bench-rebalance" }).ConfigureAwait(false);
            await Parallel.ForEachAsync(keys, new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (key, _) => await client.GetComponent<IAccount>(key).Balance().ConfigureAwait(false)).ConfigureAwait(false);

            var acked = new long[keys.Length];
            var control = new RunControl();
            var workers = Enumerable.Range(0, o.Concurrency).Select(w => new DepositWorker(w, o.Seed)).ToArray();
            var depositArgs = ComponentInterface.Of(typeof(IAccount)).Methods[nameof(IAccount.Deposit)].EncodeArgs([1L], ComponentJson.Default);
            var tasks = workers.Select(w => Task.Run(() => w.RunAsync(client, keys, acked, depositArgs, control))).ToArray();
            await Task.Delay(TimeSpan.FromSeconds(o.WarmupSeconds)).ConfigureAwait(false);
            control.MeasureStart = Stopwatch.GetTimestamp();
            await Task.Delay(TimeSpan.FromSeconds(Math.Min(5, o.WarmupSeconds))).ConfigureAwait(false);
            var cpuBefore = HostCpu.Read();
            var loadBefore = File.ReadAllText("/proc/loadavg").Split(' ')[0];
            using var probe = new StallProbe();

            // The join: a silo more, under load.
            var joinId = $"silo-{o.Silos + 1}";
            var joinAt = Stopwatch.GetTimestamp();
            await cluster.StartSiloAsync(joinId).ConfigureAwait(false);
            var join = await SettleAsync(o, joinAt, joinId, expectOwns: true, index, workers, cluster, probe).ConfigureAwait(false);
            var cpuJoin = HostCpu.Read();
            WriteSlowTrace(workers, keys, joinAt, join, probe);
            Phase? leave = null;
            if (o.Leave)
            {
                var leaveAt = Stopwatch.GetTimestamp();
                var stopping = cluster[joinId].StopAsync(TimeSpan.FromSeconds(30));
                leave = await SettleAsync(o, leaveAt, joinId, expectOwns: false, index, workers, cluster, probe).ConfigureAwait(false);
                await stopping.ConfigureAwait(false);
            }

            control.Stop = true;
            await Task.WhenAll(tasks).ConfigureAwait(false);

            long lost = 0, duplicated = 0;
            var balances = new long[keys.Length];
            await Parallel.ForEachAsync(Enumerable.Range(0, keys.Length), new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (i, _) =>
                balances[i] = await client.GetComponent<IAccount>(keys[i]).Balance().ConfigureAwait(false)).ConfigureAwait(false);
            for (var i = 0; i < keys.Length; i++)
            {
                if (balances[i] < acked[i]) lost += acked[i] - balances[i];
                else duplicated += balances[i] - acked[i];
            }

            var failed = workers.Sum(w => w.TotalErrors);
            var before = Before(workers, control.MeasureStart, joinAt);
            var firstError = workers.Select(w => w.FirstError).FirstOrDefault(e => e is not null);
            var report = new JsonReport()
                .Add("scenario", "rebalance")
                .Add("store", o.StoreKind)
                .Add("silos_before_join", o.Silos)
                .Add("concurrency", o.Concurrency)
                .Add("keys", o.Keys)
                .Add("rebalance_per_second", o.RebalancePerSecond)
                .Add("join_share", join.Share)
                .Add("join_settled_ms", join.SettledMs)
                .Add("join_misplaced_left", join.Misplaced)
                .Add("join_moved", join.Moved)
                .Add("join_longest_gap_ms", join.LongestGapMs)
                .Add("join_slowest_request_ms", join.SlowestMs)
                .Add("join_slowest_moved_request_ms", join.SlowestMovedMs)
                .Add("join_p99_ms", join.P99Ms)
                .Add("join_moved_requests", join.MovedRequests)
                .Add("join_moved_over_100ms", join.MovedOver100Ms)
                .Add("join_moved_p99_ms", join.MovedP99Ms)
                .Add("join_first_move_seen_ms", join.FirstMoveSeenMs)
                .Add("join_slowest_moved_started_ms", join.SlowestMovedStartMs)
                .Add("join_throughput_per_s", join.ThroughputPerS)
                .Add("join_moved_over_100ms_before_first_move", join.MovedOver100MsBeforeFirstMove)
                .Add("join_moved_over_100ms_after_first_move", join.MovedOver100MsAfterFirstMove)
                .Add("join_moved_requests_after_first_move", join.MovedRequestsAfterFirstMove)
                .Add("join_slowest_moved_after_first_move_ms", join.SlowestMovedAfterFirstMoveMs)
                .Add("join_unmoved_requests", join.UnmovedRequests)
                .Add("join_unmoved_over_100ms", join.UnmovedOver100Ms)
                .Add("join_unmoved_requests_after_first_move", join.UnmovedRequestsAfterFirstMove)
                .Add("join_unmoved_over_100ms_after_first_move", join.UnmovedOver100MsAfterFirstMove)
                .Add("join_requests_before_first_move", join.RequestsBeforeFirstMove)
                .Add("join_over_100ms_before_first_move", join.Over100MsBeforeFirstMove)
                .Add("join_client_longest_stall_ms", join.ClientLongestStallMs)
                .Add("join_client_gc_pause_ms", join.ClientGcPauseMs)
                .Add("leave_settled_ms", leave?.SettledMs)
                .Add("leave_longest_gap_ms", leave?.LongestGapMs)
                .Add("leave_slowest_request_ms", leave?.SlowestMs)
                .Add("leave_slowest_moved_request_ms", leave?.SlowestMovedMs)
                .Add("leave_p99_ms", leave?.P99Ms)
                .Add("leave_moved_over_100ms", leave?.MovedOver100Ms)
                .Add("leave_moved_p99_ms", leave?.MovedP99Ms)
                .Add("leave_throughput_per_s", leave?.ThroughputPerS)
                .Add("throughput_before_join_per_s", before.PerSecond)
                .Add("before_join_longest_gap_ms", before.LongestGapMs)
                .Add("before_join_slowest_request_ms", before.SlowestMs)
                .Add("before_join_p99_ms", before.P99Ms)
                .Add("before_join_over_100ms", before.Over100Ms)
                .Add("host_cpu_cores_busy_during_join", HostCpu.CoresBusy(cpuBefore, cpuJoin, join.SettledMs / 1000))
                .Add("load_average_at_join", loadBefore)
                .Add("silo_poll_ms", SiloPollMs())
                .Add("join_silo_nice", Environment.GetEnvironmentVariable("MIDDLEWARE_BENCH_JOIN_NICE"))
                .Add("acknowledged_total", acked.Sum())
                .Add("lost", lost)
                .Add("duplicated", duplicated)
                .Add("failed_requests", failed)
                .Add("first_error", firstError)
                .Add("utc", DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture));
            if (o.JsonPath is not null) report.WriteTo(o.JsonPath);
            Console.WriteLine(
                $"rebalance silos={o.Silos}+1 store={o.StoreKind} c={o.Concurrency} keys={o.Keys} rate={o.RebalancePerSecond}/s (load {loadBefore}): " +
                $"before the join: longest gap {before.LongestGapMs:F0} ms, slowest request {before.SlowestMs:F0} ms, p99 {before.P99Ms:F1} ms, {before.PerSecond:F0} req/s; " +
                $"join: share {join.Share} owned after {join.SettledMs:F0} ms ({join.Misplaced} misplaced left), longest gap {join.LongestGapMs:F0} ms, slowest request {join.SlowestMs:F0} ms (moved accounts {join.SlowestMovedMs:F0} ms, {join.MovedOver100Ms} of {join.MovedRequests} over 100 ms), p99 {join.P99Ms:F1} ms, {join.ThroughputPerS:F0} req/s" +
                (leave is null ? "" : $"; leave: handed back after {leave.SettledMs:F0} ms, longest gap {leave.LongestGapMs:F0} ms, slowest request {leave.SlowestMs:F0} ms (moved {leave.SlowestMovedMs:F0} ms), p99 {leave.P99Ms:F1} ms") +
                $"; acknowledged {acked.Sum()}, lost {lost}, duplicated {duplicated}, failed {failed}" + (o.JsonPath is null ? "" : $" -> {o.JsonPath}"));
            if (firstError is not null) Console.Error.WriteLine($"error: {failed} requests failed; first: {firstError}");
            return lost + duplicated + failed == 0 ? 0 : 1;
        }
        catch (Exception e) when (e is SiloStartException or ClientConnectException or TimeoutException or FileNotFoundException)
        {
            Console.Error.WriteLine($"error: {e.GetType().Name}: {e.Message}");
            return 1;
        }
        finally
        {
            ClusterScenario.DeleteTemp(o.TempDb);
        }
    }

    /// <summary>The silos' environment: the ledger, and <c>MIDDLEWARE_MOVE_TRACE</c> when it is set here (the trace of handovers).</summary>
    private static Dictionary<string, string> SiloEnvironment(string ledger)
    {
        var environment = new Dictionary<string, string> { ["MIDDLEWARE_BACKEND_LEDGER"] = ledger };
        if (Environment.GetEnvironmentVariable("MIDDLEWARE_MOVE_TRACE") is { Length: > 0 } trace) environment["MIDDLEWARE_MOVE_TRACE"] = trace;
        return environment;
    }

    /// <summary>
    /// With <c>MIDDLEWARE_BENCH_SLOW_TRACE</c> set to a file: every request of the join phase that took over 100 ms, as
    /// "start end ms component moved" (start and end in <see cref="Stopwatch"/> ticks, the clock of the silos'
    /// <c>MIDDLEWARE_MOVE_TRACE</c>), after a first line with the join's start, for bench/trace-moves.py.
    /// </summary>
    private static void WriteSlowTrace(DepositWorker[] workers, string[] keys, long joinAt, Phase join, StallProbe probe)
    {
        if (Environment.GetEnvironmentVariable("MIDDLEWARE_BENCH_SLOW_TRACE") is not { Length: > 0 } path) return;
        using var writer = new StreamWriter(path);
        writer.WriteLine(string.Create(CultureInfo.InvariantCulture, $"join {joinAt} {Stopwatch.Frequency}"));
        foreach (var (start, ms, gc) in probe.Stalls(joinAt, long.MaxValue))
            writer.WriteLine(string.Create(CultureInfo.InvariantCulture, $"stall {start} {ms:F1} gcPause={gc:F1}"));
        foreach (var w in workers)
        {
            lock (w.Completions)
            {
                foreach (var c in w.Completions.Where(c => c.End > joinAt && Ms(c.End - c.Start) > 100))
                    writer.WriteLine(string.Create(CultureInfo.InvariantCulture, $"slow {c.Start} {c.End} {Ms(c.End - c.Start):F1} {new ComponentId(AccountType, keys[c.Key])} {join.MovedKeys.Contains(c.Key)}"));
            }
        }
    }

    /// <summary>The same client-side figures over a window before the join: the baseline of this (loaded) machine.</summary>
    private static (double PerSecond, double LongestGapMs, double SlowestMs, double P99Ms, int Over100Ms) Before(DepositWorker[] workers, long from, long to)
    {
        var completions = new List<Completion>();
        foreach (var w in workers)
            lock (w.Completions) completions.AddRange(w.Completions.Where(c => c.End >= from && c.End < to));
        completions.Sort((a, b) => a.End.CompareTo(b.End));
        long longestGap = 0, previous = from;
        foreach (var c in completions)
        {
            longestGap = Math.Max(longestGap, c.End - previous);
            previous = c.End;
        }

        var latencies = completions.Select(c => Ms(c.End - c.Start)).Order().ToArray();
        var p99 = latencies.Length == 0 ? double.NaN : latencies[Math.Min(latencies.Length - 1, (int)(latencies.Length * 0.99))];
        return (completions.Count / ((to - from) / (double)Stopwatch.Frequency), Ms(longestGap), latencies.DefaultIfEmpty(0).Max(), p99, latencies.Count(l => l > 100));
    }

    private static double SiloPollMs() =>
        Environment.GetEnvironmentVariable("MIDDLEWARE_BENCH_SILO_POLL_MS") is { Length: > 0 } text
            ? double.TryParse(text, CultureInfo.InvariantCulture, out var ms) && ms >= 0 ? ms : throw new UsageException($"MIDDLEWARE_BENCH_SILO_POLL_MS is '{text}'; give milliseconds (default 50: the silos list at every poll)")
            : 50;

    /// <summary>
    /// Polls the store until the joined silo owns exactly its rendezvous share (<paramref name="expectOwns"/>) or, for the
    /// leave, owns nothing and no live silo owns a component away from its rendezvous owner; then measures the client
    /// side from <paramref name="at"/> to then (at least 2 s more, to catch the last moves' first requests).
    /// </summary>
    private static async Task<Phase> SettleAsync(RebalanceOptions o, long at, string siloId, bool expectOwns, Dictionary<string, int> index, DepositWorker[] workers, SiloLauncher cluster, StallProbe probe)
    {
        await using var store = await LogStores.OpenAsync(o.Store).ConfigureAwait(false);
        var cluster2 = (IClusterStore)store;
        var deadline = at + (long)(120 * Stopwatch.Frequency);
        int share = 0, misplaced = -1;
        var moved = new HashSet<int>();
        long firstMoveSeen = 0;
        Dictionary<int, string?>? firstOwners = null;
        long settledAt;
        // The silos list is a write transaction on SQLite (it marks overdue silos dead), so polling it takes the store's
        // file lock beside the silos' commits. MIDDLEWARE_BENCH_SILO_POLL_MS (default 50, every poll, as before) reads it
        // that often once the joined silo's change (live for the join, gone for the leave) was seen; the heads are read
        // every 50 ms regardless.
        var siloPollTicks = (long)(SiloPollMs() * Stopwatch.Frequency / 1000);
        List<SiloEntry>? live = null;
        long livePolled = 0;
        while (true)
        {
            var now = Stopwatch.GetTimestamp();
            if (live is null || live.Any(s => s.SiloId == siloId) != expectOwns || now - livePolled >= siloPollTicks)
            {
                live = (await cluster2.ListSilosAsync().ConfigureAwait(false)).Where(s => s.IsLive && (expectOwns || s.SiloId != siloId)).ToList();
                livePolled = now;
            }

            var heads = (await store.ListComponentsAsync().ConfigureAwait(false)).Where(h => index.ContainsKey(h.ComponentId)).ToList();
            firstOwners ??= heads.ToDictionary(h => index[h.ComponentId], h => h.Owner);
            foreach (var h in heads)
                if (firstOwners.TryGetValue(index[h.ComponentId], out var was) && was != h.Owner && moved.Add(index[h.ComponentId]) && firstMoveSeen == 0)
                    firstMoveSeen = Stopwatch.GetTimestamp();
            share = heads.Count(h => Rendezvous.Pick(h.ComponentId, live)?.SiloId == siloId);
            misplaced = heads.Count(h => h.Owner is { } owner && live.Any(s => s.SiloId == owner) && Rendezvous.Pick(h.ComponentId, live)?.SiloId != owner);
            var owned = heads.Count(h => h.Owner == siloId);
            var done = live.Any(s => s.SiloId == siloId) == expectOwns && misplaced == 0 && (expectOwns ? owned == share && share > 0 : owned == 0);
            if (done)
            {
                settledAt = Stopwatch.GetTimestamp();
                break;
            }

            if (Stopwatch.GetTimestamp() > deadline)
            {
                settledAt = Stopwatch.GetTimestamp();
                Console.Error.WriteLine($"  {(expectOwns ? "join" : "leave")}: not settled after 120 s: {misplaced} misplaced, {owned} owned by {siloId}, share {share}");
                break;
            }

            await Task.Delay(50).ConfigureAwait(false);
        }

        // The first requests of the last moved accounts land shortly after: keep measuring a little longer.
        var until = Math.Max(settledAt, at) + (long)(2 * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < until) await Task.Delay(50).ConfigureAwait(false);
        var completions = new List<Completion>();
        foreach (var w in workers)
            lock (w.Completions) completions.AddRange(w.Completions.Where(c => c.End > at && c.End <= until));
        completions.Sort((a, b) => a.End.CompareTo(b.End));
        long longestGap = 0, previous = at;
        foreach (var c in completions)
        {
            longestGap = Math.Max(longestGap, c.End - previous);
            previous = c.End;
        }

        var latencies = completions.Select(c => Ms(c.End - c.Start)).Order().ToArray();
        var p99 = latencies.Length == 0 ? double.NaN : latencies[Math.Min(latencies.Length - 1, (int)(latencies.Length * 0.99))];
        var slowest = latencies.DefaultIfEmpty(0).Max();
        var movedCompletions = completions.Where(c => moved.Contains(c.Key)).ToList();
        var slowestMoved = movedCompletions.Select(c => Ms(c.End - c.Start)).DefaultIfEmpty(0).Max();
        var slowestMovedStart = movedCompletions.Count == 0 ? 0 : Ms(movedCompletions.MaxBy(c => c.End - c.Start).Start - at);
        var movedLatencies = movedCompletions.Select(c => Ms(c.End - c.Start)).Order().ToArray();
        var movedP99 = movedLatencies.Length == 0 ? double.NaN : movedLatencies[Math.Min(movedLatencies.Length - 1, (int)(movedLatencies.Length * 0.99))];
        var seconds = (until - at) / (double)Stopwatch.Frequency;
        var firstMove = firstMoveSeen == 0 ? long.MaxValue : firstMoveSeen;
        var movedAfter = movedCompletions.Where(c => c.End >= firstMove).ToList();
        var unmoved = completions.Where(c => !moved.Contains(c.Key)).ToList();
        var unmovedAfter = unmoved.Where(c => c.End >= firstMove).ToList();
        var stalls = probe.Stalls(at, until);
        return new Phase(Ms(settledAt - at), share, misplaced, Ms(longestGap), slowest, slowestMoved, p99, completions.Count, completions.Count / seconds, moved.Count)
        {
            MovedRequests = movedLatencies.Length,
            MovedOver100Ms = movedLatencies.Count(l => l > 100),
            MovedP99Ms = movedP99,
            FirstMoveSeenMs = firstMoveSeen == 0 ? double.NaN : Ms(firstMoveSeen - at),
            SlowestMovedStartMs = slowestMovedStart,
            MovedKeys = moved,
            MovedOver100MsBeforeFirstMove = movedCompletions.Count(c => c.End < firstMove && Ms(c.End - c.Start) > 100),
            MovedOver100MsAfterFirstMove = movedAfter.Count(c => Ms(c.End - c.Start) > 100),
            MovedRequestsAfterFirstMove = movedAfter.Count,
            SlowestMovedAfterFirstMoveMs = movedAfter.Select(c => Ms(c.End - c.Start)).DefaultIfEmpty(0).Max(),
            UnmovedRequests = unmoved.Count,
            UnmovedOver100Ms = unmoved.Count(c => Ms(c.End - c.Start) > 100),
            UnmovedRequestsAfterFirstMove = unmovedAfter.Count,
            UnmovedOver100MsAfterFirstMove = unmovedAfter.Count(c => Ms(c.End - c.Start) > 100),
            RequestsBeforeFirstMove = completions.Count(c => c.End < firstMove),
            Over100MsBeforeFirstMove = completions.Count(c => c.End < firstMove && Ms(c.End - c.Start) > 100),
            ClientLongestStallMs = stalls.Select(x => x.Ms).DefaultIfEmpty(0).Max(),
            ClientGcPauseMs = stalls.Sum(x => x.GcPauseMs),
        };
    }
}

/// <summary>
/// The benchmark process's own stalls: a thread that wakes every 5 ms and keeps each wake-up over 20 ms late (with the GC
/// pause time of that interval), so a slow request can be put down to the client being stalled rather than to a silo.
/// </summary>
internal sealed class StallProbe : IDisposable
{
    private readonly List<(long Start, double Ms, double GcPauseMs)> _stalls = [];
    private volatile bool _stop;

    public StallProbe() => new Thread(Run) { IsBackground = true, Name = "bench-stall-probe", Priority = ThreadPriority.Highest }.Start();

    /// <summary>The stalls that began in [from, to).</summary>
    public List<(long Start, double Ms, double GcPauseMs)> Stalls(long from, long to)
    {
        lock (_stalls) return _stalls.Where(s => s.Start >= from && s.Start < to).ToList();
    }

    private void Run()
    {
        var last = Stopwatch.GetTimestamp();
        var pause = GC.GetTotalPauseDuration();
        while (!_stop)
        {
            Thread.Sleep(5);
            var now = Stopwatch.GetTimestamp();
            var ms = (now - last) * 1000.0 / Stopwatch.Frequency - 5;
            var p = GC.GetTotalPauseDuration();
            if (ms > 20)
                lock (_stalls) _stalls.Add((last, ms, (p - pause).TotalMilliseconds));
            last = now;
            pause = p;
        }
    }

    public void Dispose() => _stop = true;
}
