using System.Diagnostics;
using System.Globalization;
using Middleware.Core;
using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;

namespace Middleware.Bench;

/// <summary>Settings of the <c>append</c> experiment.</summary>
public sealed record AppendOptions(StoreKind Store, string? DbPath, int Batch, int Components, double DurationSeconds, string? JsonPath, int CheckpointEvery = 0)
{
    private static readonly string[] Known = ["--store", "--db", "--batch", "--components", "--duration", "--json", "--checkpoint-every"];

    public static AppendOptions Parse(string[] args)
    {
        var f = new FlagReader(args, Known);
        var store = f.Store();
        var db = f.String("--db");
        if (db is not null && store != StoreKind.Sqlite)
            throw new UsageException("--db only applies to --store sqlite; drop --db or use --store sqlite.");
        // A server store's connection setting travels in the DbPath slot; BenchStore opens it through LogStores.
        db ??= f.StoreConnection;
        return new AppendOptions(store, db, f.PositiveInt("--batch", 32), f.PositiveInt("--components", 1000), f.PositiveSeconds("--duration", 5), f.OutputFile("--json"),
            f.PositiveInt("--checkpoint-every", 0, allowZero: true));
    }
}

/// <summary>
/// The store alone, as the group-commit thread drives it: one thread appending batches of B deposit records
/// (spread over K components, one group per component) back to back. Its commits/s and per-commit latency
/// are the ceiling the runtime can reach for a given batch size, separating store cost from runtime cost.
/// </summary>
internal static class AppendScenario
{
    public static async Task<int> RunAsync(AppendOptions o)
    {
        await using var store = await BenchStore.OpenAsync(o.Store, o.DbPath).ConfigureAwait(false);
        var ids = Enumerable.Range(1, o.Components).Select(i => "Account/" + LocalScenario.KeyOf(i)).ToArray();
        var epochs = new long[ids.Length];
        var lastSeq = new long[ids.Length];
        for (var i = 0; i < ids.Length; i++)
        {
            var head = await store.Store.GetHeadAsync(ids[i]).ConfigureAwait(false);
            var claimed = (await store.Store.ClaimAsync(new ClaimRequest(ids[i], head?.Epoch ?? 0, "bench-append", ClaimMode.EpochOnly)).ConfigureAwait(false)).Claimed
                ?? throw new InvalidOperationException($"Could not claim {ids[i]}.");
            epochs[i] = claimed.Epoch;
            lastSeq[i] = claimed.LastSeq;
        }

        // A payload the size of a real Deposit(1) turn record.
        var payload = RecordCodec.EncodeTurn(new TurnRecord("bench-3f2a9c1e-17-123456", null, null, "Deposit", "[1]"u8.ToArray(),
            [new RecordedValue(NondeterminismKind.UtcNow, DateTime.UtcNow.Ticks)], new ComponentReply("4242"u8.ToArray())));
        var random = new Random(1);
        // --checkpoint-every N: a component's group carries a checkpoint (with one dedup entry per record since the last
        // one, as the runtime writes them) once it has N records since its last; request ids in the local bench's shape.
        var sinceCheckpoint = new int[ids.Length];
        var state = "{\"Balance\":4242}"u8.ToArray();
        var reply = "4242"u8.ToArray();
        long requestNo = 0, dedupRows = 0, checkpointsWritten = 0;
        var latencies = new LatencyRecorder();
        long records = 0, commits = 0;
        var end = Stopwatch.GetTimestamp() + (long)(o.DurationSeconds * Stopwatch.Frequency);
        var start = Stopwatch.GetTimestamp();
        var cpuStart = Environment.CpuUsage.TotalTime;
        while (Stopwatch.GetTimestamp() < end)
        {
            var byComponent = new Dictionary<int, List<LogRecord>>();
            for (var r = 0; r < o.Batch; r++)
            {
                var c = random.Next(ids.Length);
                if (!byComponent.TryGetValue(c, out var list)) byComponent[c] = list = [];
                list.Add(new LogRecord(lastSeq[c] + list.Count + 1, epochs[c], RecordKind.Turn, payload));
            }

            var groups = byComponent.Select(kv =>
            {
                var c = kv.Key;
                sinceCheckpoint[c] += kv.Value.Count;
                if (o.CheckpointEvery == 0 || sinceCheckpoint[c] < o.CheckpointEvery) return new AppendGroup(ids[c], epochs[c], kv.Value);
                var last = kv.Value[^1].Seq;
                var dedup = new DedupEntry[sinceCheckpoint[c]];
                for (var d = 0; d < dedup.Length; d++)
                {
                    var n = requestNo++;
                    dedup[d] = new DedupEntry(string.Create(CultureInfo.InvariantCulture, $"bench-3f2a9c1e-{n % 64}-{n / 64}"), last - dedup.Length + 1 + d, 12345, reply);
                }

                sinceCheckpoint[c] = 0;
                dedupRows += dedup.Length;
                checkpointsWritten++;
                return new AppendGroup(ids[c], epochs[c], kv.Value, new CheckpointRecord(last, epochs[c], state, "bench") { Dedup = dedup });
            }).ToArray();
            var t0 = Stopwatch.GetTimestamp();
            var statuses = await store.Store.AppendAsync(groups).ConfigureAwait(false);
            latencies.Add(Stopwatch.GetTimestamp() - t0);
            if (statuses.Any(s => s != AppendStatus.Ok)) throw new InvalidOperationException("An append was refused: " + string.Join(",", statuses));
            foreach (var (c, list) in byComponent) lastSeq[c] += list.Count;
            records += o.Batch;
            commits++;
        }

        var elapsed = (Stopwatch.GetTimestamp() - start) / (double)Stopwatch.Frequency;
        // The process's CPU over the loop (this thread's appends, the store's own threads, GC) per record written.
        var cpuUsPerRecord = (Environment.CpuUsage.TotalTime - cpuStart).TotalMicroseconds / Math.Max(1, records);
        var summary = new LatencySummary([latencies]);
        var storeName = o.Store.ToString().ToLowerInvariant();
        var report = new JsonReport()
            .Add("scenario", "append")
            .Add("store", storeName)
            .Add("batch", o.Batch)
            .Add("components", o.Components)
            .Add("duration_s", o.DurationSeconds)
            .Add("commits", commits)
            .Add("commits_per_s", commits / elapsed)
            .Add("records_per_s", records / elapsed)
            .Add("commit_p50_ms", summary.PercentileMs(50))
            .Add("commit_p99_ms", summary.PercentileMs(99))
            .Add("commit_mean_ms", summary.MeanMs)
            .Add("cpu_us_per_record", cpuUsPerRecord)
            .Add("checkpoint_every", o.CheckpointEvery)
            .Add("checkpoints", checkpointsWritten)
            .Add("dedup_rows", dedupRows)
            .Add("utc", DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture));
        if (o.JsonPath is not null) report.WriteTo(o.JsonPath);
        Console.WriteLine($"append store={storeName} batch={o.Batch} components={o.Components}: {commits / elapsed:F0} commits/s, {records / elapsed:F0} records/s, commit p50 {summary.PercentileMs(50):F3} ms, p99 {summary.PercentileMs(99):F3} ms, mean {summary.MeanMs:F3} ms, cpu {cpuUsPerRecord:F1} us/record" +
            (o.CheckpointEvery > 0 ? $", {checkpointsWritten} checkpoints ({dedupRows} dedup rows)" : ""));
        return 0;
    }
}
