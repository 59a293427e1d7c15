using Middleware.Dashboard;
using Middleware.Inspection;
using Middleware.Protocol;

namespace Middleware.Silo;

/// <summary>
/// The silo's <c>/dashboard</c> (<see cref="DashboardEndpoints"/>): over its own open store and component types, asking
/// the other silos as a silo (its silo key, its TLS peer settings), guarded by its admin key (the cluster key when no admin
/// key is set; open when the silo has no keys), with its own request counters and latency for the live charts.
/// </summary>
internal static class SiloDashboard
{
    public static DashboardOptions Options(SiloRuntime silo, RequestLatency latency, TimeProvider time)
    {
        var options = silo.Options;
        return new DashboardOptions
        {
            Source = $"silo {options.SiloId}",
            Store = () => silo.RuntimeOrNull?.Store,
            Registry = silo.Registry,
            Asking = new SiloAsking(options.SiloId, PeerRole.Silo, options.EffectiveSiloKey, options.LoadedTls?.Peers, "the silos of one cluster need the same silo key"),
            AccessKey = options.EffectiveAdminKey,
            LocalSiloId = options.SiloId,
            LocalStats = () => Stats(silo, latency, time),
            Time = time,
        };
    }

    private static SiloStatsShape? Stats(SiloRuntime silo, RequestLatency latency, TimeProvider time)
    {
        var runtime = silo.RuntimeOrNull;
        if (runtime is null) return null;
        var (served, forwarded, rerouted) = silo.Router.Stats;
        var (batches, records) = runtime.WriterStats;
        var (counts, sumMs) = latency.Snapshot();
        return new SiloStatsShape(silo.Options.SiloId, time.GetUtcNow().UtcDateTime, served, forwarded, rerouted, records, batches,
            runtime.ActivationCount, RequestLatency.BoundsMs, counts, Math.Round(sumMs, 3));
    }
}
