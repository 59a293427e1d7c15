using System.Diagnostics;

namespace Middleware.Dashboard;

/// <summary>
/// How long a silo took to answer protocol requests (from the request read to its reply ready: routing, the turn, the
/// durable commit, or the forward), as a cumulative histogram. Lock-free; readers subtract two snapshots to get the
/// rate and the percentiles of the interval between them (the dashboard does that in the browser every second).
/// </summary>
public sealed class RequestLatency
{
    /// <summary>Upper bounds of the buckets in milliseconds; the last bucket counts everything slower.</summary>
    public static IReadOnlyList<double> BoundsMs { get; } = [0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096];

    private readonly long[] _counts = new long[BoundsMs.Count + 1];
    private long _sumMicroseconds;

    /// <summary>Records one request that started at <paramref name="startTimestamp"/> (<see cref="Stopwatch.GetTimestamp"/>).</summary>
    public void Record(long startTimestamp)
    {
        var ms = Stopwatch.GetElapsedTime(startTimestamp).TotalMilliseconds;
        var i = 0;
        while (i < BoundsMs.Count && ms > BoundsMs[i]) i++;
        Interlocked.Increment(ref _counts[i]);
        Interlocked.Add(ref _sumMicroseconds, (long)(ms * 1000));
    }

    /// <summary>Requests per bucket since start (not cumulative across buckets), and the sum of their times in ms.</summary>
    public (long[] Counts, double SumMs) Snapshot()
    {
        var counts = new long[_counts.Length];
        for (var i = 0; i < counts.Length; i++) counts[i] = Volatile.Read(ref _counts[i]);
        return (counts, Interlocked.Read(ref _sumMicroseconds) / 1000.0);
    }
}
