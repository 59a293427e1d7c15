using Middleware.Protocol;
using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;

namespace Middleware.Inspection;

/// <summary>
/// The cluster as <c>mw cluster status</c> and the dashboard show it: the silos table
/// (<see cref="IClusterStore.ListSilosAsync"/>, which first marks dead the silos that missed their window while another
/// silo kept reaching the store, by the store's clock) with each silo's heartbeat age, activations, and the number of
/// components the store names it owner of; and each live silo's mirror load: the standbys it keeps (asked with
/// <c>$mirror.list</c>) and their lag behind the log, the mirrored components it owns and its shipping lag (from its
/// <c>/metrics</c>).
/// </summary>
public static class ClusterView
{
    /// <summary>Builds the <see cref="ClusterStatusShape"/> of <paramref name="store"/>, asking the live silos as <paramref name="asking"/>.</summary>
    public static async Task<ClusterStatusShape> StatusAsync(IClusterStore store, SiloAsking asking, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(store);
        var silos = await store.ListSilosAsync(ct).ConfigureAwait(false);
        var liveSilos = silos.Where(s => s.IsLive).ToList();
        // Standbys and metrics before the heads: a log read later is at least as long as what any standby applied.
        // Both at once, every silo at once: an unreachable silo costs one timeout, not one per question.
        var standbysAsked = MirrorView.ListStandbysAsync(liveSilos, null, asking, ct);
        var reading = Task.WhenAll(liveSilos.Select(s => MirrorView.ReadMetricsAsync(s, ct)));
        var standbys = (await standbysAsked.ConfigureAwait(false)).ToDictionary(a => a.Silo.SiloId, StringComparer.Ordinal);
        var metrics = (await reading.ConfigureAwait(false)).Select((m, i) => (liveSilos[i].SiloId, m)).ToDictionary(p => p.SiloId, p => p.m, StringComparer.Ordinal);
        var heads = await store.ListComponentsAsync(ct).ConfigureAwait(false);
        var owned = heads.Where(h => h.Owner is not null).GroupBy(h => h.Owner!, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var live = liveSilos.Select(s => s.SiloId).ToHashSet(StringComparer.Ordinal);
        var byId = heads.ToDictionary(h => h.ComponentId, StringComparer.Ordinal);
        // The spread: where rendezvous over the live silos places each component, against who owns it.
        var share = new Dictionary<string, int>(StringComparer.Ordinal);
        var misplaced = new Dictionary<string, int>(StringComparer.Ordinal);
        if (liveSilos.Count > 0)
        {
            foreach (var head in heads)
            {
                var pick = Rendezvous.Pick(head.ComponentId, liveSilos)!.SiloId;
                share[pick] = share.GetValueOrDefault(pick) + 1;
                if (head.Owner is { } owner && live.Contains(owner) && owner != pick) misplaced[owner] = misplaced.GetValueOrDefault(owner) + 1;
            }
        }

        var now = TimeProvider.System.GetUtcNow();
        var mirrors = new Dictionary<string, SiloMirrorShape>(StringComparer.Ordinal);
        foreach (var silo in liveSilos)
            mirrors[silo.SiloId] = await MirrorLoadAsync(store, standbys[silo.SiloId], metrics[silo.SiloId], byId, now, ct).ConfigureAwait(false);
        return new ClusterStatusShape(
            store.Name,
            live.Count,
            silos.Count,
            heads.Count,
            heads.Count(h => h.Owner is null || !live.Contains(h.Owner)),
            NoMirror(liveSilos),
            silos.Select(s => new SiloShape(
                s.SiloId, s.Address, s.HttpAddress, StatusOf(s), Math.Round(s.HeartbeatAge.TotalSeconds, 3), Math.Round(s.DeadAfter.TotalSeconds, 3),
                s.Activations, owned.GetValueOrDefault(s.SiloId), s.JoinedAt.UtcDateTime, mirrors.GetValueOrDefault(s.SiloId),
                s.IsLive ? share.GetValueOrDefault(s.SiloId) : null, misplaced.GetValueOrDefault(s.SiloId))).ToList(),
            misplaced.Values.Sum());
    }

    /// <summary><c>live</c> (active within its window), <c>left</c>, or <c>dead</c> (declared dead, or active but past its window).</summary>
    public static string StatusOf(SiloEntry silo)
    {
        ArgumentNullException.ThrowIfNull(silo);
        return silo.IsLive ? "live" : silo.Status == SiloStatus.Left ? "left" : "dead";
    }

    /// <summary>Why no component can have a mirror (fewer than two live silos), or null.</summary>
    public static string? NoMirror(IReadOnlyList<SiloEntry> live)
    {
        ArgumentNullException.ThrowIfNull(live);
        return live.Count switch
        {
            0 => "no live silo (mw cluster status lists the silos); a component has a mirror while two or more silos are live",
            1 => $"only one live silo ({live[0].SiloId}); a component has a mirror while two or more silos are live",
            _ => null,
        };
    }

    /// <summary>One live silo's mirror load: its standbys (and their lag by the store's log), and its mirroring metrics.</summary>
    private static async Task<SiloMirrorShape> MirrorLoadAsync(ILogStore store, SiloStandbys answer, SiloMirrorMetrics metrics,
        IReadOnlyDictionary<string, ComponentHead> heads, DateTimeOffset now, CancellationToken ct)
    {
        int? count = null, diverged = null;
        long? maxRecords = null;
        double? maxMs = null;
        if (answer.Standbys is { } standbys)
        {
            (count, diverged, maxRecords, maxMs) = (standbys.Count, standbys.Count(s => s.DivergedAtSeq > 0), 0, 0);
            foreach (var standby in standbys)
            {
                var lastSeq = heads.TryGetValue(standby.Component, out var head) ? head.LastSeq : standby.AppliedSeq;
                maxRecords = Math.Max(maxRecords.Value, lastSeq - standby.AppliedSeq);
                if (await MirrorView.LagMsAsync(store, standby.Component, standby.AppliedSeq, lastSeq, now, ct).ConfigureAwait(false) is { } ms)
                    maxMs = Math.Max(maxMs.Value, ms);
            }
        }

        var errors = new[] { answer.Error is { } e ? $"{ProtocolConstants.MirrorList}: {e}" : null, metrics.Error }.OfType<string>().ToList();
        return new SiloMirrorShape(count, diverged, maxRecords, maxMs, metrics.MirroredComponents, metrics.LastShipLagMs, errors.Count == 0 ? null : string.Join("; ", errors));
    }
}
