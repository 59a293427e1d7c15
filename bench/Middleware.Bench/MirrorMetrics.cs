using System.Globalization;
using Bank.Cluster;

namespace Middleware.Bench;

/// <summary>Mirroring figures summed over silos from one scrape of their <c>/metrics</c>.</summary>
internal sealed record MirrorMetrics(double Shipped, double Applied, double Warm, double Cold, double Declared, double[] LagCumulative, double LagCount, double LagSumMs, double RecentP99Ms, double ScrapeMaxLagMs)
{
    /// <summary>Upper bounds of the silo's <c>middleware_mirror_shipment_lag_ms</c> histogram (MirrorShipper.LagBucketsMs).</summary>
    private static readonly string[] Bounds = ["0.5", "1", "2", "5", "10", "20", "50", "100", "250", "500", "1000", "5000"];

    public static readonly MirrorMetrics Empty = new(0, 0, 0, 0, 0, new double[Bounds.Length], 0, 0, double.NaN, double.NaN);

    public static MirrorMetrics From(IEnumerable<IReadOnlyDictionary<string, double>> silos)
    {
        var list = silos.ToList();
        double Sum(string name) => list.Sum(m => m.GetValueOrDefault(name));
        var cumulative = Bounds.Select(b => Sum($"middleware_mirror_shipment_lag_ms_bucket{{le=\"{b}\"}}")).ToArray();
        var p99 = list.Select(m => m.TryGetValue("middleware_mirror_lag_ms{stat=\"p99\"}", out var v) ? v : double.NaN).Where(v => !double.IsNaN(v)).DefaultIfEmpty(double.NaN).Max();
        // stat="max" per mirror lane resets at every scrape: the largest lag since the previous scrape.
        var max = list.SelectMany(m => m.Where(p => p.Key.StartsWith("middleware_mirror_lag_ms{mirror=", StringComparison.Ordinal) && p.Key.EndsWith("stat=\"max\"}", StringComparison.Ordinal)).Select(p => p.Value))
            .DefaultIfEmpty(double.NaN).Max();
        return new MirrorMetrics(
            Sum("middleware_mirror_records_shipped_total"),
            Sum("middleware_mirror_records_applied_total"),
            Sum("middleware_mirror_takeovers_total{kind=\"warm\"}"),
            Sum("middleware_mirror_takeovers_total{kind=\"cold\"}"),
            Sum("middleware_mirror_silos_declared_dead_total"),
            cumulative,
            Sum("middleware_mirror_shipment_lag_ms_count"),
            Sum("middleware_mirror_shipment_lag_ms_sum"),
            p99,
            max);
    }

    public static async Task<MirrorMetrics> ScrapeAsync(IEnumerable<LaunchedSilo> silos) =>
        From(await Task.WhenAll(silos.Select(s => s.ReadMetricsAsync())).ConfigureAwait(false));

    /// <summary>Shipments between two scrapes.</summary>
    public static double Shipments(MirrorMetrics before, MirrorMetrics after) => after.LagCount - before.LagCount;

    /// <summary>
    /// The <paramref name="percentile"/> of the shipment lag between two scrapes, as the upper bound of the histogram bucket
    /// holding that rank (so "at most"); NaN without shipments, +Inf past the last bound.
    /// </summary>
    public static double LagPercentileBound(MirrorMetrics before, MirrorMetrics after, double percentile)
    {
        var count = after.LagCount - before.LagCount;
        if (count <= 0) return double.NaN;
        var rank = Math.Ceiling(percentile / 100 * count);
        for (var i = 0; i < Bounds.Length; i++)
        {
            if (after.LagCumulative[i] - before.LagCumulative[i] >= rank) return double.Parse(Bounds[i], CultureInfo.InvariantCulture);
        }

        return double.PositiveInfinity;
    }

    /// <summary>Mean shipment lag between two scrapes (ms).</summary>
    public static double LagMeanMs(MirrorMetrics before, MirrorMetrics after)
    {
        var count = after.LagCount - before.LagCount;
        return count <= 0 ? double.NaN : (after.LagSumMs - before.LagSumMs) / count;
    }
}
