using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;

namespace Middleware.Recovery.TestKit;

/// <summary>
/// Ownership by silo: claims in <see cref="ClaimMode.RespectLiveSilo"/> (rule 5 of <see cref="ILogStore"/>, rule 3 of
/// <see cref="IClusterStore"/>), hand-overs, leaving, and a second instance on the same database.
/// </summary>
public abstract partial class ClusterStoreContract<TStores>
{
    [StoreFact]
    public async Task A_claim_is_refused_naming_the_live_owner_and_allowed_once_its_window_passed()
    {
        await Cluster.JoinAsync("silo-a", "host-a:7000", null, ShortWindow);
        await Cluster.JoinAsync("silo-b", "host-b:7000", null, LongWindow);
        var claimed = await ClaimForSiloAsync("Account/1", 0, "silo-a");
        Assert.Equal(new ComponentHead("Account/1", 1, "silo-a", 0, 0), claimed.Claimed);
        Assert.Equal(AppendStatus.Ok, await AppendAsync("Account/1", 1, 1));

        Assert.True(await Cluster.HeartbeatAsync("silo-a", 1));
        var refused = await ClaimForSiloAsync("Account/1", 1, "silo-b");
        Assert.Equal(new ClaimResult(null, "silo-a", "host-a:7000"), refused);
        Assert.False(refused.IsConflict);
        // The live owner is reported even to a claimer whose epoch is stale: it is where requests must go.
        Assert.Equal(new ClaimResult(null, "silo-a", "host-a:7000"), await ClaimForSiloAsync("Account/1", 7, "silo-b"));
        Assert.Equal(new ComponentHead("Account/1", 1, "silo-a", 1, 0), await Store.GetHeadAsync("Account/1"));

        var taken = await HeartbeatUntilClaimedAsync("Account/1", 1, "silo-b"); // once silo-a's window passed with silo-b in contact
        Assert.Equal(new ComponentHead("Account/1", 2, "silo-b", 1, 0), taken);

        // The claim marked the expired owner dead in the same transaction, before anyone listed the silos.
        Assert.False(await Cluster.HeartbeatAsync("silo-a", 1));
        Assert.Equal(SiloStatus.Dead, (await SiloAsync("silo-a")).Status);
    }

    [StoreFact]
    public async Task A_claim_is_allowed_when_the_owner_left_and_left_ownership_keeps_the_epoch()
    {
        await Cluster.JoinAsync("silo-a", "host-a:7000", null, LongWindow);
        await Cluster.JoinAsync("silo-b", "host-b:7000", null, LongWindow);
        Assert.NotNull((await ClaimForSiloAsync("Account/1", 0, "silo-a")).Claimed);
        await Cluster.LeaveAsync("silo-a");
        Assert.Equal(new ComponentHead("Account/1", 1, null, 0, 0), await Store.GetHeadAsync("Account/1"));

        var taken = await ClaimForSiloAsync("Account/1", 1, "silo-b");
        Assert.Equal(new ComponentHead("Account/1", 2, "silo-b", 0, 0), taken.Claimed);
    }

    [StoreFact]
    public async Task The_owner_itself_may_claim_again_and_an_owner_that_is_no_silo_counts_as_not_live()
    {
        await Cluster.JoinAsync("silo-a", "host-a:7000", null, LongWindow);
        Assert.Equal(1, (await ClaimForSiloAsync("Account/1", 0, "silo-a")).Claimed?.Epoch);
        Assert.Equal(new ComponentHead("Account/1", 2, "silo-a", 0, 0), (await ClaimForSiloAsync("Account/1", 1, "silo-a")).Claimed);

        // A component claimed outside the cluster (a local runtime, the admin tool) has an owner name that is no silo.
        Assert.NotNull(await TryClaimAsync("Account/2", 0, "admin"));
        Assert.Equal(new ComponentHead("Account/2", 2, "silo-a", 0, 0), (await ClaimForSiloAsync("Account/2", 1, "silo-a")).Claimed);
    }

    [StoreFact]
    public async Task A_claim_with_the_wrong_epoch_is_a_conflict_and_changes_nothing()
    {
        await Cluster.JoinAsync("silo-b", "host-b:7000", null, LongWindow);
        Assert.NotNull(await TryClaimAsync("Account/1", 0, "admin"));

        foreach (var wrong in new long[] { 0, 2, 9 })
        {
            var result = await ClaimForSiloAsync("Account/1", wrong, "silo-b");
            Assert.True(result.IsConflict, $"expected epoch {wrong}");
            Assert.Equal(new ClaimResult(null), result);
        }

        Assert.True((await ClaimForSiloAsync("Account/never", 3, "silo-b")).IsConflict);
        Assert.Null(await Store.GetHeadAsync("Account/never"));
        Assert.Equal(new ComponentHead("Account/1", 1, "admin", 0, 0), await Store.GetHeadAsync("Account/1"));
    }

    [StoreFact]
    public async Task Concurrent_claimers_have_exactly_one_winner_and_the_loser_learns_of_it()
    {
        var other = await OtherAsync();
        await Cluster.JoinAsync("silo-a", "host-a:7000", null, LongWindow);
        await Cluster.JoinAsync("silo-b", "host-b:7000", null, LongWindow);
        for (var round = 0; round < 8; round++)
        {
            var id = $"Race/{round}";
            // Round one of each pair races on a new component, the other on one held by a name that is no silo.
            var expected = 0L;
            if (round % 2 == 1) expected = (await TryClaimAsync(id, 0, "admin"))!.Epoch;

            using var start = new Barrier(2);
            var racers = new[] { (Store: Cluster, Silo: "silo-a"), (Store: other, Silo: "silo-b") };
            var results = await Task.WhenAll(racers.Select(r => Task.Run(() =>
            {
                start.SignalAndWait();
                return ClaimForSiloAsync(id, expected, r.Silo, r.Store);
            })));

            var winners = results.Select((r, i) => (r, racers[i].Silo)).Where(x => x.r.Claimed is not null).ToList();
            var winner = Assert.Single(winners);
            Assert.Equal(new ComponentHead(id, expected + 1, winner.Silo, 0, 0), winner.r.Claimed);
            var loser = Assert.Single(results, r => r.Claimed is null);
            Assert.True(loser.IsConflict || loser.LiveOwner == winner.Silo, $"the loser got {loser}");
            Assert.Equal(winner.r.Claimed, await Store.GetHeadAsync(id));
        }
    }

    [StoreFact]
    public async Task A_claim_for_a_silo_fences_appends_of_the_previous_epoch()
    {
        await Cluster.JoinAsync("silo-a", "host-a:7000", null, LongWindow);
        await Cluster.JoinAsync("silo-b", "host-b:7000", null, LongWindow);
        var old = (await ClaimForSiloAsync("Account/1", 0, "silo-a")).Claimed!.Epoch;
        Assert.Equal(AppendStatus.Ok, await AppendAsync("Account/1", old, 1));
        await Cluster.LeaveAsync("silo-a");

        var current = (await ClaimForSiloAsync("Account/1", old, "silo-b")).Claimed;
        Assert.Equal(new ComponentHead("Account/1", old + 1, "silo-b", 1, 0), current);
        Assert.Equal(AppendStatus.Fenced, await AppendAsync("Account/1", old, 2));
        Assert.Equal(AppendStatus.Ok, await AppendAsync("Account/1", current!.Epoch, 2));
        Assert.Equal([old, old + 1], (await Store.ReadAsync("Account/1", 1, long.MaxValue)).Select(r => r.Epoch));
    }

    [StoreFact]
    public async Task A_hand_over_needs_the_stored_epoch_and_owner_and_keeps_the_epoch()
    {
        await Cluster.JoinAsync("silo-a", "host-a:7000", null, LongWindow);
        await Cluster.JoinAsync("silo-b", "host-b:7000", null, LongWindow);
        var epoch = (await ClaimForSiloAsync("Account/1", 0, "silo-a")).Claimed!.Epoch;

        Assert.False(await Cluster.HandOverAsync("Account/1", epoch, "silo-b", "silo-b")); // not the owner
        Assert.False(await Cluster.HandOverAsync("Account/1", epoch + 1, "silo-a", "silo-b")); // not the epoch
        Assert.False(await Cluster.HandOverAsync("Account/never", 1, "silo-a", "silo-b"));
        Assert.Null(await Store.GetHeadAsync("Account/never"));
        Assert.Equal("silo-a", (await Store.GetHeadAsync("Account/1"))!.Owner);

        Assert.True(await Cluster.HandOverAsync("Account/1", epoch, "silo-a", "silo-b"));
        Assert.Equal(new ComponentHead("Account/1", epoch, "silo-b", 0, 0), await Store.GetHeadAsync("Account/1"));
        Assert.False(await Cluster.HandOverAsync("Account/1", epoch, "silo-a", "silo-b")); // already handed over

        // The new owner's claim raises the epoch (it owns the component) and fences the old one.
        var claimed = (await ClaimForSiloAsync("Account/1", epoch, "silo-b")).Claimed;
        Assert.Equal(new ComponentHead("Account/1", epoch + 1, "silo-b", 0, 0), claimed);
        Assert.Equal(AppendStatus.Fenced, await AppendAsync("Account/1", epoch, 1));

        Assert.True(await Cluster.HandOverAsync("Account/1", epoch + 1, "silo-b", null));
        Assert.Equal(new ComponentHead("Account/1", epoch + 1, null, 0, 0), await Store.GetHeadAsync("Account/1"));
    }

    [StoreFact]
    public async Task Leaving_releases_every_component_of_the_silo_and_only_those()
    {
        await Cluster.JoinAsync("silo-a", "host-a:7000", null, LongWindow);
        await Cluster.JoinAsync("silo-b", "host-b:7000", null, LongWindow);
        Assert.NotNull((await ClaimForSiloAsync("Account/1", 0, "silo-a")).Claimed);
        Assert.NotNull((await ClaimForSiloAsync("Account/2", 0, "silo-a")).Claimed);
        Assert.NotNull((await ClaimForSiloAsync("Account/2", 1, "silo-a")).Claimed);
        Assert.NotNull((await ClaimForSiloAsync("Account/3", 0, "silo-b")).Claimed);

        await Cluster.LeaveAsync("silo-a");

        Assert.Equal(
            [new ComponentHead("Account/1", 1, null, 0, 0), new ComponentHead("Account/2", 2, null, 0, 0), new ComponentHead("Account/3", 1, "silo-b", 0, 0)],
            await Store.ListComponentsAsync());
        Assert.Equal(SiloStatus.Left, (await SiloAsync("silo-a")).Status);

        // It may come back and claim again like any silo.
        await Cluster.JoinAsync("silo-a", "host-a:7000", null, LongWindow);
        Assert.True(await Cluster.HeartbeatAsync("silo-a", 0));
        Assert.Equal(2, (await ClaimForSiloAsync("Account/1", 1, "silo-a")).Claimed?.Epoch);
    }

    [StoreFact]
    public async Task A_second_instance_on_the_same_database_sees_membership_claims_and_sessions()
    {
        if (await OpenSecondInstanceAsync() is not IClusterStore other) return; // needs IsSharedAcrossProcesses

        await Cluster.JoinAsync("silo-a", "host-a:7000", null, LongWindow);
        await other.JoinAsync("silo-b", "host-b:7000", null, LongWindow);
        Assert.Equal(["silo-a", "silo-b"], (await other.ListSilosAsync()).Select(s => s.SiloId));
        Assert.Equal(["silo-a", "silo-b"], (await Cluster.ListSilosAsync()).Select(s => s.SiloId));

        var epoch = (await ClaimForSiloAsync("Account/1", 0, "silo-a")).Claimed!.Epoch;
        Assert.Equal(new ClaimResult(null, "silo-a", "host-a:7000"), await ClaimForSiloAsync("Account/1", epoch, "silo-b", other));

        await Cluster.LeaveAsync("silo-a");
        Assert.Equal(SiloStatus.Left, Assert.Single(await other.ListSilosAsync(), s => s.SiloId == "silo-a").Status);
        var taken = (await ClaimForSiloAsync("Account/1", epoch, "silo-b", other)).Claimed;
        Assert.Equal(new ComponentHead("Account/1", epoch + 1, "silo-b", 0, 0), taken);
        Assert.Equal(taken, await Store.GetHeadAsync("Account/1"));
        Assert.Equal(AppendStatus.Fenced, await AppendAsync("Account/1", epoch, 1));

        var mine = await Cluster.OpenSessionAsync("shared", 5);
        var theirs = await other.OpenSessionAsync("shared", 5);
        Assert.Equal((1L, 5L, 6L, 10L), (mine.First, mine.Last, theirs.First, theirs.Last));
        await other.SetSessionItemAsync("shared", "user", "ann");
        Assert.Equal("ann", (await Cluster.GetSessionAsync("shared"))!.Items["user"]);
    }

    [StoreFact]
    public async Task An_epoch_only_claim_takes_a_component_from_a_live_silo_and_judges_no_silo()
    {
        await Cluster.JoinAsync("silo-a", "host-a:7000", null, ShortWindow);
        await Cluster.JoinAsync("silo-b", "host-b:7000", null, LongWindow);
        var epoch = (await ClaimForSiloAsync("Account/1", 0, "silo-a")).Claimed!.Epoch;

        // A lone runtime or a tool claiming epoch-only is fenced by the epoch alone: the live owner does not stop it,
        // and the owner's next append is fenced.
        Assert.Equal(new ComponentHead("Account/1", epoch + 1, "admin", 0, 0), await TryClaimAsync("Account/1", epoch, "admin"));
        Assert.Equal(AppendStatus.Fenced, await AppendAsync("Account/1", epoch, 1));

        // It reads no membership either: silo-a, silent past its window while silo-b kept heartbeating, is not marked dead.
        await HeartbeatThroughAsync(ShortWindow + TimeSpan.FromMilliseconds(150), "silo-b");
        Assert.NotNull(await TryClaimAsync("Account/1", epoch + 1, "admin"));
        Assert.True(await Cluster.HeartbeatAsync("silo-a", 0), "an epoch-only claim marked a silo dead");
    }
}
