using Middleware.Recovery.Storage;
using Middleware.Tests.Support;

namespace Middleware.Tests.Storage;

/// <summary>
/// The in-memory reference store on a clock the tests move: nothing survives a reopen and there is no second instance,
/// so those capabilities stay off, and the cluster tests take no time.
/// </summary>
public sealed class MemoryStores : StoreFactory
{
    /// <summary>The store clock.</summary>
    public ManualTime Time { get; } = new(new DateTimeOffset(2030, 1, 2, 3, 4, 5, TimeSpan.Zero));

    public override DateTimeOffset Now => Time.GetUtcNow();

    public override Task<ILogStore> CreateStoreAsync() => Task.FromResult<ILogStore>(new MemoryLogStore(Time));

    public override Task PassAsync(TimeSpan time)
    {
        Time.Advance(time);
        return Task.CompletedTask;
    }
}

/// <summary>The storage contract against the memory store.</summary>
public sealed class MemoryLogStoreContractTests : LogStoreContract<MemoryStores>;

/// <summary>The cluster contract against the memory store, plus liveness to the tick, which only a manual clock can show.</summary>
public sealed class MemoryClusterStoreContractTests : ClusterStoreContract<MemoryStores>
{
    [Fact]
    public async Task Liveness_follows_the_store_clock_exactly_at_the_window()
    {
        await Cluster.JoinAsync("silo-a", "host-a:7000", null, TimeSpan.FromSeconds(10));
        await Cluster.JoinAsync("silo-b", "host-b:7000", null, TimeSpan.FromSeconds(10));
        for (var second = 1; second < 10; second++)
        {
            Stores.Time.Advance(TimeSpan.FromSeconds(1));
            Assert.True(await Cluster.HeartbeatAsync("silo-b", 0)); // silo-b stays in contact, so it can vouch
        }

        Stores.Time.Advance(TimeSpan.FromSeconds(1) - TimeSpan.FromTicks(1));
        var silo = Assert.Single(await Cluster.ListSilosAsync(), s => s.SiloId == "silo-a");
        Assert.Equal((SiloStatus.Active, true), (silo.Status, silo.IsLive));

        Stores.Time.Advance(TimeSpan.FromTicks(1));
        silo = Assert.Single(await Cluster.ListSilosAsync(), s => s.SiloId == "silo-a");
        Assert.Equal((SiloStatus.Dead, TimeSpan.FromSeconds(10)), (silo.Status, silo.HeartbeatAge));
    }

    [Fact]
    public async Task A_lone_silo_past_its_window_is_a_suspect_that_a_silo_joining_later_condemns_after_a_window()
    {
        await Cluster.JoinAsync("silo-a", "host-a:7000", null, TimeSpan.FromSeconds(10));
        Stores.Time.Advance(TimeSpan.FromMinutes(5));
        var silo = Assert.Single(await Cluster.ListSilosAsync());
        Assert.Equal((SiloStatus.Active, false), (silo.Status, silo.IsLive)); // nobody was there to see the store work

        await Cluster.JoinAsync("silo-b", "host-b:7000", null, TimeSpan.FromSeconds(10));
        for (var second = 1; second <= 10; second++)
        {
            Assert.Equal(SiloStatus.Active, Assert.Single(await Cluster.ListSilosAsync(), s => s.SiloId == "silo-a").Status);
            Stores.Time.Advance(TimeSpan.FromSeconds(1));
            Assert.True(await Cluster.HeartbeatAsync("silo-b", 0));
        }

        Assert.Equal(SiloStatus.Dead, Assert.Single(await Cluster.ListSilosAsync(), s => s.SiloId == "silo-a").Status);
    }
}
