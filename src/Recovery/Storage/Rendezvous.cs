namespace Middleware.Recovery.Storage;

/// <summary>
/// Rendezvous (highest random weight) hashing: every process with the same view of the live silos picks the same owner
/// for a component, and the same mirror (the top choice other than the owner). The silos place with it, and the admin
/// tool uses it to say where a standby is expected, so both read the one rule.
/// </summary>
public static class Rendezvous
{
    /// <summary>
    /// The silo with the highest weight for <paramref name="componentId"/> among <paramref name="silos"/>, leaving out
    /// <paramref name="except"/> when given (the owner, to find its mirror); null when there is none.
    /// </summary>
    public static SiloEntry? Pick(string componentId, IReadOnlyList<SiloEntry> silos, string? except = null)
    {
        SiloEntry? best = null;
        ulong bestWeight = 0;
        foreach (var silo in silos)
        {
            if (except is not null && silo.SiloId == except) continue;
            var weight = Weight(componentId, silo.SiloId);
            if (best is null || weight > bestWeight || (weight == bestWeight && string.CompareOrdinal(silo.SiloId, best.SiloId) < 0))
            {
                best = silo;
                bestWeight = weight;
            }
        }

        return best;
    }

    /// <summary>FNV-1a over both ids, finished with the splitmix64 mixer so nearby ids spread evenly.</summary>
    public static ulong Weight(string componentId, string siloId)
    {
        var hash = 14695981039346656037UL;
        foreach (var c in componentId) hash = (hash ^ c) * 1099511628211UL;
        hash = (hash ^ 0xff) * 1099511628211UL;
        foreach (var c in siloId) hash = (hash ^ c) * 1099511628211UL;
        hash ^= hash >> 30;
        hash *= 0xbf58476d1ce4e5b9UL;
        hash ^= hash >> 27;
        hash *= 0x94d049bb133111ebUL;
        return hash ^ (hash >> 31);
    }
}
