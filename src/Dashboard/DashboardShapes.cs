namespace Middleware.Dashboard;

/// <summary>
/// One silo's counters for the live charts (<c>/dashboard/api/stats</c>): totals since the silo started, which the page
/// turns into rates by subtracting the previous second's. <c>latencyCounts</c> are requests per bucket of
/// <c>latencyBoundsMs</c> (the last bucket is everything slower than the last bound).
/// </summary>
public sealed record SiloStatsShape(
    string SiloId, DateTime At, long Served, long Forwarded, long Rerouted, long Records, long Batches, int Activations,
    IReadOnlyList<double> LatencyBoundsMs, IReadOnlyList<long> LatencyCounts, double LatencySumMs);

/// <summary>One silo in <c>/dashboard/api/throughput</c>: its counters, or why they could not be read.</summary>
public sealed record SiloThroughputShape(string SiloId, string Status, SiloStatsShape? Stats, string? Error);

/// <summary><c>/dashboard/api/throughput</c>: every silo the store lists, with the counters of the live ones.</summary>
public sealed record ThroughputShape(DateTime At, IReadOnlyList<SiloThroughputShape> Silos);

/// <summary>
/// <c>/dashboard/api/busiest</c>: the components with the longest logs (one read of the heads), largest first; the page
/// turns successive reads into turns per second.
/// </summary>
public sealed record BusiestShape(int Components, IReadOnlyList<BusyComponentShape> Top);

/// <summary>One component in <see cref="BusiestShape"/>.</summary>
public sealed record BusyComponentShape(string Id, string? Owner, long Epoch, long LastSeq, long CheckpointSeq);

/// <summary><c>/dashboard/api/about</c>: who serves this dashboard and what it can answer.</summary>
public sealed record AboutShape(string Source, string Store, bool StateAvailable, IReadOnlyList<string> ComponentTypes, bool KeyRequired);

/// <summary>An error answer of the API: the message names the fix.</summary>
public sealed record ProblemShape(string Error);
