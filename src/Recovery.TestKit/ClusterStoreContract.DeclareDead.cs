using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;

namespace Middleware.Recovery.TestKit;

// Rule 6 of IClusterStore: a live silo declares another dead on direct evidence, before its window passed.
public abstract partial class ClusterStoreContract<TStores>
{
    [StoreFact]
    public async Task A_silo_declared_dead_by_a_live_one_loses_its_components_at_once_and_its_appends_are_fenced()
    {
        var a = await Cluster.JoinAsync("silo-a", "host-a:7000", null, LongWindow);
        await Cluster.JoinAsync("silo-b", "host-b:7000", null, LongWindow);
        var old = (await ClaimForSiloAsync("Account/1", 0, "silo-a")).Claimed!.Epoch;
        Assert.Equal(AppendStatus.Ok, await AppendAsync("Account/1", old, 1));
        Assert.Equal(new ClaimResult(null, "silo-a", "host-a:7000"), await ClaimForSiloAsync("Account/1", old, "silo-b"));

        var listed = await SiloAsync("silo-a");
        Assert.True(await Cluster.DeclareDeadAsync("silo-a", listed.JoinedAt, "silo-b"));

        Assert.Equal(SiloStatus.Dead, (await SiloAsync("silo-a")).Status);
        Assert.False(await Cluster.HeartbeatAsync("silo-a", 1));
        // Its window is ten minutes, yet the component is taken now, and the dead incarnation's appends are fenced.
        var taken = (await ClaimForSiloAsync("Account/1", old, "silo-b")).Claimed;
        Assert.Equal(new ComponentHead("Account/1", old + 1, "silo-b", 1, 0), taken);
        Assert.Equal(AppendStatus.Fenced, await AppendAsync("Account/1", old, 2));
        Assert.Equal(a.JoinedAt, listed.JoinedAt, TimeSpan.FromMilliseconds(1));
    }

    [StoreFact]
    public async Task A_declaration_for_another_incarnation_by_a_silo_not_live_or_by_the_silo_itself_changes_nothing()
    {
        await Cluster.JoinAsync("silo-a", "host-a:7000", null, LongWindow);
        await Cluster.JoinAsync("silo-b", "host-b:7000", null, LongWindow);
        var first = (await SiloAsync("silo-a")).JoinedAt;

        // silo-a restarted (joined again) after silo-b saw its first incarnation die: the new one is not touched.
        await PassAsync(TimeSpan.FromMilliseconds(20));
        await Cluster.JoinAsync("silo-a", "host-a:7001", null, LongWindow);
        var second = (await SiloAsync("silo-a")).JoinedAt;
        Assert.NotEqual(first, second);
        Assert.False(await Cluster.DeclareDeadAsync("silo-a", first, "silo-b"));

        // A declarer that is no live silo (it left, or never joined) is not believed.
        Assert.False(await Cluster.DeclareDeadAsync("silo-a", second, "silo-x"));
        await Cluster.LeaveAsync("silo-b");
        Assert.False(await Cluster.DeclareDeadAsync("silo-a", second, "silo-b"));

        // A silo does not declare itself dead: it leaves.
        Assert.False(await Cluster.DeclareDeadAsync("silo-a", second, "silo-a"));

        var a = await SiloAsync("silo-a");
        Assert.Equal(SiloStatus.Active, a.Status);
        Assert.True(await Cluster.HeartbeatAsync("silo-a", 0));
    }
}
