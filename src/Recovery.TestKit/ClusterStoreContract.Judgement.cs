using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;

namespace Middleware.Recovery.TestKit;

/// <summary>
/// Rule 2 of <see cref="IClusterStore"/>: a silo is declared dead only when it missed its window while another silo kept
/// reaching the store. A span in which nobody could heartbeat (the store was down, or a process frozen inside a write
/// transaction held a shared SQLite file's lock) is made here by letting time pass with no heartbeat at all.
/// </summary>
public abstract partial class ClusterStoreContract<TStores>
{
    [StoreFact]
    public async Task A_window_in_which_no_silo_could_heartbeat_condemns_nobody_until_a_silo_has_been_back_a_whole_window()
    {
        await Cluster.JoinAsync("silo-a", "host-a:7000", null, ShortWindow);
        await Cluster.JoinAsync("silo-b", "host-b:7000", null, ShortWindow);
        await PastShortWindowAsync(); // nobody reached the store

        // silo-a is back first and lists: silo-b is past its window, but so was everyone. A suspect, not dead.
        Assert.True(await Cluster.HeartbeatAsync("silo-a", 0));
        var b = await SiloAsync("silo-b");
        Assert.Equal((SiloStatus.Active, false), (b.Status, b.IsLive));

        // A quarter of a window later silo-a's contact does not cover silo-b's window yet.
        await HeartbeatThroughAsync(ShortWindow / 4, "silo-a");
        Assert.Equal(SiloStatus.Active, (await SiloAsync("silo-b")).Status);

        // Once silo-a has reached the store through a whole window of silo-b's silence, silo-b failed while the store worked.
        await HeartbeatUntilDeadAsync("silo-b", "silo-a");
        Assert.False(await Cluster.HeartbeatAsync("silo-b", 0));
    }

    [StoreFact]
    public async Task A_claim_after_a_window_in_which_no_silo_could_heartbeat_leaves_the_owner_its_component()
    {
        await Cluster.JoinAsync("silo-a", "host-a:7000", null, ShortWindow);
        await Cluster.JoinAsync("silo-b", "host-b:7000", null, ShortWindow);
        var epoch = (await ClaimForSiloAsync("Account/1", 0, "silo-b")).Claimed!.Epoch;
        await PastShortWindowAsync(); // nobody reached the store

        // silo-a is back first and claims: the owner is past its window, but nobody can vouch against it.
        Assert.True(await Cluster.HeartbeatAsync("silo-a", 0));
        Assert.Equal(new ClaimResult(null, "silo-b", "host-b:7000"), await ClaimForSiloAsync("Account/1", epoch, "silo-a"));
        Assert.Equal(new ComponentHead("Account/1", epoch, "silo-b", 0, 0), await Store.GetHeadAsync("Account/1"));

        // silo-b was only held up like everyone: it heartbeats, is live again, and its appends go through.
        Assert.True(await Cluster.HeartbeatAsync("silo-b", 1));
        Assert.True((await SiloAsync("silo-b")).IsLive);
        Assert.Equal(AppendStatus.Ok, await AppendAsync("Account/1", epoch, 1));

        // Then silo-b goes silent while silo-a keeps reaching the store: after silo-b's window, silo-a takes over.
        Assert.Equal(new ComponentHead("Account/1", epoch + 1, "silo-a", 1, 0), await HeartbeatUntilClaimedAsync("Account/1", epoch, "silo-a"));
        Assert.False(await Cluster.HeartbeatAsync("silo-b", 1));
    }

    [StoreFact]
    public async Task A_heartbeat_more_than_half_a_window_late_starts_the_silos_contact_over()
    {
        await Cluster.JoinAsync("silo-a", "host-a:7000", null, ShortWindow);
        await Cluster.JoinAsync("silo-b", "host-b:7000", null, ShortWindow);

        // silo-a goes 0.7 of its window without a heartbeat: not dead, but the store (or silo-a) may have been away.
        await PassAsync(ShortWindow * 7 / 10);
        Assert.True(await Cluster.HeartbeatAsync("silo-a", 0));
        await HeartbeatThroughAsync(ShortWindow * 4 / 10, "silo-a");
        var b = await SiloAsync("silo-b"); // past its window now, but silo-a's contact restarted 0.4 windows ago
        Assert.Equal((SiloStatus.Active, false), (b.Status, b.IsLive));

        await HeartbeatUntilDeadAsync("silo-b", "silo-a");
    }

    [StoreFact]
    public async Task A_silo_with_a_long_window_loses_its_contact_by_a_gap_that_the_smallest_window_cannot_survive()
    {
        await Cluster.JoinAsync("silo-a", "host-a:7000", null, LongWindow);
        await Cluster.JoinAsync("silo-b", "host-b:7000", null, ShortWindow);
        await PastShortWindowAsync(); // nobody reached the store; silo-a's own window would allow it, silo-b's does not

        // The gap is small for silo-a's window but longer than half of silo-b's: a store away that long could have
        // silenced silo-b, so silo-a's contact starts over and it cannot vouch against silo-b yet.
        Assert.True(await Cluster.HeartbeatAsync("silo-a", 0));
        var b = await SiloAsync("silo-b");
        Assert.Equal((SiloStatus.Active, false), (b.Status, b.IsLive));

        // Heartbeating often enough for silo-b's window, through a whole one of them, it can.
        await HeartbeatUntilDeadAsync("silo-b", "silo-a");
    }
}
