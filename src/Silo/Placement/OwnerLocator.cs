using Middleware.Grains;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;

namespace Middleware.Silo;

/// <summary>
/// Decides which silo serves a component, in this order: a live local activation (here); the directory cache; the
/// store's head when it names an owner that is a live silo; otherwise rendezvous hashing over the live silos, so every
/// gateway places an unowned component on the same silo, which claims it (the store arbitrates any race).
/// </summary>
internal sealed class OwnerLocator(DirectoryCache directory)
{
    /// <summary>Null when this silo should serve <paramref name="target"/>; otherwise the address of the silo that should.</summary>
    public async Task<string?> LocateAsync(LocalRuntime runtime, ILogStore store, ClusterMembership? membership, ComponentId target, string idText, CancellationToken cancellationToken)
    {
        if (runtime.IsActive(target)) return null;
        var self = membership?.Address;
        if (membership is null) return directory.TryGet(idText, out var early) && early != self ? early : null; // not joined yet: claims still arbitrate
        // The only live silo: both the head's owner (looked up among live silos) and rendezvous name this one, so the head
        // read (and a directory entry per component) would tell nothing; the activation's claim still arbitrates.
        if (ServesEverything(membership)) return null;
        if (directory.TryGet(idText, out var cached))
        {
            if (cached == self) return null;
            // A cached owner the view no longer holds live (declared dead, or left) is stale: placing anew beats waiting
            // out a connect timeout to a process that is frozen or gone.
            if (IsLive(membership, cached)) return cached;
            directory.Forget(idText);
        }

        string address;
        var head = await store.GetHeadAsync(idText, cancellationToken).ConfigureAwait(false);
        if (head?.Owner is { } ownerId && membership.Find(ownerId) is { } owner)
        {
            address = owner.Address;
        }
        else
        {
            address = Rendezvous.Pick(idText, membership.Live)?.Address ?? membership.Address;
        }

        directory.Set(idText, address);
        return address == self ? null : address;
    }

    /// <summary>
    /// True when this silo is the only live silo of the cluster (joined): <see cref="LocateAsync"/> then answers "here" for
    /// every component without reading anything, whatever the directory or the store's head say.
    /// </summary>
    public static bool ServesEverything(ClusterMembership? membership) =>
        membership is { Live: [var only] } && string.Equals(only.Address, membership.Address, StringComparison.OrdinalIgnoreCase);

    private static bool IsLive(ClusterMembership membership, string address)
    {
        foreach (var silo in membership.Live)
        {
            if (string.Equals(silo.Address, address, StringComparison.OrdinalIgnoreCase)) return true;
        }

        return false;
    }
}
