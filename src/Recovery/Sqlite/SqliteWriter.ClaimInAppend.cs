using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;

namespace Middleware.Recovery.Sqlite;

/// <summary>The claiming append (<see cref="ILogStore.AppendClaimingAsync"/>): an activation's claim and its first write in one transaction.</summary>
internal sealed partial class SqliteWriter
{
    /// <summary>
    /// As <see cref="Append"/> (claims waiting in <paramref name="claims"/> first), where a group may carry a claim: it is
    /// decided just before the group's records, as <see cref="Claim"/> would decide it there (and a conflict when the last
    /// seq moved past <see cref="AppendClaim.LastSeq"/>); a refused claim leaves its group unwritten (<see cref="AppendStatus.Fenced"/>).
    /// Groups run in order, so a claim fences every later group of an earlier epoch in the same transaction, and a group
    /// of an earlier epoch before it is written first. One fsync for all.
    /// </summary>
    public ClaimingAppendResult AppendClaiming(IReadOnlyList<AppendGroup> groups, long nowTicks, ClaimCombiner? claims)
    {
        lock (_gate)
        {
            var batch = claims?.Take();
            var handOvers = claims?.TakeHandOvers();
            bool[]? moved = null;
            var created = new List<(string Id, long Cid)>();
            ClaimResult[]? decided = null;
            var groupClaims = new ClaimResult?[groups.Count];
            AppendStatus[] result;
            try
            {
                result = InTransaction(() =>
                {
                    created.Clear();
                    Array.Clear(groupClaims);
                    if (batch is not null) decided = ClaimAllInTransaction(batch.ConvertAll(p => p.Request), nowTicks, created);
                    moved = HandOverAll(handOvers);
                    return AppendAllClaiming(groups, nowTicks, groupClaims, created);
                });
            }
            catch (Exception e)
            {
                if (batch is not null) ClaimQueue.Fail(batch, e);
                ClaimCombiner.Fail(handOvers, e);
                throw;
            }

            // Only now are the new rows committed; caching their cids earlier could keep a number a rollback freed.
            foreach (var (id, cid) in created) RememberCid(id, cid);
            if (batch is not null) ClaimQueue.Complete(batch, decided!);
            ClaimCombiner.Complete(handOvers, moved);
            return new ClaimingAppendResult(result, groupClaims);
        }
    }

    private AppendStatus[] AppendAllClaiming(IReadOnlyList<AppendGroup> groups, long nowTicks, ClaimResult?[] groupClaims, List<(string Id, long Cid)> created)
    {
        var result = new AppendStatus[groups.Count];
        var markedDead = false;
        for (var i = 0; i < groups.Count; i++)
        {
            var group = groups[i];
            // Refused with its dependency, before its claim is decided (the claim then stays undecided: nothing of it ran).
            if (group.DependsOn is not null && GroupDependencyRules.DependencyRefused(group, result))
            {
                result[i] = AppendStatus.Fenced;
                continue;
            }

            if (group.Claim is { } claim)
            {
                if (claim.Request.RespectsLiveSilo && !markedDead)
                {
                    Cluster.MarkDead.Bind(1, NowMs(Cluster)).Run();
                    markedDead = true;
                }

                // ClaimInTransaction collects into its list from the start (ClaimAllInTransaction clears it): keep what is there.
                var decided = ClaimInTransaction(claim.Request, nowTicks, created, claim.LastSeq);
                groupClaims[i] = decided;
                if (decided.Claimed is null)
                {
                    result[i] = AppendStatus.Fenced;
                    continue;
                }
            }

            result[i] = CidOf(group.ComponentId) is not { } cid ? AppendStatus.Fenced
                : group.Records.Count > 0 && AppendRules.IsSelfConsistent(group) ? AppendFenced(cid, group, nowTicks)
                : AppendChecked(cid, group, nowTicks);
        }

        return result;
    }
}
