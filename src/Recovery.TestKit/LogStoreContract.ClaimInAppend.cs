using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;

namespace Middleware.Recovery.TestKit;

/// <summary>
/// The claim inside an append (<see cref="ILogStore.AppendClaimingAsync"/>), where a store supports it: the claim decided
/// first in the group's transaction, the group written only when it succeeds. A store that does not support it says so
/// (<see cref="ILogStore.SupportsClaimInAppend"/> false) and refuses the call without changing anything.
/// </summary>
public abstract partial class LogStoreContract<TStores>
{
    [StoreFact]
    public async Task A_claim_in_an_append_commits_with_its_group_and_a_refused_one_writes_nothing_of_it()
    {
        var old = await ClaimAsync("Account/1");
        await AppendAsync(Group("Account/1", old, 1, 2));
        var claiming = Group("Account/1", old + 1, 3, 2, Checkpoint(4, old + 1, new DedupEntry("req-4", 4, 7, Bytes("r4")))) with
        {
            Claim = new AppendClaim(new ClaimRequest("Account/1", old, "runtime-2", ClaimMode.EpochOnly), 2),
        };
        if (!Store.SupportsClaimInAppend)
        {
            await Assert.ThrowsAsync<NotSupportedException>(() => Store.AppendClaimingAsync([claiming]));
            Assert.Equal(new ComponentHead("Account/1", old, "runtime-1", 2, 0), await Store.GetHeadAsync("Account/1"));
            await Assert.ThrowsAsync<ArgumentException>(() => Store.AppendAsync([claiming]));
            return;
        }

        // A claim of a component that exists, and one of a new component with an empty group, in one call.
        var fresh = new AppendGroup("Account/new", 1, []) { Claim = new AppendClaim(new ClaimRequest("Account/new", 0, "runtime-2", ClaimMode.EpochOnly), 0) };
        var result = await Store.AppendClaimingAsync([claiming, fresh, Group("Account/other", 1, 1, 1)]);
        Assert.Equal([AppendStatus.Ok, AppendStatus.Ok, AppendStatus.Fenced], result.Statuses);
        Assert.Equal(new ComponentHead("Account/1", old + 1, "runtime-2", 2, 0), result.Claims[0]!.Claimed);
        Assert.Equal(new ComponentHead("Account/new", 1, "runtime-2", 0, 0), result.Claims[1]!.Claimed);
        Assert.Null(result.Claims[2]);
        Assert.Equal(new ComponentHead("Account/1", old + 1, "runtime-2", 4, 4), await Store.GetHeadAsync("Account/1"));
        Assert.Equal([old, old, old + 1, old + 1], (await Store.ReadAsync("Account/1", 1, long.MaxValue)).Select(r => r.Epoch));
        Assert.NotNull(await Store.FindRequestAsync("Account/1", "req-4"));
        Assert.Equal(new ComponentHead("Account/new", 1, "runtime-2", 0, 0), await Store.GetHeadAsync("Account/new"));

        // A claim from an epoch that moved on: a conflict, and nothing of its group (records, checkpoint, dedup) is written.
        var stale = Group("Account/1", old + 1, 5, 2, Checkpoint(6, old + 1, new DedupEntry("stale-req", 6, 1, Bytes("x"))), tag: "stale") with
        {
            Claim = new AppendClaim(new ClaimRequest("Account/1", old, "runtime-3", ClaimMode.EpochOnly), 4),
        };
        var refused = await Store.AppendClaimingAsync([stale]);
        Assert.Equal([AppendStatus.Fenced], refused.Statuses);
        Assert.True(refused.Claims[0]!.IsConflict);
        Assert.Equal(new ComponentHead("Account/1", old + 1, "runtime-2", 4, 4), await Store.GetHeadAsync("Account/1"));
        Assert.Equal(Range(1, 4), await SeqsAsync("Account/1"));
        Assert.Null(await Store.FindRequestAsync("Account/1", "stale-req"));

        // The right epoch but a last seq the log has moved past (it read an older head): a conflict too, the epoch unchanged.
        var behind = new AppendGroup("Account/1", old + 2, []) { Claim = new AppendClaim(new ClaimRequest("Account/1", old + 1, "runtime-3", ClaimMode.EpochOnly), 3) };
        var moved = await Store.AppendClaimingAsync([behind]);
        Assert.Equal([AppendStatus.Fenced], moved.Statuses);
        Assert.True(moved.Claims[0]!.IsConflict);
        Assert.Equal(new ComponentHead("Account/1", old + 1, "runtime-2", 4, 4), await Store.GetHeadAsync("Account/1"));

        // The claim fences the previous owner's later groups, and a claim that does not fit its group is refused up front.
        Assert.Equal(AppendStatus.Fenced, await AppendAsync(Group("Account/1", old, 5, 1)));
        await Assert.ThrowsAsync<ArgumentException>(() => Store.AppendClaimingAsync([behind with { Epoch = old + 1 }]));
        await Assert.ThrowsAsync<ArgumentException>(() => Store.AppendAsync([behind]));
    }

    [StoreFact]
    public async Task Two_claimers_appending_with_the_same_expected_epoch_have_one_winner_and_only_its_records_exist()
    {
        if (!Store.SupportsClaimInAppend) return; // refused by the test above
        for (var round = 0; round < 20; round++)
        {
            var id = $"Race/{round}";
            var (expected, lastSeq) = (0L, 0L);
            for (var generation = 0; generation < 3; generation++)
            {
                using var start = new Barrier(2);
                var (e, from) = (expected, lastSeq);
                var appends = Enumerable.Range(0, 2).Select(i => Task.Run(async () =>
                {
                    var group = Group(id, e + 1, from + 1, 2, tag: $"claimer-{i}") with
                    {
                        Claim = new AppendClaim(new ClaimRequest(id, e, $"claimer-{i}", ClaimMode.EpochOnly), from),
                    };
                    start.SignalAndWait();
                    return await Store.AppendClaimingAsync([group]);
                })).ToArray();
                var results = await Task.WhenAll(appends);

                var winner = Assert.Single(Enumerable.Range(0, 2), i => results[i].Statuses[0] == AppendStatus.Ok);
                var loser = 1 - winner;
                Assert.Equal(AppendStatus.Fenced, results[loser].Statuses[0]);
                Assert.Null(results[loser].Claims[0]!.Claimed);
                Assert.Equal(new ComponentHead(id, e + 1, $"claimer-{winner}", from + 2, 0), await Store.GetHeadAsync(id));
                var written = await Store.ReadAsync(id, from + 1, long.MaxValue);
                Assert.Equal([from + 1, from + 2], written.Select(r => r.Seq));
                Assert.All(written, r => Assert.EndsWith($"claimer-{winner}", Text(r.Payload)));
                (expected, lastSeq) = (e + 1, from + 2);
            }
        }
    }
}
