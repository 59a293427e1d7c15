using System.Diagnostics;
using System.Globalization;
using Bank;
using Middleware.Recovery.Runtime;

namespace Middleware.Bench;

/// <summary>
/// The <c>activation-memory</c> scenario: managed heap bytes per live activation. An in-process runtime on a temporary
/// SQLite store with no activation limit and no idle deactivation activates N accounts with one deposit each; the GC heap
/// after a full, compacting collection, before and after, divided by N. (RSS also holds the runtime's code, SQLite's page
/// caches and the GC's free space, so it is reported beside the heap figure, not instead of it.)
/// </summary>
internal static class ActivationMemoryScenario
{
    public static async Task<int> RunAsync(string[] args)
    {
        var f = new FlagReader(args, ["--components", "--json", "--hold"]);
        var n = f.PositiveInt("--components", 100_000);
        var json = f.OutputFile("--json");
        var hold = f.String("--hold");
        var registry = BankComponents.Registry();
        await using var store = await BenchStore.OpenAsync(StoreKind.Sqlite, null).ConfigureAwait(false);
        var options = new RuntimeOptions { MaxActivations = 0, DeactivateIdleAfter = TimeSpan.Zero, OwnerId = "bench-memory" };
        await using var runtime = new LocalRuntime(store.Store, registry, options);
        var nonce = Guid.NewGuid().ToString("N")[..6];
        await DepositAllAsync(runtime, 1000, i => $"w{nonce}-{i:D7}").ConfigureAwait(false); // JIT, pools, statements
        var before = HeapAfterFullGc();
        var rssBefore = Environment.WorkingSet;
        var watch = Stopwatch.StartNew();
        await DepositAllAsync(runtime, n, i => $"m{nonce}-{i:D7}").ConfigureAwait(false);
        var seconds = watch.Elapsed.TotalSeconds;
        var after = HeapAfterFullGc();
        var rssAfter = Environment.WorkingSet;
        var live = runtime.ActivationCount;
        var perActivation = (after - before) / (double)n;
        var report = new JsonReport()
            .Add("scenario", "activation-memory")
            .Add("components", n)
            .Add("live_activations", live)
            .Add("heap_bytes_per_activation", Math.Round(perActivation))
            .Add("rss_bytes_per_activation", Math.Round((rssAfter - rssBefore) / (double)n))
            .Add("heap_mb_after", Math.Round(after / 1048576.0))
            .Add("rss_mb_after", Math.Round(rssAfter / 1048576.0))
            .Add("activations_per_s", n / seconds)
            .Add("utc", DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture));
        if (json is not null) report.WriteTo(json);
        Console.WriteLine($"activation-memory n={n}: {perActivation:F0} heap bytes per live activation ({live} live), " +
            $"RSS +{(rssAfter - rssBefore) / (double)n:F0} bytes each, heap {after / 1048576.0:F0} MiB, RSS {rssAfter / 1048576.0:F0} MiB" + (json is null ? "" : $" -> {json}"));
        if (hold is not null)
        {
            // The activations stay live for a heap dump (dotnet-gcdump collect -p PID) until the file is deleted.
            await File.WriteAllTextAsync(hold, Environment.ProcessId.ToString(CultureInfo.InvariantCulture)).ConfigureAwait(false);
            Console.WriteLine($"holding {live} live activations in process {Environment.ProcessId} until {hold} is deleted");
            while (File.Exists(hold)) await Task.Delay(500).ConfigureAwait(false);
        }

        GC.KeepAlive(runtime);
        return 0;
    }

    private static long HeapAfterFullGc()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    private static async Task DepositAllAsync(LocalRuntime runtime, int count, Func<int, string> key)
    {
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, 64).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
                await runtime.Call<IAccount>(key(i), "d-" + key(i)).Deposit(1).ConfigureAwait(false);
        }))).ConfigureAwait(false);
    }
}
