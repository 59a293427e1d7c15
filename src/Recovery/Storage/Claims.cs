using Middleware.Recovery.Log;

namespace Middleware.Recovery.Storage;

/// <summary>
/// Whether a claim respects the cluster's membership. There is one claim operation (<see cref="ILogStore.ClaimAsync"/>)
/// and one rule (rule 5 of <see cref="ILogStore"/>); the mode is the only thing callers choose. Stored nowhere; 0 is no
/// mode, so a request built without one is refused instead of quietly taking the weaker check.
/// </summary>
public enum ClaimMode
{
    /// <summary>
    /// The stored epoch is the only condition: the claim takes the component from whoever owns it. For a runtime on a
    /// store of its own (<c>StoreOwnership</c>), benchmarks and tests. Membership is neither read nor changed.
    /// </summary>
    EpochOnly = 1,

    /// <summary>
    /// The stored epoch, and the owner must not be an active silo other than the claimer (rule 2 of
    /// <see cref="IClusterStore"/> applied first, in the same transaction). For silos (<c>ClusterOwnership</c>) and
    /// every tool that must never fence a silo that is serving the component (the admin tool's checkpoint, a move).
    /// </summary>
    RespectLiveSilo = 2,
}

/// <summary>
/// A request to own <paramref name="ComponentId"/>: raise its epoch from <paramref name="ExpectedEpoch"/> (0 for a
/// component never claimed) by one and record <paramref name="Owner"/>, under the condition <paramref name="Mode"/> names.
/// </summary>
/// <remarks>
/// Why one operation with a mode rather than two methods: both claims are the same conditional epoch bump, and every
/// store implements them with the same statements (the membership check is a prefix of the transaction). Two methods
/// had two rule texts, two sets of contract tests and two result shapes that callers converted between; with one, a
/// store cannot implement one claim and forget the other's fence, and a decorator (such as
/// <see cref="FaultInjectingStore"/>) passes both through. The mode is an explicit value, not a default, so no caller
/// takes a component from a live silo by omission.
/// </remarks>
/// <param name="ComponentId">The component's id, <c>Type/key</c>; non-empty.</param>
/// <param name="ExpectedEpoch">The epoch the caller last read, 0 for a component it believes was never claimed.</param>
/// <param name="Owner">Who owns it afterwards: a silo id, or a runtime's or tool's owner id; non-blank.</param>
/// <param name="Mode">Whether a live silo that owns the component refuses the claim.</param>
public sealed record ClaimRequest(string ComponentId, long ExpectedEpoch, string Owner, ClaimMode Mode)
{
    /// <summary>True when the claim is refused by an owner that is an active silo other than <see cref="Owner"/>.</summary>
    public bool RespectsLiveSilo => Mode == ClaimMode.RespectLiveSilo;
}

/// <summary>The answer to <see cref="ILogStore.ClaimAsync"/>: exactly one of the three cases.</summary>
/// <param name="Claimed">The new head when the claim succeeded.</param>
/// <param name="LiveOwner">The live silo that owns the component, when that refused the claim (only in <see cref="ClaimMode.RespectLiveSilo"/>).</param>
/// <param name="LiveOwnerAddress">That silo's protocol address.</param>
public sealed record ClaimResult(ComponentHead? Claimed, string? LiveOwner = null, string? LiveOwnerAddress = null)
{
    /// <summary>Neither claimed nor owned by a live silo: the epoch moved under the caller; read the head and retry.</summary>
    public bool IsConflict => Claimed is null && LiveOwner is null;
}
