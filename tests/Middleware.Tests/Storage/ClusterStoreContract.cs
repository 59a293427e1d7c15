using System.Text;
using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;
using Middleware.Tests.Support;

namespace Middleware.Tests.Storage;

/// <summary>
/// The contract of <see cref="IClusterStore"/> (membership, ownership by silo, virtual sessions), written once.
/// Every store subclasses it with a factory; stores that several processes share also give a second instance on
/// the same database, so the rules are checked across instances too. Time passes through <see cref="PassAsync"/>:
/// the memory store moves its manual clock, the SQL stores really wait (their clock is the database's).
/// </summary>
public abstract partial class ClusterStoreContract : IAsyncLifetime
{
    /// <summary>A window no test outlives.</summary>
    protected static readonly TimeSpan LongWindow = TimeSpan.FromMinutes(10);

    private readonly List<ILogStore> _others = [];

    /// <summary>The store under test, as a log store.</summary>
    protected ILogStore Store { get; private set; } = null!;

    /// <summary>The store under test, as a cluster store.</summary>
    protected IClusterStore Cluster => (IClusterStore)Store;

    /// <summary>The window of silos that a test lets expire.</summary>
    protected virtual TimeSpan ShortWindow => TimeSpan.FromMilliseconds(500);

    /// <summary>The store clock's now, as the test expects it (wall clock for SQL stores).</summary>
    protected virtual DateTimeOffset ExpectedNow => DateTimeOffset.UtcNow;

    /// <summary>Creates a fresh, empty store for one test.</summary>
    protected abstract Task<ILogStore> CreateStoreAsync();

    /// <summary>A second instance on the same database, as another process would open it, or null for a store in memory.</summary>
    protected virtual Task<ILogStore?> OpenOtherAsync() => Task.FromResult<ILogStore?>(null);

    /// <summary>Lets <paramref name="time"/> pass on the store's clock.</summary>
    protected virtual Task PassAsync(TimeSpan time) => Task.Delay(time);

    /// <summary>Removes what <see cref="CreateStoreAsync"/> left behind, after the stores are closed.</summary>
    protected virtual Task CleanupAsync() => Task.CompletedTask;

    public async Task InitializeAsync() => Store = await CreateStoreAsync();

    public async Task DisposeAsync()
    {
        foreach (var other in _others) await other.DisposeAsync();
        await Store.DisposeAsync();
        await CleanupAsync();
    }

    /// <summary>The second instance (closed with the test), or the store itself when the provider has no second instance.</summary>
    protected async Task<IClusterStore> OtherAsync()
    {
        if (await OpenOtherAsync() is not { } other) return Cluster;
        _others.Add(other);
        return (IClusterStore)other;
    }

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

    /// <summary>A claim for <paramref name="siloId"/> that respects live silos, on <paramref name="store"/> (default: the store under test).</summary>
    protected Task<ClaimResult> ClaimForSiloAsync(string id, long expectedEpoch, string siloId, ILogStore? store = null) =>
        (store ?? Store).ClaimAsync(new ClaimRequest(id, expectedEpoch, siloId, ClaimMode.RespectLiveSilo));

    /// <summary>An epoch-only claim (a local runtime, the admin tool): the new head, or null on a conflict.</summary>
    protected async Task<ComponentHead?> TryClaimAsync(string id, long expectedEpoch, string owner) =>
        (await Store.ClaimAsync(new ClaimRequest(id, expectedEpoch, owner, ClaimMode.EpochOnly))).Claimed;

    private static AppendGroup Group(string id, long epoch, long seq) =>
        new(id, epoch, [new LogRecord(seq, epoch, RecordKind.Turn, Encoding.UTF8.GetBytes($"{id} turn {seq}"))]);

    private async Task<AppendStatus> AppendAsync(string id, long epoch, long seq) => Assert.Single(await Store.AppendAsync([Group(id, epoch, seq)]));

    private async Task<SiloEntry> SiloAsync(string siloId) => Assert.Single(await Cluster.ListSilosAsync(), s => s.SiloId == siloId);

    // ----- membership -----

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

    // ----- ownership -----

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
        if (await OpenOtherAsync() is not { } opened) return; // the provider has no second instance (memory)
        await using var second = opened;
        var other = (IClusterStore)second;

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
}
