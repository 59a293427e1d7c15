using System.Diagnostics;
using System.Globalization;
using Bank;
using Bank.Cluster;
using Middleware.Client;
using Middleware.Core;
using Middleware.Grains;

namespace Middleware.Bench;

/// <summary>Settings of the <c>activations</c> scenario.</summary>
public sealed record ActivationsOptions(
    string Store,
    string StoreKind,
    string? TempDb,
    int Components,
    int Concurrency,
    double DurationSeconds,
    int? MaxActivations,
    string? JsonPath)
{
    private static readonly string[] Known = ["--store", "--components", "--concurrency", "--duration", "--max-activations", "--json"];

    public static ActivationsOptions Parse(string[] args)
    {
        var f = new FlagReader(args, Known);
        var (store, kind, temp) = ClusterOptions.ParseStore(f);
        if (kind == "memory") throw new UsageException("--store memory keeps no log to activate from; use --store sqlite, sqlite:PATH or postgres:<connection string>.");
        var max = f.String("--max-activations") is null ? (int?)null : f.PositiveInt("--max-activations", 0, allowZero: true);
        return new ActivationsOptions(store, kind, temp, f.PositiveInt("--components", 1_000_000), f.PositiveInt("--concurrency", 64),
            f.PositiveSeconds("--duration", 10), max, f.OutputFile("--json"));
    }
}

/// <summary>
/// The <c>activations</c> scenario (issue 17): one silo process, one client with C loops. (1) Deposits on 1,000 accounts for
/// --duration: the small-key-set figure of this run. (2) Every one of N distinct accounts once (first touch: a claim and
/// an empty log each). (3) Every one of them again: past the silo's activation limit most were deactivated with a
/// checkpoint, so this pass measures cold activation from a checkpoint. (4) Deposits on random accounts of all N for
/// --duration (the warm figure over N keys). The silo's RSS is sampled every second; the store's size is read at the end.
/// </summary>
internal static class ActivationsScenario
{
    private const int SmallKeys = 1000;

    /// <summary>
    /// <paramref name="environment"/> plus every variable <c>BENCH_SILO_NAME=value</c> of this process as <c>NAME=value</c>: a
    /// setting for the silo alone (e.g. <c>BENCH_SILO_DOTNET_GCConserveMemory=5</c>), not for this client process.
    /// </summary>
    private static Dictionary<string, string> SiloEnvironment(Dictionary<string, string> environment)
    {
        const string Prefix = "BENCH_SILO_";
        foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables())
        {
            if (e.Key is string name && name.StartsWith(Prefix, StringComparison.Ordinal) && name.Length > Prefix.Length && e.Value is string value)
            {
                environment[name[Prefix.Length..]] = value;
                Console.Error.WriteLine($"activations: silo environment {name[Prefix.Length..]}={value}");
            }
        }

        return environment;
    }

    public static async Task<int> RunAsync(ActivationsOptions o)
    {
        var nonce = Guid.NewGuid().ToString("N")[..6];
        Console.Error.WriteLine($"activations: store={o.StoreKind} components={o.Components} concurrency={o.Concurrency} duration={o.DurationSeconds}s max-activations={(o.MaxActivations?.ToString(CultureInfo.InvariantCulture) ?? "silo default")}");
        try
        {
            string[] extra = o.MaxActivations is { } max ? ["--max-activations", max.ToString(CultureInfo.InvariantCulture)] : [];
            await using var cluster = await SiloLauncher.StartAsync(new SiloLaunchOptions
            {
                Store = o.Store,
                Count = 1,
                Components = [SiloBuild.LocateBankComponents()],
                ExtraArgs = ["--mirroring", "none", .. extra],
                Environment = SiloEnvironment(new Dictionary<string, string> { ["MIDDLEWARE_BACKEND_LEDGER"] = $"sqlite:{Path.Combine(Path.GetTempPath(), $"middleware-bench-ledger-{Environment.ProcessId}.db")}" }),
            }).ConfigureAwait(false);
            await cluster.WaitForMembershipAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
            var pid = cluster.Silos[0].Pid;
            await using var client = await MiddlewareClient.ConnectAsync(new MiddlewareClientOptions { Gateways = [.. cluster.Gateways], ClientName = "bench-activations" }).ConfigureAwait(false);

            var rss = new RssSampler(pid);
            using var sampling = new CancellationTokenSource();
            var sampler = rss.RunAsync(sampling.Token);
            var args = ComponentInterface.Of(typeof(IAccount)).Methods[nameof(IAccount.Deposit)].EncodeArgs([1L], ComponentJson.Default);
            var type = ComponentTypeName(typeof(IAccount));
            string Key(int i) => $"m{nonce}-{i:D7}";
            long errors = 0;
            string? firstError = null;

            async Task<bool> DepositAsync(string key)
            {
                try
                {
                    var reply = await client.InvokeAsync(new ComponentId(type, key), nameof(IAccount.Deposit), args).ConfigureAwait(false);
                    return reply.IsError ? Fail("deposit error: " + reply) : true;
                }
                catch (Exception e)
                {
                    return Fail($"{e.GetType().Name}: {e.Message}");
                }
            }

            bool Fail(string what)
            {
                if (Interlocked.Increment(ref errors) == 1) firstError = what;
                return false;
            }

            // (1) The small key set.
            var small = await TimedRandomAsync(SmallKeys, i => $"s{nonce}-{i:D4}", o, DepositAsync, "1000 keys").ConfigureAwait(false);
            // (2) First touch of N, (3) again (cold from checkpoints past the limit), (4) random over N.
            var cpu0 = SiloCpu.ReadSeconds(pid);
            var first = await PassAsync(o, Key, DepositAsync, "first touch").ConfigureAwait(false);
            var activatedBefore = await MetricAsync(cluster, "middleware_activations_started_total").ConfigureAwait(false);
            var cpu1 = SiloCpu.ReadSeconds(pid);
            var allocatedBefore = await MetricAsync(cluster, "middleware_process_allocated_bytes_total").ConfigureAwait(false);
            var again = await PassAsync(o, Key, DepositAsync, "again").ConfigureAwait(false);
            var cpu2 = SiloCpu.ReadSeconds(pid);
            var activatedDuring = await MetricAsync(cluster, "middleware_activations_started_total").ConfigureAwait(false) - activatedBefore;
            var allocatedPerCold = (await MetricAsync(cluster, "middleware_process_allocated_bytes_total").ConfigureAwait(false) - allocatedBefore) / o.Components;
            var warmDone = new long[1];
            var warm = await TimedRandomAsync(o.Components, Key, o, DepositAsync, $"{o.Components} keys", warmDone).ConfigureAwait(false);
            var cpu3 = SiloCpu.ReadSeconds(pid);
            // Silo CPU (user + system, /proc/PID/stat) per request of each pass: robust to the box's load, unlike the rates.
            var cpuFirst = SiloCpu.MicrosPer(cpu0, cpu1, o.Components);
            var cpuAgain = SiloCpu.MicrosPer(cpu1, cpu2, o.Components);
            var cpuWarm = SiloCpu.MicrosPer(cpu2, cpu3, warmDone[0]);
            var live = await MetricAsync(cluster, "middleware_activations").ConfigureAwait(false);
            var rssEnd = RssSampler.ReadMiB(pid);
            // Where the RSS is: the managed heap after the last GC, the GC's committed memory (the rest is native).
            var gcHeap = await MetricAsync(cluster, "middleware_process_gc_heap_bytes").ConfigureAwait(false) / 1048576.0;
            var gcCommitted = await MetricAsync(cluster, "middleware_process_gc_committed_bytes").ConfigureAwait(false) / 1048576.0;
            await sampling.CancelAsync().ConfigureAwait(false);
            await sampler.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);

            // Sanity: a sample of accounts holds exactly the deposits made to it (two passes plus the random ones are not
            // tracked per key, so only the lower bound is checked for those: at least 2).
            var storeBytes = StoreBytes(o);
            var report = new JsonReport()
                .Add("scenario", "activations")
                .Add("store", o.StoreKind)
                .Add("components", o.Components)
                .Add("concurrency", o.Concurrency)
                .Add("max_activations", o.MaxActivations is { } m ? m : "default")
                .Add("small_keys_per_s", small)
                .Add("first_touch_per_s", first)
                .Add("cold_activations_per_s", again)
                .Add("cold_with_checkpoint_per_s", again)
                .Add("cold_activations_counted", activatedDuring)
                .Add("cold_fraction_of_again_pass", activatedDuring / o.Components)
                .Add("notes", "first_touch_per_s: pass 1, every component new (no log: one read finding nothing, a claim creating it, " +
                    "one turn). cold_activations_per_s = cold_with_checkpoint_per_s: pass 2 over the same components, which past the " +
                    "silo's activation limit were deactivated with a checkpoint (cold_fraction_of_again_pass of them activated again: " +
                    "one read of head + checkpoint + empty tail, a claim, one turn). warm_per_s: random deposits over all components " +
                    "for --duration; small_keys_per_s: the same over 1,000 keys at the start of the run.")
                .Add("warm_per_s", warm)
                .Add("silo_cpu_us_per_first_touch", cpuFirst)
                .Add("silo_cpu_us_per_cold_activation", cpuAgain)
                .Add("silo_cpu_us_per_warm_request", cpuWarm)
                .Add("silo_allocated_bytes_per_cold_activation", allocatedPerCold)
                .Add("warm_vs_small_keys", warm / small)
                .Add("live_activations_end", live)
                .Add("silo_rss_mb_end", rssEnd)
                .Add("silo_rss_mb_max", rss.MaxMiB)
                .Add("silo_gc_heap_mb_end", double.IsNaN(gcHeap) ? null : Math.Round(gcHeap))
                .Add("silo_gc_committed_mb_end", double.IsNaN(gcCommitted) ? null : Math.Round(gcCommitted))
                .Add("silo_rss_mb_samples", rss.Samples)
                .Add("store_bytes", storeBytes)
                .Add("store_bytes_per_component", storeBytes is { } b ? b / (double)(o.Components + SmallKeys) : null)
                .Add("errors", errors)
                .Add("first_error", firstError)
                .Add("utc", DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture));
            if (o.JsonPath is not null) report.WriteTo(o.JsonPath);
            Console.WriteLine($"activations store={o.StoreKind} n={o.Components}: 1000 keys {small:F0}/s, first touch (new) {first:F0}/s, cold with checkpoint (again) {again:F0}/s " +
                $"({activatedDuring:F0} activations), silo CPU µs per request first/again/warm {cpuFirst:F0}/{cpuAgain:F0}/{cpuWarm:F0}, silo bytes allocated per again request {allocatedPerCold:F0}, warm over n {warm:F0}/s ({100 * warm / small:F0}% of 1000 keys), live {live:F0}, rss end {rssEnd:F0} MiB max {rss.MaxMiB:F0} MiB (gc heap {gcHeap:F0}, committed {gcCommitted:F0} MiB), " +
                $"store {(storeBytes is { } sb ? $"{sb / (double)(o.Components + SmallKeys):F0} B/component" : "n/a")}, errors {errors}" + (o.JsonPath is null ? "" : $" -> {o.JsonPath}"));
            if (firstError is not null) Console.Error.WriteLine($"error: {errors} requests failed; first: {firstError}");
            return errors == 0 ? 0 : 1;
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

    private static string ComponentTypeName(Type iface) => ComponentInterface.TypeNameOf(iface);

    /// <summary>Every key once, C at a time, in order; returns requests per second and prints progress every second.</summary>
    private static async Task<double> PassAsync(ActivationsOptions o, Func<int, string> key, Func<string, Task<bool>> deposit, string label)
    {
        var next = -1;
        long done = 0;
        var watch = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource();
        var progress = ProgressAsync(() => Interlocked.Read(ref done), o.Components, label, watch, stop.Token);
        await Task.WhenAll(Enumerable.Range(0, o.Concurrency).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < o.Components)
            {
                await deposit(key(i)).ConfigureAwait(false);
                Interlocked.Increment(ref done);
            }
        }))).ConfigureAwait(false);
        var rate = o.Components / watch.Elapsed.TotalSeconds;
        await stop.CancelAsync().ConfigureAwait(false);
        await progress.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        Console.Error.WriteLine($"  {label}: {o.Components} in {watch.Elapsed.TotalSeconds:F1} s = {rate:F0}/s");
        return rate;
    }

    /// <summary>Random keys of <paramref name="keys"/> for --duration; returns requests per second.</summary>
    private static async Task<double> TimedRandomAsync(int keys, Func<int, string> key, ActivationsOptions o, Func<string, Task<bool>> deposit, string label, long[]? count = null)
    {
        long done = 0;
        var watch = Stopwatch.StartNew();
        var until = TimeSpan.FromSeconds(o.DurationSeconds);
        using var stop = new CancellationTokenSource();
        var progress = ProgressAsync(() => Interlocked.Read(ref done), null, label, watch, stop.Token);
        await Task.WhenAll(Enumerable.Range(0, o.Concurrency).Select(w => Task.Run(async () =>
        {
            var random = new Random(w + 1);
            while (watch.Elapsed < until)
            {
                if (await deposit(key(random.Next(keys))).ConfigureAwait(false)) Interlocked.Increment(ref done);
            }
        }))).ConfigureAwait(false);
        var rate = Interlocked.Read(ref done) / watch.Elapsed.TotalSeconds;
        if (count is not null) count[0] = Interlocked.Read(ref done);
        await stop.CancelAsync().ConfigureAwait(false);
        await progress.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        Console.Error.WriteLine($"  {label}: {rate:F0}/s");
        return rate;
    }

    private static async Task ProgressAsync(Func<long> done, int? total, string label, Stopwatch watch, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
            var n = done();
            Console.Error.WriteLine($"  {label}: {n}{(total is { } t ? $"/{t}" : "")} after {watch.Elapsed.TotalSeconds:F0} s ({n / watch.Elapsed.TotalSeconds:F0}/s)");
        }
    }

    private static async Task<double> MetricAsync(SiloLauncher cluster, string name)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var text = await http.GetStringAsync(new Uri($"http://{cluster.Silos[0].HttpEndpoint}/metrics")).ConfigureAwait(false);
        var line = text.Split('\n').FirstOrDefault(l => l.StartsWith(name + " ", StringComparison.Ordinal));
        return line is null ? double.NaN : double.Parse(line.AsSpan(name.Length + 1), CultureInfo.InvariantCulture);
    }

    /// <summary>The SQLite file and its WAL (null for a server store).</summary>
    private static long? StoreBytes(ActivationsOptions o)
    {
        if (o.StoreKind != "sqlite") return null;
        var path = o.Store["sqlite:".Length..];
        return new[] { path, path + "-wal" }.Where(File.Exists).Sum(p => new FileInfo(p).Length);
    }

    /// <summary>The silo process's CPU time (user + system) from /proc/PID/stat; NaN where it cannot be read.</summary>
    private static class SiloCpu
    {
        public static double ReadSeconds(int pid)
        {
            try
            {
                var text = File.ReadAllText($"/proc/{pid}/stat");
                // Fields after the command name (which may hold spaces) start at state (field 3); utime and stime are 14 and 15.
                var f = text[(text.LastIndexOf(')') + 2)..].Split(' ');
                return (long.Parse(f[11], CultureInfo.InvariantCulture) + long.Parse(f[12], CultureInfo.InvariantCulture)) / 100.0;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
            {
                return double.NaN;
            }
        }

        public static double MicrosPer(double before, double after, long requests) =>
            requests > 0 ? (after - before) * 1e6 / requests : double.NaN;
    }

    /// <summary>The silo's resident memory, sampled every second.</summary>
    private sealed class RssSampler(int pid)
    {
        public double MaxMiB { get; private set; }

        public List<double> Samples { get; } = [];

        public static double ReadMiB(int pid)
        {
            var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
            return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
        }

        public async Task RunAsync(CancellationToken cancellationToken)
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var mib = ReadMiB(pid);
                MaxMiB = Math.Max(MaxMiB, mib);
                Samples.Add(Math.Round(mib));
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
            }
        }
    }
}
