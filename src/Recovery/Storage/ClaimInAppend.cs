using Middleware.Recovery.Log;

namespace Middleware.Recovery.Storage;

/// <summary>
/// The claim an activation's first write carries (<see cref="AppendGroup.Claim"/>): <see cref="Request"/> decided as
/// <see cref="ILogStore.ClaimAsync"/> decides it (rule 5), and also refused, as a conflict, unless the component's last seq is
/// still <see cref="LastSeq"/> (the head the activation read and replayed), all in the transaction that writes the group.
/// The group's epoch must be <c>Request.ExpectedEpoch + 1</c> and its first record (if any) seq <c>LastSeq + 1</c>.
/// </summary>
/// <param name="Request">The claim.</param>
/// <param name="LastSeq">The last seq the claimer read; the claim is a conflict when the head moved past it.</param>
public sealed record AppendClaim(ClaimRequest Request, long LastSeq);

/// <summary>The answer to <see cref="ILogStore.AppendClaimingAsync"/>: one status and one claim answer per group, in order.</summary>
/// <param name="Statuses">As <see cref="ILogStore.AppendAsync"/>; <see cref="AppendStatus.Fenced"/> for a group whose claim was refused.</param>
/// <param name="Claims">The decision of each group's claim (<see cref="ClaimResult"/>), null for a group without one.</param>
public sealed record ClaimingAppendResult(IReadOnlyList<AppendStatus> Statuses, IReadOnlyList<ClaimResult?> Claims);

/// <summary>The argument rules of <see cref="ILogStore.AppendClaimingAsync"/>, the same for every store.</summary>
public static class ClaimInAppendRules
{
    /// <summary>Refuses a claim that does not fit its group (<see cref="AppendClaim"/>), naming the fix.</summary>
    public static void Check(IReadOnlyList<AppendGroup> groups)
    {
        ArgumentNullException.ThrowIfNull(groups);
        foreach (var group in groups)
        {
            if (group?.Claim is not { } claim) continue;
            ArgumentNullException.ThrowIfNull(claim.Request, nameof(groups));
            ClusterRules.CheckClaim(claim.Request);
            if (!string.Equals(claim.Request.ComponentId, group.ComponentId, StringComparison.Ordinal))
                throw new ArgumentException($"The claim of a group of {group.ComponentId} names {claim.Request.ComponentId}; a group may only claim its own component.", nameof(groups));
            if (group.Epoch != claim.Request.ExpectedEpoch + 1)
                throw new ArgumentException($"The group of {group.ComponentId} claims from epoch {claim.Request.ExpectedEpoch} but is stamped {group.Epoch}; stamp it with the claimed epoch {claim.Request.ExpectedEpoch + 1}.", nameof(groups));
            if (group.Records is { Count: > 0 } records && records[0].Seq != claim.LastSeq + 1)
                throw new ArgumentException($"The group of {group.ComponentId} claims at last seq {claim.LastSeq} but starts at seq {records[0].Seq}; it must start at {claim.LastSeq + 1}.", nameof(groups));
        }
    }

    /// <summary>Refuses a claiming group given to <see cref="ILogStore.AppendAsync"/>.</summary>
    public static void RefuseClaims(IReadOnlyList<AppendGroup>? groups)
    {
        if (groups is null) return;
        for (var i = 0; i < groups.Count; i++)
        {
            if (groups[i]?.Claim is not null)
                throw new ArgumentException($"The group of {groups[i].ComponentId} carries a claim: append it with AppendClaimingAsync (where the store supports it), or claim first with ClaimAsync.", nameof(groups));
        }
    }
}

/// <summary>The argument rules of <see cref="AppendGroup.DependsOn"/>, the same for every store.</summary>
public static class GroupDependencyRules
{
    /// <summary>
    /// Refuses dependencies a store cannot honour (<paramref name="supported"/> false), and any that does not name an earlier
    /// group of the same call, naming the fix.
    /// </summary>
    public static void Check(IReadOnlyList<AppendGroup>? groups, bool supported, string store)
    {
        if (groups is null) return;
        for (var i = 0; i < groups.Count; i++)
        {
            if (groups[i]?.DependsOn is not { } deps) continue;
            if (!supported)
                throw new ArgumentException($"The group of {groups[i].ComponentId} depends on other groups, but the store {store} cannot order dependent groups (SupportsGroupDependencies is false): wait for the dependency to be durable and append without it.", nameof(groups));
            foreach (var d in deps)
            {
                if (d < 0 || d >= i)
                    throw new ArgumentException($"Group {i} ({groups[i].ComponentId}) depends on group {d}; a group may only depend on an earlier group of the same append.", nameof(groups));
            }
        }
    }

    /// <summary>True when a dependency of <paramref name="group"/> was not written (<paramref name="statuses"/> of the earlier groups).</summary>
    public static bool DependencyRefused(AppendGroup group, IReadOnlyList<AppendStatus> statuses)
    {
        if (group.DependsOn is not { } deps) return false;
        foreach (var d in deps)
        {
            if (statuses[d] != AppendStatus.Ok) return true;
        }

        return false;
    }
}
