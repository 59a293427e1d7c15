using System.Diagnostics;
using System.Globalization;
using Bank;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Recovery.Runtime;

namespace Middleware.Bench;

/// <summary>
/// The <c>local</c> load scenario: C closed loops, each issuing Deposit(1) on a random account with a fresh
/// request id and waiting for the durable reply before the next one. Afterwards the balances must add up
/// to the acknowledged deposits.
/// </summary>
internal static class LocalScenario
{
    public static async Task<int> RunAsync(LocalOptions o)
    {
        var registry = BankComponents.Registry();
        var type = registry.Get(typeof(IAccount));
        var depositArgs = type.Methods[nameof(IAccount.Deposit)].EncodeArgs([1L], registry.Json);
        var keys = Enumerable.Range(1, o.Keys).Select(KeyOf).ToArray();
        var runtimeOptions = new RuntimeOptions { CheckpointEveryTurns = o.CheckpointEvery, CheckpointSpread = o.CheckpointSpread, MaxBatchSize = o.MaxBatch, OwnerId = "bench-local" };

        await using var store = await BenchStore.OpenAsync(o.Store, o.DbPath).ConfigureAwait(false);
        var runtime = new LocalRuntime(store.Store, registry, runtimeOptions);
        // Activate every account before the clock starts: a first activation claims the component (one
        // write transaction of its own, fsync'd on SQLite), which is start-up cost, not steady-state
        // throughput. The same read gives the starting balances, so a reused --db still checks exactly
        // what this run adds.
        Console.Error.WriteLine($"  activating {o.Keys} accounts...");
        var activateWatch = Stopwatch.StartNew();
        var (initialSum, initialErrors) = await SumBalancesAsync(runtime, keys, "initial").ConfigureAwait(false);
        var activateSeconds = activateWatch.Elapsed.TotalSeconds;
        if (initialErrors > 0) return 1;
        var workers = new Worker[o.Concurrency];
        // A run nonce keeps request ids unique also when --db points at a file an earlier run used.
        var nonce = Guid.NewGuid().ToString("N")[..8];
        var control = new RunControl();
        for (var w = 0; w < workers.Length; w++) workers[w] = new Worker(w, o.Seed, nonce);

        Console.Error.WriteLine($"local: store={o.Store.ToString().ToLowerInvariant()}{(store.Path is null ? "" : " db=" + store.Path)} concurrency={o.Concurrency} keys={o.Keys} warmup={o.WarmupSeconds}s duration={o.DurationSeconds}s invoke={o.Invoke.ToString().ToLowerInvariant()}");
        var tasks = workers.Select(w => Task.Run(() => w.RunAsync(runtime, type.Name, keys, depositArgs, o.Invoke, control))).ToArray();
        using var progressStop = new CancellationTokenSource();
        var progress = Task.Run(() =>
        {
            var last = runtime.WriterStats;
            string AvgBatch()
            {
                var now = runtime.WriterStats;
                var batches = now.Batches - last.Batches;
                var text = $"  avg batch {(batches == 0 ? 0 : (now.Records - last.Records) / (double)batches),6:F1}";
                last = now;
                return text;
            }

            return control.ProgressAsync(workers, o.WarmupSeconds, o.DurationSeconds, "turns/s", AvgBatch, progressStop.Token);
        });

        await Task.Delay(TimeSpan.FromSeconds(o.WarmupSeconds)).ConfigureAwait(false);
        var syncsBefore = WalSyncs(store.Store);
        var before = Snapshot.Take(runtime);
        control.MeasureStart = Stopwatch.GetTimestamp();
        await Task.Delay(TimeSpan.FromSeconds(o.DurationSeconds)).ConfigureAwait(false);
        control.Stop = true;
        await Task.WhenAll(tasks).ConfigureAwait(false);
        var end = Stopwatch.GetTimestamp();
        var after = Snapshot.Take(runtime);
        var walSyncs = WalSyncs(store.Store) - syncsBefore;
        await progressStop.CancelAsync().ConfigureAwait(false);
        await progress.ConfigureAwait(false);

        var elapsed = (end - control.MeasureStart) / (double)Stopwatch.Frequency;
        var latency = new LatencySummary(workers.Select(w => w.Latencies));
        var requests = workers.Sum(w => w.MeasuredOk);
        var errors = workers.Sum(w => w.MeasuredErrors);
        var allOk = workers.Sum(w => w.TotalOk);
        var allErrors = workers.Sum(w => w.TotalErrors);
        var batches = after.Batches - before.Batches;
        var records = after.Records - before.Records;

        var (balanceSum, checkErrors) = await SumBalancesAsync(runtime, keys, "final").ConfigureAwait(false);
        balanceSum -= initialSum;
        await runtime.DisposeAsync().ConfigureAwait(false);
        var mismatch = balanceSum != allOk;
        var reportedErrors = errors + checkErrors + (mismatch ? 1 : 0);
        var firstError = workers.Select(w => w.FirstError).FirstOrDefault(e => e is not null);

        var throughput = requests / elapsed;
        var report = new JsonReport()
            .Add("scenario", "local")
            .Add("store", o.Store.ToString().ToLowerInvariant())
            .Add("concurrency", o.Concurrency)
            .Add("keys", o.Keys)
            .Add("duration_s", o.DurationSeconds)
            .Add("requests", requests)
            .Add("throughput_per_s", throughput)
            .Add("p50_ms", latency.PercentileMs(50))
            .Add("p99_ms", latency.PercentileMs(99))
            .Add("errors", reportedErrors)
            .Add("warmup_s", o.WarmupSeconds)
            .Add("activate_all_s", activateSeconds)
            .Add("elapsed_s", elapsed)
            .Add("p90_ms", latency.PercentileMs(90))
            .Add("p999_ms", latency.PercentileMs(99.9))
            .Add("max_ms", latency.MaxMs)
            .Add("mean_ms", latency.MeanMs)
            .Add("invoke", o.Invoke.ToString().ToLowerInvariant())
            .Add("checkpoint_every", o.CheckpointEvery)
            .Add("checkpoint_spread", o.CheckpointSpread)
            .Add("max_batch", o.MaxBatch)
            .Add("writer_batches", batches)
            .Add("writer_records", records)
            .Add("avg_batch", batches == 0 ? double.NaN : records / (double)batches)
            .Add("commits_per_s", batches / elapsed)
            .Add("wal_syncs_per_s", walSyncs / elapsed)
            .Add("wal_syncs_per_commit", batches == 0 ? double.NaN : walSyncs / (double)batches)
            .Add("cpu_cores_used", (after.Cpu - before.Cpu).TotalSeconds / elapsed)
            .Add("host_cpu_cores_busy", HostCpu.CoresBusy(before.Host, after.Host, elapsed))
            .Add("other_cpu_cores", HostCpu.CoresBusy(before.Host, after.Host, elapsed) - (after.Cpu - before.Cpu).TotalSeconds / elapsed)
            .Add("host_steal_cores", HostCpu.CoresStolen(before.Host, after.Host, elapsed))
            .Add("cpu_us_per_request", requests == 0 ? double.NaN : (after.Cpu - before.Cpu).TotalMilliseconds * 1000 / requests)
            .Add("alloc_bytes_per_request", requests == 0 ? double.NaN : (after.Allocated - before.Allocated) / (double)requests)
            .Add("gc_gen0", after.Gen0 - before.Gen0)
            .Add("gc_gen1", after.Gen1 - before.Gen1)
            .Add("gc_gen2", after.Gen2 - before.Gen2)
            .Add("threadpool_threads", ThreadPool.ThreadCount)
            .Add("processors", Environment.ProcessorCount)
            .Add("deposits_acknowledged_total", allOk)
            .Add("errors_total", allErrors)
            .Add("balance_sum", balanceSum)
            .Add("balance_check", mismatch ? "MISMATCH" : "ok")
            .Add("first_error", firstError)
            .Add("utc", DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture));
        if (o.JsonPath is not null) report.WriteTo(o.JsonPath);

        Console.WriteLine(
            $"local store={o.Store.ToString().ToLowerInvariant()} c={o.Concurrency} keys={o.Keys}: {throughput:F0} turns/s, p50 {latency.PercentileMs(50):F2} ms, p99 {latency.PercentileMs(99):F2} ms, " +
            $"avg batch {(batches == 0 ? 0 : records / (double)batches):F1}, {batches / elapsed:F0} commits/s{(walSyncs == 0 ? "" : $", {walSyncs / elapsed:F0} wal syncs/s")}, cpu {(after.Cpu - before.Cpu).TotalSeconds / elapsed:F2} cores (others {HostCpu.CoresBusy(before.Host, after.Host, elapsed) - (after.Cpu - before.Cpu).TotalSeconds / elapsed:F2}), {requests} requests, errors {reportedErrors}, balances {(mismatch ? "MISMATCH" : "ok")}" +
            (o.JsonPath is null ? "" : $" -> {o.JsonPath}"));
        if (mismatch)
            Console.Error.WriteLine($"error: balances sum to {balanceSum} but {allOk} deposits were acknowledged ({allErrors} requests failed{(firstError is null ? "" : ", first: " + firstError)}).");
        else if (firstError is not null)
            Console.Error.WriteLine($"error: {allErrors} requests failed; first: {firstError}");
        return reportedErrors == 0 && allErrors == 0 ? 0 : 1;
    }

    internal static string KeyOf(int i) => "acct-" + i.ToString("D5", CultureInfo.InvariantCulture);

    /// <summary>Reads every balance with the read-only Balance() method; returns the sum and the failed reads.</summary>
    private static async Task<(long Sum, long Errors)> SumBalancesAsync(LocalRuntime runtime, string[] keys, string tag)
    {
        long sum = 0, errors = 0;
        await Parallel.ForEachAsync(keys, new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (key, _) =>
        {
            try
            {
                var balance = await runtime.Call<IAccount>(key, $"balance-{tag}-{key}").Balance().ConfigureAwait(false);
                Interlocked.Add(ref sum, balance);
            }
            catch (Exception e)
            {
                Console.Error.WriteLine($"error: reading the balance of {key} failed: {e.Message}");
                Interlocked.Increment(ref errors);
            }
        }).ConfigureAwait(false);
        return (sum, errors);
    }

    /// <summary>The overlapped WAL sync's syncs so far (0 when the store has none: with synchronous=FULL each commit is one fsync).</summary>
    private static long WalSyncs(Middleware.Recovery.Storage.ILogStore store) => store is Middleware.Recovery.Sqlite.SqliteLogStore sqlite ? sqlite.WalSyncs : 0;

    private sealed record Snapshot(long Batches, long Records, TimeSpan Cpu, long Allocated, int Gen0, int Gen1, int Gen2, HostCpu Host)
    {
        public static Snapshot Take(LocalRuntime runtime)
        {
            var (batches, records) = runtime.WriterStats;
            using var process = Process.GetCurrentProcess();
            return new Snapshot(batches, records, process.TotalProcessorTime, GC.GetTotalAllocatedBytes(precise: false),
                GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2), HostCpu.Read());
        }
    }

    /// <summary>One closed loop: at most one request in flight.</summary>
    private sealed class Worker(int index, int seed, string nonce) : LoopCounters
    {
        public async Task RunAsync(LocalRuntime runtime, string typeName, string[] keys, ReadOnlyMemory<byte> depositArgs, InvokePath path, RunControl control)
        {
            var random = new Random(unchecked(seed * 1_000_003 + index));
            var prefix = $"bench-{nonce}-{index}-";
            long n = 0;
            while (!control.Stop)
            {
                var key = keys[random.Next(keys.Length)];
                // A unique id per request, as a client would send; built before the clock starts.
                var requestId = prefix + (n++).ToString(CultureInfo.InvariantCulture);
                var start = Stopwatch.GetTimestamp();
                var ok = false;
                try
                {
                    if (path == InvokePath.Raw)
                    {
                        var reply = await runtime.InvokeAsync(new Invocation(new ComponentId(typeName, key), requestId, nameof(IAccount.Deposit), depositArgs)).ConfigureAwait(false);
                        if (reply.IsError) throw new InvalidOperationException($"Deposit on {key} answered an error: {reply}");
                    }
                    else
                    {
                        await runtime.Call<IAccount>(key, requestId).Deposit(1).ConfigureAwait(false);
                    }

                    ok = true;
                }
                catch (Exception e)
                {
                    Failed(e);
                }

                Done(start, ok, control);
            }
        }
    }
}
