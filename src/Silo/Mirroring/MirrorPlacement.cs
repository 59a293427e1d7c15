using Middleware.Recovery.Storage;

namespace Middleware.Silo;

/// <summary>
/// Where a component's warm standby lives: the next rendezvous choice after its owner among the live silos, so every
/// silo with the same view computes the same owner/mirror pair without a lookup, and when the owner dies the silo that
/// placement picks next (<see cref="Rendezvous.Pick"/> over the silos still live) is its mirror.
/// </summary>
public static class MirrorPlacement
{
    /// <summary>The mirror of <paramref name="componentId"/> owned by <paramref name="ownerSiloId"/>, or null with no other live silo.</summary>
    public static SiloEntry? MirrorOf(string componentId, IReadOnlyList<SiloEntry> live, string ownerSiloId) =>
        Rendezvous.Pick(componentId, live, except: ownerSiloId);
}
