using System.Diagnostics;
using System.Globalization;
using Bank;
using Bank.Cluster;
using Middleware.Client;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Protocol;
using Middleware.Recovery.Runtime;

namespace Middleware.Bench;

/// <summary>What the cluster load sends.</summary>
public enum ClusterWorkload
{
    /// <summary><c>IAccount.Deposit(1)</c> on a random account: one turn per request.</summary>
    Deposit,

    /// <summary><c>ITeller.Transfer(from, to, 1)</c>: a teller turn that calls Debit and Deposit on two random accounts (three turns).</summary>
    Transfer,
}

/// <summary>Settings of the <c>cluster</c> scenario.</summary>
public sealed record ClusterOptions(
    int Silos,
    string Store,
    string StoreKind,
    string? TempDb,
    ClusterWorkload Workload,
    int Concurrency,
    int Keys,
    int Tellers,
    double DurationSeconds,
    double WarmupSeconds,
    double EchoSeconds,
    string? JsonPath,
    InvokePath Invoke,
    int CheckpointEvery,
    int Seed,
    string Mirroring = "attributed",
    string Metrics = "on",
    int ScrapeMs = 0)
{
    private static readonly string[] Known = ["--silos", "--store", "--workload", "--concurrency", "--keys", "--tellers", "--duration", "--warmup", "--echo-duration", "--json", "--invoke", "--checkpoint-every", "--seed", "--mirroring", "--metrics", "--scrape-ms"];

    /// <summary><c>--mirroring none|attributed|all</c>, passed to every silo (default attributed, the silo's own default).</summary>
    internal static string ParseMirroring(FlagReader f) => (f.String("--mirroring") ?? "attributed").ToLowerInvariant() switch
    {
        var m when m is "none" or "attributed" or "all" => m,
        var other => throw new UsageException($"--mirroring '{other}' is unknown; use --mirroring none, attributed or all."),
    };

    /// <summary>The <c>--store</c> setting for silo processes: (store for the silos, kind, temp file to delete or null).</summary>
    internal static (string Store, string Kind, string? Temp) ParseStore(FlagReader f)
    {
        var storeFlag = f.String("--store") ?? throw new UsageException("--store is required: --store sqlite (a fresh temp file), --store sqlite:PATH, --store postgres:<Npgsql connection string> or --store memory (one silo, no log: a baseline).");
        string store, kind;
        string? temp = null;
        if (storeFlag.Equals("sqlite", StringComparison.OrdinalIgnoreCase))
        {
            // The system temp dir is on the same disk as the repo here (not tmpfs), so fsync costs what it would in production.
            temp = Path.Combine(Path.GetTempPath(), $"middleware-bench-cluster-{Environment.ProcessId}-{Guid.NewGuid():N}.db");
            (store, kind) = ("sqlite:" + temp, "sqlite");
        }
        else if (storeFlag.StartsWith("sqlite:", StringComparison.OrdinalIgnoreCase))
        {
            (store, kind) = ("sqlite:" + Path.GetFullPath(storeFlag["sqlite:".Length..]), "sqlite");
        }
        else if (storeFlag.StartsWith("postgres:", StringComparison.OrdinalIgnoreCase))
        {
            (store, kind) = (storeFlag, "postgres");
        }
        else if (storeFlag.StartsWith("sharded:", StringComparison.OrdinalIgnoreCase))
        {
            // Several databases (sharded:postgres:A|postgres:B): the kind says how many, never the settings.
            (store, kind) = (storeFlag, $"sharded{Recovery.Stores.LogStores.ShardSettings(storeFlag["sharded:".Length..]).Count}");
        }
        else if (storeFlag.Equals("memory", StringComparison.OrdinalIgnoreCase) || storeFlag.Equals("memory:", StringComparison.OrdinalIgnoreCase))
        {
            // No log, one process: what the silo's transport and runtime cost without the store (a diagnostic baseline).
            (store, kind) = ("memory:", "memory");
        }
        else
        {
            // Only the kind is echoed: a connection string may hold a password.
            throw new UsageException($"--store '{storeFlag.Split(':')[0]}' cannot be shared by silo processes; use --store sqlite, --store sqlite:PATH, --store postgres:<connection string> or --store sharded:postgres:<cs1>|postgres:<cs2>.");
        }

        return (store, kind, temp);
    }

    public static ClusterOptions Parse(string[] args)
    {
        var f = new FlagReader(args, Known);
        var (store, kind, temp) = ParseStore(f);

        var workload = (f.String("--workload") ?? "deposit").ToLowerInvariant() switch
        {
            "deposit" => ClusterWorkload.Deposit,
            "transfer" => ClusterWorkload.Transfer,
            var other => throw new UsageException($"--workload '{other}' is unknown; use --workload deposit or --workload transfer."),
        };
        var invoke = (f.String("--invoke") ?? "raw").ToLowerInvariant() switch
        {
            "raw" => InvokePath.Raw,
            "proxy" => InvokePath.Proxy,
            var other => throw new UsageException($"--invoke '{other}' is unknown; use --invoke raw or --invoke proxy."),
        };
        var silos = f.PositiveInt("--silos", 1);
        if (kind == "memory" && silos != 1) throw new UsageException("--store memory lives inside one silo process; use it with --silos 1 (as a baseline without the log).");
        if (silos > 16) throw new UsageException($"--silos is {silos}; this machine runs every silo as a process beside the load, use 1 to 16.");
        var keys = f.PositiveInt("--keys", 1000);
        if (workload == ClusterWorkload.Transfer && keys < 2) throw new UsageException("--keys must be at least 2 for transfers.");
        var concurrency = f.PositiveInt("--concurrency", 64);
        return new ClusterOptions(
            silos,
            store,
            kind,
            temp,
            workload,
            concurrency,
            keys,
            f.PositiveInt("--tellers", concurrency),
            f.PositiveSeconds("--duration", 10),
            f.PositiveSeconds("--warmup", 3, allowZero: true),
            f.PositiveSeconds("--echo-duration", 3, allowZero: true),
            f.OutputFile("--json"),
            invoke,
            f.PositiveInt("--checkpoint-every", 1000),
            f.PositiveInt("--seed", 1, allowZero: true),
            ParseMirroring(f),
            (f.String("--metrics") ?? "on").ToLowerInvariant() switch
            {
                "on" => "on",
                "off" => "off",
                var other => throw new UsageException($"--metrics '{other}' is unknown; use --metrics on (the silo default: /metrics collects the Middleware.* instruments) or --metrics off (MIDDLEWARE_METRICS=off: no listener, instruments cost nothing)."),
            },
            f.PositiveInt("--scrape-ms", 0, allowZero: true));
    }
}

/// <summary>
/// The <c>cluster</c> scenario: N silo processes on one store (started with <see cref="SiloLauncher"/>), ONE client
/// (<see cref="MiddlewareClient"/>, every silo a gateway) with C closed loops, each sending a request with a fresh
/// session request id and awaiting its durable reply. Deposit: <c>Deposit(1)</c> on random accounts. Transfer: loop i uses
/// teller i mod T, <c>Transfer(from, to, 1)</c> between random accounts. After the load, an echo run over a raw protocol
/// connection to silo-1 measures the transport's ceiling on the same machine at the same moment.
/// </summary>
internal static class ClusterScenario
{
    private const long TransferFunding = 1_000_000;

    public static async Task<int> RunAsync(ClusterOptions o)
    {
        var nonce = Guid.NewGuid().ToString("N")[..6];
        // Fresh components every run, also on a reused store, so the balance check covers exactly this run.
        var keys = Enumerable.Range(1, o.Keys).Select(i => $"b{nonce}-{LocalScenario.KeyOf(i)}").ToArray();
        var tellers = Enumerable.Range(0, o.Tellers).Select(i => $"b{nonce}-teller-{i:D4}").ToArray();
        Console.Error.WriteLine($"cluster: silos={o.Silos} store={o.StoreKind} workload={o.Workload.ToString().ToLowerInvariant()} concurrency={o.Concurrency} keys={o.Keys}" +
            (o.Workload == ClusterWorkload.Transfer ? $" tellers={o.Tellers}" : "") + $" warmup={o.WarmupSeconds}s duration={o.DurationSeconds}s invoke={o.Invoke.ToString().ToLowerInvariant()} mirroring={o.Mirroring}");
        try
        {
            var startWatch = Stopwatch.StartNew();
            await using var cluster = await SiloLauncher.StartAsync(new SiloLaunchOptions
            {
                Store = o.Store,
                Count = o.Silos,
                Components = [SiloBuild.LocateBankComponents()],
                ExtraArgs = ["--checkpoint-every", o.CheckpointEvery.ToString(CultureInfo.InvariantCulture), "--mirroring", o.Mirroring],
                // Account declares the ledger back end; the deposit and transfer workloads never post to it.
                Environment = new Dictionary<string, string>
                {
                    ["MIDDLEWARE_BACKEND_LEDGER"] = $"sqlite:{Path.Combine(Path.GetTempPath(), $"middleware-bench-ledger-{Environment.ProcessId}.db")}",
                    ["MIDDLEWARE_METRICS"] = o.Metrics,
                },
            }).ConfigureAwait(false);
            await cluster.WaitForMembershipAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
            var startSeconds = startWatch.Elapsed.TotalSeconds;
            Console.Error.WriteLine($"  silos up in {startSeconds:F1} s: {string.Join(", ", cluster.Silos.Select(s => $"{s.Id} pid {s.Pid} {s.ProtocolAddress}"))}");

            await using var client = await MiddlewareClient.ConnectAsync(new MiddlewareClientOptions
            {
                Gateways = [.. cluster.Gateways],
                ClientName = "bench-cluster",
            }).ConfigureAwait(false);

            Console.Error.WriteLine($"  activating {o.Keys} accounts{(o.Workload == ClusterWorkload.Transfer ? $" (funding each with {TransferFunding}) and {o.Tellers} tellers" : "")}...");
            var activateWatch = Stopwatch.StartNew();
            var (initialSum, initialErrors) = await PrepareAsync(client, keys, tellers, o.Workload).ConfigureAwait(false);
            var activateSeconds = activateWatch.Elapsed.TotalSeconds;
            if (initialErrors > 0) return 1;
            var initialTransfers = o.Workload == ClusterWorkload.Transfer ? await SumTellerTransfersAsync(client, tellers).ConfigureAwait(false) : 0;

            var control = new RunControl();
            var workers = Enumerable.Range(0, o.Concurrency).Select(w => new Worker(w, o.Seed)).ToArray();
            var depositArgs = ComponentInterface.Of(typeof(IAccount)).Methods[nameof(IAccount.Deposit)].EncodeArgs([1L], ComponentJson.Default);
            var transfer = ComponentInterface.Of(typeof(ITeller)).Methods[nameof(ITeller.Transfer)];
            var tasks = workers.Select(w => Task.Run(() => w.RunAsync(client, o, keys, tellers, depositArgs, transfer, control))).ToArray();
            using var progressStop = new CancellationTokenSource();
            var progress = Task.Run(() => control.ProgressAsync(workers, o.WarmupSeconds, o.DurationSeconds, "req/s", null, progressStop.Token));
            // --scrape-ms: a Prometheus-like scraper reads every silo's /metrics at that period during the load.
            var scrapes = 0L;
            var scraper = o.ScrapeMs == 0 ? Task.CompletedTask : Task.Run(async () =>
            {
                while (!progressStop.IsCancellationRequested)
                {
                    await Task.WhenAll(cluster.Silos.Select(s => s.ReadMetricsAsync(progressStop.Token))).ConfigureAwait(false);
                    Interlocked.Increment(ref scrapes);
                    try
                    {
                        await Task.Delay(o.ScrapeMs, progressStop.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }
                }
            });

            await Task.Delay(TimeSpan.FromSeconds(o.WarmupSeconds)).ConfigureAwait(false);
            var before = await Snapshot.TakeAsync(cluster).ConfigureAwait(false);
            control.MeasureStart = Stopwatch.GetTimestamp();
            await Task.Delay(TimeSpan.FromSeconds(o.DurationSeconds)).ConfigureAwait(false);
            control.Stop = true;
            await Task.WhenAll(tasks).ConfigureAwait(false);
            var end = Stopwatch.GetTimestamp();
            var after = await Snapshot.TakeAsync(cluster).ConfigureAwait(false);
            await progressStop.CancelAsync().ConfigureAwait(false);
            await progress.ConfigureAwait(false);
            await scraper.ConfigureAwait(false);
            if (o.ScrapeMs > 0) Console.Error.WriteLine($"  scraped /metrics of every silo {Interlocked.Read(ref scrapes)} times (every {o.ScrapeMs} ms)");

            var elapsed = (end - control.MeasureStart) / (double)Stopwatch.Frequency;
            var latency = new LatencySummary(workers.Select(w => w.Latencies));
            var requests = workers.Sum(w => w.MeasuredOk);
            var errors = workers.Sum(w => w.MeasuredErrors);
            var allOk = workers.Sum(w => w.TotalOk);
            var allErrors = workers.Sum(w => w.TotalErrors);
            var firstError = workers.Select(w => w.FirstError).FirstOrDefault(e => e is not null);

            // Sanity: deposits add up to the acknowledged ones; transfers move money without creating any, and the tellers
            // counted each acknowledged transfer once.
            var (finalSum, checkErrors) = await SumBalancesAsync(client, keys).ConfigureAwait(false);
            string check;
            if (o.Workload == ClusterWorkload.Deposit)
            {
                check = finalSum - initialSum == allOk ? "ok" : $"MISMATCH: balances rose by {finalSum - initialSum}, {allOk} deposits acknowledged";
            }
            else
            {
                var counted = await SumTellerTransfersAsync(client, tellers).ConfigureAwait(false) - initialTransfers;
                check = finalSum != initialSum ? $"MISMATCH: balances sum to {finalSum}, {initialSum} before the transfers"
                    : counted != allOk ? $"MISMATCH: tellers counted {counted} transfers, {allOk} acknowledged"
                    : "ok";
            }

            var mismatch = check != "ok";
            var echo = o.EchoSeconds > 0 ? await EchoAsync(cluster.Silos[0], o).ConfigureAwait(false) : new EchoResult(0, double.NaN, double.NaN, null);
            var reportedErrors = errors + checkErrors + (mismatch ? 1 : 0);

            var throughput = requests / elapsed;
            var batches = after.Batches - before.Batches;
            var records = after.Records - before.Records;
            var served = after.Served - before.Served;
            var forwarded = after.Forwarded - before.Forwarded;
            var clientCpu = (after.ClientCpu - before.ClientCpu).TotalSeconds / elapsed;
            var siloCpu = (after.SiloCpu - before.SiloCpu).TotalSeconds / elapsed;
            var hostBusy = HostCpu.CoresBusy(before.Host, after.Host, elapsed);
            var report = new JsonReport()
                .Add("scenario", "cluster")
                .Add("store", o.StoreKind)
                .Add("concurrency", o.Concurrency)
                .Add("keys", o.Keys)
                .Add("duration_s", o.DurationSeconds)
                .Add("requests", requests)
                .Add("throughput_per_s", throughput)
                .Add("p50_ms", latency.PercentileMs(50))
                .Add("p99_ms", latency.PercentileMs(99))
                .Add("errors", reportedErrors)
                .Add("silos", o.Silos)
                .Add("workload", o.Workload.ToString().ToLowerInvariant())
                .Add("echo_per_sec", echo.PerSecond)
                .Add("echo_p50_ms", echo.P50Ms)
                .Add("echo_p99_ms", echo.P99Ms)
                .Add("tellers", o.Workload == ClusterWorkload.Transfer ? o.Tellers : 0)
                .Add("turns_per_request", o.Workload == ClusterWorkload.Transfer ? 3 : 1)
                .Add("warmup_s", o.WarmupSeconds)
                .Add("silos_start_s", startSeconds)
                .Add("activate_all_s", activateSeconds)
                .Add("elapsed_s", elapsed)
                .Add("p90_ms", latency.PercentileMs(90))
                .Add("p999_ms", latency.PercentileMs(99.9))
                .Add("max_ms", latency.MaxMs)
                .Add("mean_ms", latency.MeanMs)
                .Add("invoke", o.Invoke.ToString().ToLowerInvariant())
                .Add("checkpoint_every", o.CheckpointEvery)
                .Add("writer_batches", batches)
                .Add("writer_records", records)
                .Add("avg_batch", batches == 0 ? double.NaN : records / batches)
                .Add("commits_per_s", batches / elapsed)
                .Add("requests_served", served)
                .Add("requests_forwarded", forwarded)
                .Add("forwarded_share", served == 0 ? double.NaN : forwarded / served)
                .Add("cpu_cores_used", clientCpu)
                .Add("silo_cpu_cores", siloCpu)
                .Add("host_cpu_cores_busy", hostBusy)
                .Add("other_cpu_cores", hostBusy - clientCpu - siloCpu)
                .Add("host_steal_cores", HostCpu.CoresStolen(before.Host, after.Host, elapsed))
                .Add("cpu_us_per_request", requests == 0 ? double.NaN : (clientCpu + siloCpu) * elapsed * 1e6 / requests)
                .Add("client_cpu_us_per_request", requests == 0 ? double.NaN : clientCpu * elapsed * 1e6 / requests)
                .Add("silo_cpu_us_per_request", requests == 0 ? double.NaN : siloCpu * elapsed * 1e6 / requests)
                .Add("client_alloc_bytes_per_request", requests == 0 ? double.NaN : (after.Allocated - before.Allocated) / (double)requests)
                .Add("silo_alloc_bytes_per_request", requests == 0 || after.SiloAllocated == 0 ? double.NaN : (after.SiloAllocated - before.SiloAllocated) / requests)
                .Add("silo_gc_collections", after.SiloCollections - before.SiloCollections)
                .Add("silo_gc_pause_share", (after.SiloGcPause - before.SiloGcPause) / elapsed)
                .Add("processors", Environment.ProcessorCount)
                .Add("acknowledged_total", allOk)
                .Add("errors_total", allErrors)
                .Add("balance_check", check)
                .Add("first_error", firstError ?? echo.FirstError)
                .Add("mirroring", o.Mirroring)
                .Add("metrics", o.Metrics)
                .Add("scrape_ms", o.ScrapeMs)
                .Add("mirror_records_shipped", after.Mirror.Shipped - before.Mirror.Shipped)
                .Add("mirror_records_applied", after.Mirror.Applied - before.Mirror.Applied)
                .Add("mirror_shipments", MirrorMetrics.Shipments(before.Mirror, after.Mirror))
                .Add("mirror_lag_mean_ms", MirrorMetrics.LagMeanMs(before.Mirror, after.Mirror))
                .Add("mirror_lag_p50_le_ms", MirrorMetrics.LagPercentileBound(before.Mirror, after.Mirror, 50))
                .Add("mirror_lag_p99_le_ms", MirrorMetrics.LagPercentileBound(before.Mirror, after.Mirror, 99))
                .Add("mirror_lag_recent_p99_ms", after.Mirror.RecentP99Ms)
                .Add("mirror_lag_max_ms", after.Mirror.ScrapeMaxLagMs)
                .Add("utc", DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture));
            if (o.JsonPath is not null) report.WriteTo(o.JsonPath);

            Console.WriteLine(
                $"cluster silos={o.Silos} store={o.StoreKind} mirroring={o.Mirroring} metrics={o.Metrics}{(o.ScrapeMs > 0 ? $" scrape={o.ScrapeMs}ms" : "")} {o.Workload.ToString().ToLowerInvariant()} c={o.Concurrency} keys={o.Keys}: {throughput:F0} req/s, p50 {latency.PercentileMs(50):F2} ms, p99 {latency.PercentileMs(99):F2} ms, max {latency.MaxMs:F1} ms, " +
                $"avg batch {(batches == 0 ? 0 : records / batches):F1}, forwarded {(served == 0 ? 0 : 100 * forwarded / served):F0}%, cpu client {clientCpu:F2} silos {siloCpu:F2} others {hostBusy - clientCpu - siloCpu:F2} cores, " +
                $"{(clientCpu + siloCpu) * elapsed * 1e6 / Math.Max(1, requests):F1} us/req (client {clientCpu * elapsed * 1e6 / Math.Max(1, requests):F1}), alloc client {(after.Allocated - before.Allocated) / (double)Math.Max(1, requests):F0} silo {(after.SiloAllocated - before.SiloAllocated) / Math.Max(1, requests):F0} B/req, echo {echo.PerSecond:F0}/s, " +
                (o.Mirroring == "none" ? "" : $"mirror lag p99 <= {MirrorMetrics.LagPercentileBound(before.Mirror, after.Mirror, 99)} ms (recent {after.Mirror.RecentP99Ms:F2}), max {after.Mirror.ScrapeMaxLagMs:F1} ms, ") +
                $"{requests} requests, errors {reportedErrors}, check {check}" + (o.JsonPath is null ? "" : $" -> {o.JsonPath}"));
            if (mismatch) Console.Error.WriteLine($"error: {check} ({allErrors} requests failed{(firstError is null ? "" : ", first: " + firstError)}).");
            else if (firstError is not null) Console.Error.WriteLine($"error: {allErrors} requests failed; first: {firstError}");
            return reportedErrors == 0 && allErrors == 0 && echo.FirstError is null ? 0 : 1;
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

    /// <summary>Activates every account (and teller) before the clock starts; returns the starting sum of the balances.</summary>
    private static async Task<(long Sum, long Errors)> PrepareAsync(MiddlewareClient client, string[] keys, string[] tellers, ClusterWorkload workload)
    {
        long errors = 0;
        if (workload == ClusterWorkload.Transfer)
        {
            await Parallel.ForEachAsync(keys, new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (key, _) =>
            {
                try
                {
                    await client.GetComponent<IAccount>(key).Deposit(TransferFunding).ConfigureAwait(false);
                }
                catch (Exception e)
                {
                    Console.Error.WriteLine($"error: funding {key} failed: {e.Message}");
                    Interlocked.Increment(ref errors);
                }
            }).ConfigureAwait(false);
            await Parallel.ForEachAsync(tellers, new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (teller, _) =>
            {
                try
                {
                    await client.GetComponent<ITeller>(teller).Totals().ConfigureAwait(false);
                }
                catch (Exception e)
                {
                    Console.Error.WriteLine($"error: activating {teller} failed: {e.Message}");
                    Interlocked.Increment(ref errors);
                }
            }).ConfigureAwait(false);
        }

        var (sum, readErrors) = await SumBalancesAsync(client, keys).ConfigureAwait(false);
        return (sum, errors + readErrors);
    }

    private static async Task<(long Sum, long Errors)> SumBalancesAsync(MiddlewareClient client, string[] keys)
    {
        long sum = 0, errors = 0;
        await Parallel.ForEachAsync(keys, new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (key, _) =>
        {
            try
            {
                Interlocked.Add(ref sum, await client.GetComponent<IAccount>(key).Balance().ConfigureAwait(false));
            }
            catch (Exception e)
            {
                Console.Error.WriteLine($"error: reading the balance of {key} failed: {e.Message}");
                Interlocked.Increment(ref errors);
            }
        }).ConfigureAwait(false);
        return (sum, errors);
    }

    private static async Task<long> SumTellerTransfersAsync(MiddlewareClient client, string[] tellers)
    {
        long sum = 0;
        await Parallel.ForEachAsync(tellers, new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (teller, _) =>
            Interlocked.Add(ref sum, (await client.GetComponent<ITeller>(teller).Totals().ConfigureAwait(false)).Transfers)).ConfigureAwait(false);
        return sum;
    }

    private sealed record EchoResult(double PerSecond, double P50Ms, double P99Ms, string? FirstError);

    /// <summary>C concurrent Echo round trips over one raw protocol connection to <paramref name="silo"/>: no component, no store.</summary>
    private static async Task<EchoResult> EchoAsync(LaunchedSilo silo, ClusterOptions o)
    {
        await using var connection = await MiddlewareConnection.ConnectAsync(silo.Protocol, new ConnectionOptions { SenderId = "bench-cluster-echo" }).ConfigureAwait(false);
        var payload = new byte[16];
        new Random(1).NextBytes(payload);
        var measureStart = long.MaxValue;
        var stop = false;
        var recorders = Enumerable.Range(0, o.Concurrency).Select(_ => new LatencyRecorder()).ToArray();
        string? firstError = null;
        var loops = recorders.Select(r => Task.Run(async () =>
        {
            while (!Volatile.Read(ref stop))
            {
                var start = Stopwatch.GetTimestamp();
                try
                {
                    await connection.EchoAsync(payload).ConfigureAwait(false);
                }
                catch (Exception e)
                {
                    Interlocked.CompareExchange(ref firstError, $"echo: {e.GetType().Name}: {e.Message}", null);
                    return;
                }

                if (start >= Volatile.Read(ref measureStart)) r.Add(Stopwatch.GetTimestamp() - start);
            }
        })).ToArray();
        await Task.Delay(TimeSpan.FromSeconds(Math.Min(1, o.EchoSeconds))).ConfigureAwait(false);
        var begin = Stopwatch.GetTimestamp();
        Volatile.Write(ref measureStart, begin);
        await Task.Delay(TimeSpan.FromSeconds(o.EchoSeconds)).ConfigureAwait(false);
        Volatile.Write(ref stop, true);
        await Task.WhenAll(loops).ConfigureAwait(false);
        var seconds = (Stopwatch.GetTimestamp() - begin) / (double)Stopwatch.Frequency;
        var summary = new LatencySummary(recorders);
        Console.Error.WriteLine($"  echo to {silo.Id}: {summary.Count / seconds:F0} round trips/s, p50 {summary.PercentileMs(50):F3} ms, p99 {summary.PercentileMs(99):F3} ms");
        return new EchoResult(summary.Count / seconds, summary.PercentileMs(50), summary.PercentileMs(99), firstError);
    }

    internal static void DeleteTemp(string? path)
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


    /// <summary>Counters of every silo (summed) and CPU of the silos, this process and the machine at one moment.</summary>
    private sealed record Snapshot(double Batches, double Records, double Served, double Forwarded, TimeSpan SiloCpu, TimeSpan ClientCpu, long Allocated, HostCpu Host, MirrorMetrics Mirror,
        double SiloAllocated, double SiloCollections, double SiloGcPause)
    {
        public static async Task<Snapshot> TakeAsync(SiloLauncher cluster)
        {
            var running = cluster.Running;
            var metrics = await Task.WhenAll(running.Select(s => s.ReadMetricsAsync())).ConfigureAwait(false);
            double Sum(string name) => metrics.Sum(m => m.GetValueOrDefault(name));
            using var process = Process.GetCurrentProcess();
            return new Snapshot(
                Sum("middleware_writer_batches_total"),
                Sum("middleware_writer_records_total"),
                Sum("middleware_requests_served_total"),
                Sum("middleware_requests_forwarded_total"),
                running.Aggregate(TimeSpan.Zero, (total, s) => total + s.CpuTime),
                process.TotalProcessorTime,
                GC.GetTotalAllocatedBytes(precise: false),
                HostCpu.Read(),
                MirrorMetrics.From(metrics),
                Sum("middleware_process_allocated_bytes_total"),
                Sum("middleware_process_gc_collections_total"),
                Sum("middleware_process_gc_pause_seconds_total"));
        }
    }

    /// <summary>One closed loop: at most one request in flight.</summary>
    private sealed class Worker(int index, int seed) : LoopCounters
    {
        public async Task RunAsync(MiddlewareClient client, ClusterOptions o, string[] keys, string[] tellers, ReadOnlyMemory<byte> depositArgs, ComponentMethod transfer, RunControl control)
        {
            var random = new Random(unchecked((seed * 1_000_003) + index));
            var teller = tellers.Length == 0 ? "" : tellers[index % tellers.Length];
            var accountType = ComponentInterface.TypeNameOf(typeof(IAccount));
            var tellerType = ComponentInterface.TypeNameOf(typeof(ITeller));
            while (!control.Stop)
            {
                var key = keys[random.Next(keys.Length)];
                var start = Stopwatch.GetTimestamp();
                var ok = false;
                try
                {
                    if (o.Workload == ClusterWorkload.Deposit)
                    {
                        if (o.Invoke == InvokePath.Raw)
                        {
                            var reply = await client.InvokeAsync(new ComponentId(accountType, key), nameof(IAccount.Deposit), depositArgs).ConfigureAwait(false);
                            if (reply.IsError) throw new InvalidOperationException($"Deposit on {key} answered an error: {reply}");
                        }
                        else
                        {
                            await client.GetComponent<IAccount>(key).Deposit(1).ConfigureAwait(false);
                        }
                    }
                    else
                    {
                        var to = keys[random.Next(keys.Length)];
                        while (to == key) to = keys[random.Next(keys.Length)];
                        if (o.Invoke == InvokePath.Raw)
                        {
                            var args = transfer.EncodeArgs([key, to, 1L], ComponentJson.Default);
                            var reply = await client.InvokeAsync(new ComponentId(tellerType, teller), nameof(ITeller.Transfer), args).ConfigureAwait(false);
                            if (reply.IsError) throw new InvalidOperationException($"Transfer {key} -> {to} on {teller} answered an error: {reply}");
                        }
                        else
                        {
                            await client.GetComponent<ITeller>(teller).Transfer(key, to, 1).ConfigureAwait(false);
                        }
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
