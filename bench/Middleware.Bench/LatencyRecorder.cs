namespace Middleware.Bench;

/// <summary>
/// Latency samples (Stopwatch ticks) of one load loop, in fixed-size chunks so recording never copies or
/// touches the large-object heap mid-run. One recorder per loop: no sharing, no locks.
/// </summary>
internal sealed class LatencyRecorder
{
    private const int ChunkSize = 8192;
    private readonly List<long[]> _full = [];
    private long[] _current = new long[ChunkSize];
    private int _count;

    public long Count => (long)_full.Count * ChunkSize + _count;

    public void Add(long ticks)
    {
        if (_count == ChunkSize)
        {
            _full.Add(_current);
            _current = new long[ChunkSize];
            _count = 0;
        }

        _current[_count++] = ticks;
    }

    public void CopyTo(List<long> all)
    {
        foreach (var chunk in _full) all.AddRange(chunk);
        all.AddRange(_current.AsSpan(0, _count));
    }
}

/// <summary>Exact percentiles over all samples (nearest rank).</summary>
internal sealed class LatencySummary
{
    private readonly long[] _sorted;

    public LatencySummary(IEnumerable<LatencyRecorder> recorders)
    {
        var all = new List<long>();
        foreach (var r in recorders) r.CopyTo(all);
        _sorted = [.. all];
        Array.Sort(_sorted);
    }

    public long Count => _sorted.Length;

    public double PercentileMs(double p)
    {
        if (_sorted.Length == 0) return double.NaN;
        var rank = (int)Math.Ceiling(p / 100.0 * _sorted.Length) - 1;
        return TicksToMs(_sorted[Math.Clamp(rank, 0, _sorted.Length - 1)]);
    }

    public double MeanMs => _sorted.Length == 0 ? double.NaN : TicksToMs((long)_sorted.Average());

    public double MaxMs => _sorted.Length == 0 ? double.NaN : TicksToMs(_sorted[^1]);

    public static double TicksToMs(long ticks) => ticks * 1000.0 / System.Diagnostics.Stopwatch.Frequency;
}
