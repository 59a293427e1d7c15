using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;

namespace Middleware.Recovery.TestKit;

/// <summary>
/// The contract of <see cref="IClusterStore"/>, written once: membership here, ownership by silo (claims that respect
/// live silos, hand-overs, leaving) in ClusterStoreContract.Ownership.cs, who may be declared dead in .Judgement.cs, and
/// virtual sessions in .Sessions.cs. Run it with
/// <code>public sealed class MyClusterStoreContractTests : ClusterStoreContract&lt;MyStores&gt;;</code>
/// When the factory says <see cref="StoreFactory.IsSharedAcrossProcesses"/>, the rules are also checked across two
/// instances on one database. Time passes through <see cref="StoreFactory.PassAsync"/>: a store on a clock the tests
/// move takes no time, a database server's store really waits (a few seconds per test).
/// </summary>
/// <typeparam name="TStores">The factory of the store under test.</typeparam>
public abstract partial class ClusterStoreContract<TStores> : StoreContract<TStores>
    where TStores : StoreFactory, new()
{
    /// <summary>A window no test outlives.</summary>
    protected static readonly TimeSpan LongWindow = TimeSpan.FromMinutes(10);

    /// <summary>The window of silos that a test lets expire (<see cref="StoreFactory.ShortWindow"/>).</summary>
    protected TimeSpan ShortWindow => Stores.ShortWindow;

    /// <summary>The store clock's now, as the test expects it (<see cref="StoreFactory.Now"/>).</summary>
    protected DateTimeOffset ExpectedNow => Stores.Now;

    /// <summary>Lets <paramref name="time"/> pass on the store's clock (<see cref="StoreFactory.PassAsync"/>).</summary>
    protected Task PassAsync(TimeSpan time) => Stores.PassAsync(time);

    private Task PastShortWindowAsync() => PassAsync(ShortWindow + TimeSpan.FromMilliseconds(150));

    /// <summary>
    /// Lets <paramref name="time"/> pass while <paramref name="siloIds"/> heartbeat every tenth of the short window, as
    /// running silos do (every quarter of their window), so they stay in contact and may vouch against a silent one.
    /// </summary>
    private async Task HeartbeatThroughAsync(TimeSpan time, params string[] siloIds)
    {
        var step = ShortWindow / 10;
        for (var passed = TimeSpan.Zero; passed < time; passed += step)
        {
            await PassAsync(step);
            foreach (var silo in siloIds) Assert.True(await Cluster.HeartbeatAsync(silo, 0), $"{silo} was declared dead while it heartbeat");
        }
    }

    /// <summary>
    /// Heartbeats <paramref name="siloIds"/> as <see cref="HeartbeatThroughAsync"/> does until <paramref name="verdict"/>
    /// holds (tried before each round), for at most twenty short windows. On a loaded machine one late heartbeat starts a
    /// silo's contact over, so a verdict can take longer than a window of real time; it must come once contact holds.
    /// </summary>
    private async Task HeartbeatUntilAsync(Func<Task<bool>> verdict, string what, params string[] siloIds)
    {
        var step = ShortWindow / 10;
        for (var round = 0; !await verdict(); round++)
        {
            Assert.True(round < 200, $"No verdict: {what}, after {round} rounds of heartbeats from {string.Join(", ", siloIds)}.");
            await PassAsync(step);
            foreach (var silo in siloIds) Assert.True(await Cluster.HeartbeatAsync(silo, 0), $"{silo} was declared dead while it heartbeat");
        }
    }

    /// <summary>Heartbeats <paramref name="siloIds"/> until <paramref name="suspect"/> is declared dead (see <see cref="HeartbeatUntilAsync"/>).</summary>
    private Task HeartbeatUntilDeadAsync(string suspect, params string[] siloIds) =>
        HeartbeatUntilAsync(async () => (await SiloAsync(suspect)).Status == SiloStatus.Dead, $"{suspect} declared dead", siloIds);

    /// <summary>Heartbeats <paramref name="siloId"/> until its claim of <paramref name="componentId"/> succeeds, and returns the new head.</summary>
    private async Task<ComponentHead> HeartbeatUntilClaimedAsync(string componentId, long expectedEpoch, string siloId)
    {
        ComponentHead? head = null;
        await HeartbeatUntilAsync(async () => (head = (await ClaimForSiloAsync(componentId, expectedEpoch, siloId)).Claimed) is not null,
            $"{siloId} claims {componentId}", siloId);
        return head!;
    }

    private Task<AppendStatus> AppendAsync(string id, long epoch, long seq) => AppendAsync(Group(id, epoch, seq, 1));

    private async Task<SiloEntry> SiloAsync(string siloId) => Assert.Single(await Cluster.ListSilosAsync(), s => s.SiloId == siloId);

    [StoreFact]
    public async Task A_joined_silo_is_listed_live_with_its_addresses_window_and_heartbeat_activations()
    {
        var joined = await Cluster.JoinAsync("silo-b", "host-b:7000", "http://host-b:8080", LongWindow);
        Assert.Equal(("silo-b", "host-b:7000", "http://host-b:8080", SiloStatus.Active, LongWindow, 0), (joined.SiloId, joined.Address, joined.HttpAddress, joined.Status, joined.DeadAfter, joined.Activations));
        Assert.True(joined.IsLive);
        Assert.InRange(joined.JoinedAt, ExpectedNow - TimeSpan.FromMinutes(1), ExpectedNow + TimeSpan.FromMinutes(1));
        await Cluster.JoinAsync("silo-a", "host-a:7000", null, LongWindow);

        Assert.True(await Cluster.HeartbeatAsync("silo-a", 3));
        Assert.True(await Cluster.HeartbeatAsync("silo-b", 5));
        Assert.False(await Cluster.HeartbeatAsync("silo-never-joined", 1));

        var silos = await Cluster.ListSilosAsync();
        Assert.Equal(["silo-a", "silo-b"], silos.Select(s => s.SiloId));
        Assert.All(silos, s =>
        {
            Assert.True(s.IsLive);
            Assert.Equal(SiloStatus.Active, s.Status);
            Assert.InRange(s.HeartbeatAge, TimeSpan.Zero, TimeSpan.FromSeconds(30));
            Assert.Equal(LongWindow, s.DeadAfter);
        });
        Assert.Equal((null, 3), (silos[0].HttpAddress, silos[0].Activations));
        Assert.Equal(("host-b:7000", "http://host-b:8080", 5), (silos[1].Address, silos[1].HttpAddress, silos[1].Activations));
        Assert.Equal(joined.JoinedAt, silos[1].JoinedAt);
    }

    [StoreFact]
    public async Task A_silo_whose_window_passed_is_listed_dead_its_heartbeat_fails_and_it_can_rejoin()
    {
        var first = await Cluster.JoinAsync("silo-a", "host-a:7000", null, ShortWindow);
        await Cluster.JoinAsync("silo-b", "host-b:7000", null, LongWindow);
        await HeartbeatUntilDeadAsync("silo-a", "silo-b"); // silo-b reached the store all along: silo-a's silence is its own

        var silos = await Cluster.ListSilosAsync();
        Assert.Equal(["silo-b", "silo-a"], silos.Select(s => s.SiloId)); // live ones first
        Assert.Equal((SiloStatus.Dead, false), (silos[1].Status, silos[1].IsLive));
        Assert.True(silos[1].HeartbeatAge >= ShortWindow, $"age {silos[1].HeartbeatAge} should be past the window {ShortWindow}");
        Assert.True(silos[0].IsLive);

        // Declared dead durably: a late heartbeat does not bring it back.
        Assert.False(await Cluster.HeartbeatAsync("silo-a", 2));
        Assert.Equal(SiloStatus.Dead, (await SiloAsync("silo-a")).Status);

        await PassAsync(TimeSpan.FromMilliseconds(20));
        var rejoined = await Cluster.JoinAsync("silo-a", "host-a:7001", null, LongWindow);
        Assert.True(rejoined.JoinedAt > first.JoinedAt);
        Assert.True(await Cluster.HeartbeatAsync("silo-a", 4));
        var listed = await SiloAsync("silo-a");
        Assert.Equal((SiloStatus.Active, true, "host-a:7001", 4, LongWindow), (listed.Status, listed.IsLive, listed.Address, listed.Activations, listed.DeadAfter));
    }

    [StoreFact]
    public async Task A_silo_that_left_is_listed_after_the_live_ones_and_its_heartbeat_fails()
    {
        await Cluster.JoinAsync("silo-a", "host-a:7000", null, LongWindow);
        await Cluster.JoinAsync("silo-b", "host-b:7000", null, LongWindow);
        await Cluster.LeaveAsync("silo-a");

        var silos = await Cluster.ListSilosAsync();
        Assert.Equal([("silo-b", SiloStatus.Active), ("silo-a", SiloStatus.Left)], silos.Select(s => (s.SiloId, s.Status)));
        Assert.False(silos[1].IsLive);
        Assert.False(await Cluster.HeartbeatAsync("silo-a", 0));
        await Cluster.LeaveAsync("silo-never-joined"); // nothing to do, no error
    }
}
