using System.Globalization;
using System.Text.Json;

namespace Middleware.Bench;

/// <summary>Median and range per configuration over a directory of result files (the machine is noisy: one run proves little).</summary>
internal static class Summarizer
{
    public static int Run(string directory)
    {
        if (!Directory.Exists(directory))
            throw new UsageException($"summarize: directory '{directory}' does not exist; give the folder the runs wrote their --json files to.");
        var runs = new List<JsonElement>();
        foreach (var file in Directory.EnumerateFiles(directory, "*.json").Order(StringComparer.Ordinal))
        {
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllBytes(file));
                runs.Add(doc.RootElement.Clone());
            }
            catch (JsonException e)
            {
                Console.Error.WriteLine($"warning: skipping {file}: not JSON ({e.Message})");
            }
        }

        if (runs.Count == 0)
        {
            Console.Error.WriteLine($"error: no *.json results in {directory}.");
            return 1;
        }

        var local = runs.Where(r => Str(r, "scenario") == "local")
            .GroupBy(r => (Store: Str(r, "store"), C: Num(r, "concurrency"), K: Num(r, "keys")))
            .OrderBy(g => g.Key.C).ThenBy(g => g.Key.K).ThenBy(g => g.Key.Store, StringComparer.Ordinal);
        if (local.Any())
        {
            Console.WriteLine($"{"store",-7} {"c",5} {"keys",6} {"n",2}  {"turns/s median [min-max]",-30} {"p50 ms",-22} {"p99 ms",-22} {"avg batch",-10} {"cpu us/turn",-12} {"others",-7} {"errors",6}");
            foreach (var g in local)
            {
                Console.WriteLine($"{g.Key.Store,-7} {g.Key.C,5} {g.Key.K,6} {g.Count(),2}  {Range(g, "throughput_per_s", "F0"),-30} {Range(g, "p50_ms", "F2"),-22} {Range(g, "p99_ms", "F2"),-22} {Median(g.Select(r => Num(r, "avg_batch"))),-10:F1} {Median(g.Select(r => Num(r, "cpu_us_per_request"))),-12:F1} {Median(g.Select(r => Num(r, "other_cpu_cores"))),-7:F2} {g.Sum(r => Num(r, "errors")),6}");
            }
        }

        var cluster = runs.Where(r => Str(r, "scenario") == "cluster")
            .GroupBy(r => (Workload: Str(r, "workload"), Store: Str(r, "store"), Silos: Num(r, "silos"), C: Num(r, "concurrency"), K: Num(r, "keys"), Mirroring: (Str(r, "mirroring") is "" ? "attributed" : Str(r, "mirroring")) + Telemetry(r)))
            .OrderBy(g => g.Key.Workload, StringComparer.Ordinal).ThenBy(g => g.Key.Store, StringComparer.Ordinal).ThenBy(g => g.Key.C).ThenBy(g => g.Key.Silos).ThenBy(g => g.Key.Mirroring, StringComparer.Ordinal);
        if (cluster.Any())
        {
            if (local.Any()) Console.WriteLine();
            Console.WriteLine($"{"workload",-8} {"store",-8} {"silos",5} {"mirroring",-10} {"c",4} {"keys",5} {"n",2}  {"req/s median [min-max]",-26} {"p50 ms",-20} {"p99 ms",-22} {"mirror lag p99<= ms",-20} {"echo/s",-24} {"batch",5} {"fwd",4} {"cpu us/req",10} {"others",6} {"steal",5} {"errors",6}  {"cpu us/req [min-max]",-20} {"client us",9} {"alloc B/req client",18} {"silo",6}");
            foreach (var g in cluster)
            {
                Console.WriteLine($"{g.Key.Workload,-8} {g.Key.Store,-8} {g.Key.Silos,5} {g.Key.Mirroring,-10} {g.Key.C,4} {g.Key.K,5} {g.Count(),2}  {Range(g, "throughput_per_s", "F0"),-26} {Range(g, "p50_ms", "F2"),-20} {Range(g, "p99_ms", "F1"),-22} {Range(g, "mirror_lag_p99_le_ms", "F1"),-20} {Range(g, "echo_per_sec", "F0"),-24} {Median(g.Select(r => Num(r, "avg_batch"))),5:F1} {Median(g.Select(r => Num(r, "forwarded_share"))),4:P0} {Median(g.Select(r => Num(r, "cpu_us_per_request"))),10:F0} {Median(g.Select(r => Num(r, "other_cpu_cores"))),6:F2} {Median(g.Select(r => Num(r, "host_steal_cores"))),5:F2} {g.Sum(r => Num(r, "errors")),6}  {Range(g, "cpu_us_per_request", "F1"),-20} {Median(g.Select(r => Num(r, "client_cpu_us_per_request"))),9:F1} {Median(g.Select(r => Num(r, "client_alloc_bytes_per_request"))),18:F0} {Median(g.Select(r => Num(r, "silo_alloc_bytes_per_request"))),6:F0}");
            }
        }

        var failover = runs.Where(r => Str(r, "scenario") == "failover")
            .GroupBy(r => (Store: Str(r, "store"), Silos: Num(r, "silos"), Mirroring: Str(r, "mirroring"), C: Num(r, "concurrency")))
            .OrderBy(g => g.Key.Store, StringComparer.Ordinal).ThenBy(g => g.Key.Mirroring, StringComparer.Ordinal);
        if (failover.Any())
        {
            Console.WriteLine();
            Console.WriteLine($"{"failover",-8} {"silos",5} {"mirroring",-10} {"c",4} {"n",2}  {"first answer ms",-24} {"longest gap ms",-24} {"slowest req ms",-24} {"req/s before kill",-24} {"req/s after kill",-24} {"warm",6} {"cold",6} {"lost",5} {"dup",5} {"errors",6}");
            foreach (var g in failover)
                Console.WriteLine($"{g.Key.Store,-8} {g.Key.Silos,5} {g.Key.Mirroring,-10} {g.Key.C,4} {g.Count(),2}  {Range(g, "first_answer_after_kill_ms", "F0"),-24} {Range(g, "longest_gap_ms", "F0"),-24} {Range(g, "slowest_request_ms", "F0"),-24} {Range(g, "throughput_before_kill_per_s", "F0"),-24} {Range(g, "throughput_after_kill_per_s", "F0"),-24} {Median(g.Select(r => Num(r, "warm_takeovers"))),6:F0} {Median(g.Select(r => Num(r, "cold_takeovers"))),6:F0} {g.Sum(r => Num(r, "lost")),5} {g.Sum(r => Num(r, "duplicated")),5} {g.Sum(r => Num(r, "errors")),6}");
        }

        var takeover = runs.Where(r => Str(r, "scenario") == "takeover")
            .GroupBy(r => (Store: Str(r, "store"), Mirroring: Str(r, "mirroring"), Turns: Num(r, "turns_since_checkpoint_at_kill")))
            .OrderBy(g => g.Key.Store, StringComparer.Ordinal).ThenBy(g => g.Key.Mirroring, StringComparer.Ordinal);
        if (takeover.Any())
        {
            Console.WriteLine();
            Console.WriteLine($"{"takeover",-8} {"mirroring",-10} {"turns",8} {"n",2}  {"first answer ms (kill)",-24} {"from decision ms",-24} {"activated ms (kill)",-24} {"decision ms (kill)",-24} {"warm",5} {"cold",5} {"errors",6}");
            foreach (var g in takeover)
                Console.WriteLine($"{g.Key.Store,-8} {g.Key.Mirroring,-10} {g.Key.Turns,8} {g.Count(),2}  {Range(g, "first_answer_after_kill_ms", "F0"),-24} {Range(g, "first_answer_after_decision_ms", "F0"),-24} {Range(g, "takeover_activated_after_kill_ms", "F0"),-24} {Range(g, "decision_after_kill_ms", "F0"),-24} {Median(g.Select(r => Num(r, "warm_takeovers"))),5:F0} {Median(g.Select(r => Num(r, "cold_takeovers"))),5:F0} {g.Sum(r => Num(r, "errors")),6}");
        }

        var replay = runs.Where(r => Str(r, "scenario") == "replay")
            .GroupBy(r => (Store: Str(r, "store"), Turns: Num(r, "turns")))
            .OrderBy(g => g.Key.Turns).ThenBy(g => g.Key.Store, StringComparer.Ordinal);
        if (replay.Any())
        {
            Console.WriteLine();
            Console.WriteLine($"{"store",-7} {"turns",8} {"n",2}  {"activation ms median [min-max]",-32} {"replay records/s",-30}");
            foreach (var g in replay)
                Console.WriteLine($"{g.Key.Store,-7} {g.Key.Turns,8} {g.Count(),2}  {Range(g, "activation_ms", "F1"),-32} {Range(g, "replay_records_per_s", "F0"),-30}");
        }

        return 0;
    }

    private static string Range(IEnumerable<JsonElement> runs, string field, string format)
    {
        var values = runs.Select(r => Num(r, field)).Where(v => !double.IsNaN(v)).ToArray();
        if (values.Length == 0) return "n/a";
        return string.Create(CultureInfo.InvariantCulture, $"{Median(values).ToString(format, CultureInfo.InvariantCulture)} [{values.Min().ToString(format, CultureInfo.InvariantCulture)}-{values.Max().ToString(format, CultureInfo.InvariantCulture)}]");
    }

    private static double Median(IEnumerable<double> values)
    {
        var v = values.Where(x => !double.IsNaN(x)).ToArray();
        return v.Length == 0 ? double.NaN : ReplayScenario.Median(v);
    }

    private static string Str(JsonElement e, string name) =>
        e.TryGetProperty(name, out var p) && p.ValueKind == JsonValueKind.String ? p.GetString()! : "";

    private static double Num(JsonElement e, string name) =>
        e.TryGetProperty(name, out var p) && p.ValueKind == JsonValueKind.Number ? p.GetDouble() : double.NaN;

    /// <summary>The telemetry setting of a cluster run (issue 16): nothing for runs before it, else metrics on/off and scraping.</summary>
    private static string Telemetry(JsonElement run) => Str(run, "metrics") switch
    {
        "" => "",
        "off" => " metrics-off",
        _ => Num(run, "scrape_ms") > 0 ? $" scrape-{Num(run, "scrape_ms")}ms" : " metrics-on",
    };
}
