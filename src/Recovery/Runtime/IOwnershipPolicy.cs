using Middleware.Recovery.Storage;

namespace Middleware.Recovery.Runtime;

/// <summary>
/// How an activation claims its component: a conditional epoch bump that fences every earlier owner, allowed only when
/// this runtime may own the component. Named so a host can say which rule it runs by (<see cref="RuntimeEnvironment.Ownership"/>).
/// </summary>
public interface IOwnershipPolicy
{
    /// <summary>
    /// Claims <paramref name="componentId"/> from <paramref name="expectedEpoch"/> (0 for a component never claimed):
    /// the new head, or the live owner that refused it (the request belongs there), or a conflict (read the head again).
    /// </summary>
    Task<ClaimResult> ClaimAsync(string componentId, long expectedEpoch, CancellationToken cancellationToken);

    /// <summary>
    /// The claim <see cref="ClaimAsync"/> would make, for an activation that lets it ride in its first write (decided by the
    /// store in that write's transaction, <see cref="ILogStore.AppendClaimingAsync"/>), or null when this policy cannot
    /// (the activation then claims first). The default: null.
    /// </summary>
    ClaimRequest? ClaimInFirstWrite(string componentId, long expectedEpoch) => null;
}

/// <summary>
/// One process on a store of its own: it may always claim under its owner id (<see cref="ILogStore.ClaimAsync"/> in
/// <see cref="ClaimMode.EpochOnly"/>).
/// </summary>
public sealed class StoreOwnership(ILogStore store, string ownerId) : IOwnershipPolicy
{
    /// <inheritdoc />
    public Task<ClaimResult> ClaimAsync(string componentId, long expectedEpoch, CancellationToken cancellationToken) =>
        store.ClaimAsync(new ClaimRequest(componentId, expectedEpoch, ownerId, ClaimMode.EpochOnly), cancellationToken);

    /// <inheritdoc />
    public ClaimRequest? ClaimInFirstWrite(string componentId, long expectedEpoch) =>
        store.SupportsClaimInAppend ? new ClaimRequest(componentId, expectedEpoch, ownerId, ClaimMode.EpochOnly) : null;
}

/// <summary>
/// A silo of a cluster: claims in <see cref="ClaimMode.RespectLiveSilo"/> (<see cref="ILogStore.ClaimAsync"/>), which never
/// takes a component from another live silo (the activation then fails with <see cref="ComponentOwnedElsewhereException"/>
/// naming the owner, and the request is forwarded there).
/// </summary>
public sealed class ClusterOwnership(IClusterStore cluster, string siloId) : IOwnershipPolicy
{
    /// <inheritdoc />
    public Task<ClaimResult> ClaimAsync(string componentId, long expectedEpoch, CancellationToken cancellationToken) =>
        cluster.ClaimAsync(new ClaimRequest(componentId, expectedEpoch, siloId, ClaimMode.RespectLiveSilo), cancellationToken);

    /// <inheritdoc />
    public ClaimRequest? ClaimInFirstWrite(string componentId, long expectedEpoch) =>
        cluster.SupportsClaimInAppend ? new ClaimRequest(componentId, expectedEpoch, siloId, ClaimMode.RespectLiveSilo) : null;
}
