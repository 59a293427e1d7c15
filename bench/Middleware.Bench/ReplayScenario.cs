using System.Diagnostics;
using System.Globalization;
using Bank;
using Middleware.Grains;
using Middleware.Recovery.Runtime;

namespace Middleware.Bench;

/// <summary>
/// The <c>replay</c> scenario: N deposit turns on one component without a checkpoint, then the time a fresh
/// runtime on the same store needs to make that component ready (claim + read + replay), plus the parts.
/// </summary>
internal static class ReplayScenario
{
    private const string Key = "acct-replay";
    private const string WarmKey = "acct-warm";
    private const int WriteConcurrency = 64;

    public static async Task<int> RunAsync(ReplayOptions o)
    {
        var registry = BankComponents.Registry();
        var type = registry.Get(typeof(IAccount));
        await using var store = await BenchStore.OpenAsync(o.Store, o.DbPath).ConfigureAwait(false);
        var storeName = o.Store.ToString().ToLowerInvariant();

        // No checkpoint may cut the log short: every turn must be replayed.
        RuntimeOptions Options(string owner) => new() { CheckpointEveryTurns = int.MaxValue, CheckpointInterval = TimeSpan.FromDays(3650), OwnerId = owner };

        var existing = (await store.Store.GetHeadAsync($"{type.Name}/{Key}").ConfigureAwait(false))?.LastSeq ?? 0;
        if (existing > 0)
            throw new UsageException($"--db {store.Path} already holds {existing} turns of {Key}; give a new file or leave --db out for a temp file.");

        Console.Error.WriteLine($"replay: store={storeName}{(store.Path is null ? "" : " db=" + store.Path)} writing {o.Turns} turns to {Key}...");
        var writeWatch = Stopwatch.StartNew();
        await using (var writer = new LocalRuntime(store.Store, registry, Options("bench-writer")))
        {
            // A few turns on another component let the reading runtime compile the activation path first.
            for (var i = 0; i < 20; i++) await writer.Call<IAccount>(WarmKey, "warm-" + i).Deposit(1).ConfigureAwait(false);
            var next = -1L;
            // Many requests in flight on the one component: turns still run one at a time, but their records
            // share group commits, so writing 100,000 turns takes seconds rather than 100,000 fsyncs.
            await Task.WhenAll(Enumerable.Range(0, WriteConcurrency).Select(_ => Task.Run(async () =>
            {
                long n;
                while ((n = Interlocked.Increment(ref next)) < o.Turns)
                {
                    await writer.Call<IAccount>(Key, "r-" + n.ToString(CultureInfo.InvariantCulture)).Deposit(1).ConfigureAwait(false);
                }
            }))).ConfigureAwait(false);
        }

        Console.Error.WriteLine($"  written in {writeWatch.Elapsed.TotalSeconds:F1} s; measuring {o.Repeat} activation(s)");

        var activations = new List<double>();
        var errors = 0;
        for (var r = 0; r < o.Repeat; r++)
        {
            await using var runtime = new LocalRuntime(store.Store, registry, Options($"bench-reader-{r}"));
            await runtime.Call<IAccount>(WarmKey, "warm-read").Balance().ConfigureAwait(false);
            var watch = Stopwatch.StartNew();
            var balance = await runtime.Call<IAccount>(Key, "read").Balance().ConfigureAwait(false);
            watch.Stop();
            activations.Add(watch.Elapsed.TotalMilliseconds);
            if (balance != o.Turns)
            {
                errors++;
                Console.Error.WriteLine($"error: after replay the balance is {balance}, expected {o.Turns}.");
            }

            Console.Error.WriteLine($"  activation {r + 1}: {watch.Elapsed.TotalMilliseconds:F1} ms");
        }

        // The parts, without the claim: reading the log alone, and reading plus re-executing it.
        var id = new ComponentId(type.Name, Key);
        var reads = new List<double>();
        var loads = new List<double>();
        for (var r = 0; r < o.Repeat; r++)
        {
            var watch = Stopwatch.StartNew();
            var records = await store.Store.ReadAsync(id.ToString(), 1, o.Turns).ConfigureAwait(false);
            reads.Add(watch.Elapsed.TotalMilliseconds);
            if (records.Count != o.Turns) throw new InvalidOperationException($"Read {records.Count} records, expected {o.Turns}.");
            watch.Restart();
            var loaded = await Replayer.LoadAsync(store.Store, type, id, o.Turns, registry.Json).ConfigureAwait(false);
            loads.Add(watch.Elapsed.TotalMilliseconds);
            if (loaded.LastSeq != o.Turns) throw new InvalidOperationException($"Replayed to seq {loaded.LastSeq}, expected {o.Turns}.");
        }

        var activation = Median(activations);
        var read = Median(reads);
        var load = Median(loads);
        var report = new JsonReport()
            .Add("scenario", "replay")
            .Add("store", storeName)
            .Add("turns", o.Turns)
            .Add("activation_ms", activation)
            .Add("replay_records_per_s", o.Turns / (activation / 1000))
            .Add("repeat", o.Repeat)
            .Add("activation_ms_min", activations.Min())
            .Add("activation_ms_max", activations.Max())
            .Add("read_ms", read)
            .Add("load_ms", load)
            .Add("reexecute_ms", load - read)
            .Add("read_records_per_s", o.Turns / (read / 1000))
            .Add("write_s", writeWatch.Elapsed.TotalSeconds)
            .Add("errors", errors)
            .Add("utc", DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture));
        if (o.JsonPath is not null) report.WriteTo(o.JsonPath);
        Console.WriteLine(
            $"replay store={storeName} turns={o.Turns}: activation {activation:F1} ms (min {activations.Min():F1}, max {activations.Max():F1}), {o.Turns / (activation / 1000):F0} records/s; " +
            $"read alone {read:F1} ms, read+replay {load:F1} ms" + (o.JsonPath is null ? "" : $" -> {o.JsonPath}"));
        return errors == 0 ? 0 : 1;
    }

    internal static double Median(IReadOnlyList<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
