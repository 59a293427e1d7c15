using Middleware.Recovery.Storage;
using Middleware.Tests.Support;

namespace Middleware.Tests.Storage;

/// <summary>The cluster contract against the in-memory reference store, on a manual clock (no test waits for real).</summary>
public sealed class MemoryClusterStoreContractTests : ClusterStoreContract
{
    private readonly ManualTime _time = new(new DateTimeOffset(2030, 1, 2, 3, 4, 5, TimeSpan.Zero));

    protected override DateTimeOffset ExpectedNow => _time.GetUtcNow();

    protected override Task<ILogStore> CreateStoreAsync() => Task.FromResult<ILogStore>(new MemoryLogStore(_time));

    protected override Task PassAsync(TimeSpan time)
    {
        _time.Advance(time);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Liveness_follows_the_store_clock_exactly_at_the_window()
    {
        await Cluster.JoinAsync("silo-a", "host-a:7000", null, TimeSpan.FromSeconds(10));
        _time.Advance(TimeSpan.FromSeconds(10) - TimeSpan.FromTicks(1));
        var silo = Assert.Single(await Cluster.ListSilosAsync());
        Assert.Equal((SiloStatus.Active, true), (silo.Status, silo.IsLive));

        _time.Advance(TimeSpan.FromTicks(1));
        silo = Assert.Single(await Cluster.ListSilosAsync());
        Assert.Equal((SiloStatus.Dead, TimeSpan.FromSeconds(10)), (silo.Status, silo.HeartbeatAge));
    }
}
