using System.Globalization;
using Bank;
using Microsoft.Data.Sqlite;
using Middleware.Grains;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Sqlite;
using Middleware.Tests.Support;

namespace Middleware.Tests.Runtime;

/// <summary>
/// The collector's recency list (<see cref="ActivationLru"/>): a pass reads the oldest buckets, not every live activation.
/// These check what that must not change (the least recently used go first, also when the recent use of an old
/// activation moved it to a newer bucket; idle ones go by age), what it is for (a pass reads about what it takes), and
/// that activations that left by other ways are not held by the list.
/// </summary>
public sealed class ActivationLruTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mw-lrulist-").FullName;
    private readonly SqliteLogStore _store;

    public ActivationLruTests() => _store = SqliteLogStore.Open(Path.Combine(_dir, "log.db"));

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private LocalRuntime Runtime(RuntimeOptions options, TimeProvider time) =>
        new(_store, new ComponentRegistry().Add<IAccount, Account>(), options, TestLedger.Register(new RuntimeEnvironment { TimeProvider = time }, _dir));

    private static ManualTime Clock() => new(DateTimeOffset.Parse("2026-12-07T09:00:00Z", CultureInfo.InvariantCulture));

    private static Task WaitUntilAsync(Func<bool> condition, string what) => Eventually.TrueAsync(condition, what, TimeSpan.FromSeconds(30));

    [Fact]
    public async Task An_old_activation_used_again_after_a_pass_stays_and_the_least_recently_used_go()
    {
        const int Limit = 20;
        var time = Clock();
        await using var rt = Runtime(new RuntimeOptions { DeactivateIdleAfter = TimeSpan.Zero, MaxActivations = Limit }, time);
        var useOrder = new List<int>();

        async Task UseAsync(int i, string request)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await rt.Call<IAccount>($"lru-{i}", request).Deposit(1);
            useOrder.Remove(i);
            useOrder.Add(i);
        }

        for (var i = 0; i < Limit; i++) await UseAsync(i, "a");
        // A pass with nothing to take closes the newest bucket: the next uses of 0-4 move them to a newer one, and their
        // entries in the first bucket go stale.
        Assert.Equal(0, await rt.CollectIdleAsync());
        for (var i = 0; i < 5; i++) await UseAsync(i, "b");
        Assert.Equal(0, await rt.CollectIdleAsync());
        for (var i = Limit; i < Limit + 12; i++) await UseAsync(i, "a");

        await WaitUntilAsync(() => rt.ActivationCount <= Limit, $"at most {Limit} live (now {rt.ActivationCount})");
        var live = useOrder.Where(i => rt.IsActive(new ComponentId("Account", $"lru-{i}"))).ToList();
        Assert.InRange(live.Count, 1, Limit);
        Assert.Equal(useOrder.TakeLast(live.Count), live);
        // 0-4 were activated first; without their second use (in a newer bucket) they would have gone first.
        Assert.Subset(live.ToHashSet(), Enumerable.Range(0, 5).ToHashSet());
        Assert.DoesNotContain(5, live);
        Assert.Equal(2, await rt.Call<IAccount>("lru-3", "read").Balance());
    }

    [Fact]
    public async Task Idle_age_takes_exactly_the_ones_unused_for_that_long_across_buckets()
    {
        var time = Clock();
        await using var rt = Runtime(new RuntimeOptions { DeactivateIdleAfter = TimeSpan.FromMinutes(10), MaxActivations = 0 }, time);
        for (var i = 0; i < 6; i++)
        {
            await rt.Call<IAccount>($"age-{i}", "a").Deposit(1);
            time.Advance(TimeSpan.FromMinutes(1));
            Assert.Equal(0, await rt.CollectIdleAsync()); // one bucket per minute
        }

        await rt.Call<IAccount>("age-1", "b").Deposit(1); // at 6 min
        time.Advance(TimeSpan.FromMinutes(6.5)); // 12.5 min: age-0 (0), age-2 (2) were last used over 10 minutes ago
        Assert.Equal(2, await rt.CollectIdleAsync());
        Assert.Equal([1, 3, 4, 5], Enumerable.Range(0, 6).Where(i => rt.IsActive(new ComponentId("Account", $"age-{i}"))));
        time.Advance(TimeSpan.FromMinutes(2)); // 14.5 min: age-3 (3) and age-4 (4) too
        Assert.Equal(2, await rt.CollectIdleAsync());
        Assert.Equal([1, 5], Enumerable.Range(0, 6).Where(i => rt.IsActive(new ComponentId("Account", $"age-{i}"))));
        Assert.Equal(1, await rt.Call<IAccount>("age-0", "read").Balance());
    }

    [Fact]
    public async Task A_pass_past_the_limit_reads_about_what_it_takes_not_every_live_activation()
    {
        const int Limit = 1280, Accounts = 2600;
        await using var rt = Runtime(new RuntimeOptions { DeactivateIdleAfter = TimeSpan.Zero, MaxActivations = Limit }, TimeProvider.System);
        await Parallel.ForAsync(0, Accounts, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, _) =>
            Assert.Equal(i + 1, await rt.Call<IAccount>($"read-{i}", "d").Deposit(i + 1)));
        await WaitUntilAsync(() => rt.ActivationCount <= Limit, $"at most {Limit} live (now {rt.ActivationCount})");

        var list = rt.CollectorList!;
        var deactivated = rt.Counters.Snapshot()[(RuntimeCounters.Deactivation, DeactivationReason.Capacity)];
        Assert.True(deactivated >= Accounts - Limit, $"{deactivated} deactivated");
        // Walking the table read every live activation a pass (over 1,280 here); the list reads the ones it takes, at most
        // two buckets more (the last one it needed, and what it gave back the pass before: 64 entries each at this
        // limit), and the few that were busy when read.
        Assert.True(list.Examined <= deactivated + list.Passes * (2 * list.Capacity + 32),
            $"{list.Examined} entries read in {list.Passes} passes for {deactivated} deactivations (bucket {list.Capacity})");
        Assert.Equal(Accounts, await rt.Call<IAccount>($"read-{Accounts - 1}", "d").Deposit(Accounts));
        Assert.Equal(1, await rt.Call<IAccount>("read-0", "d").Deposit(1));
    }

    [Fact]
    public async Task Activations_that_left_by_other_ways_are_not_held_by_the_list()
    {
        var time = Clock();
        await using var rt = Runtime(new RuntimeOptions { DeactivateIdleAfter = TimeSpan.Zero, MaxActivations = 2048 }, time);
        var list = rt.CollectorList!;
        const int Accounts = 600;
        await Parallel.ForAsync(0, Accounts, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, _) => await rt.Call<IAccount>($"gone-{i}", "d").Deposit(1));
        Assert.True(list.Entries >= Accounts);
        // Deactivated one by one (as a handover does): the collector never took them, so their entries are still listed.
        for (var i = 0; i < Accounts - 10; i++) await rt.DeactivateAsync(new ComponentId("Account", $"gone-{i}"));
        Assert.Equal(10, rt.ActivationCount);
        Assert.True(list.Entries >= Accounts - 10);

        // The next pass finds many left by other ways (their entries would hold the dead activations) and rebuilds the
        // list with the live ones only.
        Assert.Equal(0, await rt.CollectIdleAsync());
        Assert.Equal(10, list.Entries);
        Assert.Equal(2, await rt.Call<IAccount>($"gone-{Accounts - 1}", "again").Deposit(1));
    }

    [Fact]
    public async Task A_few_hundred_handed_over_out_of_many_live_are_not_held_either()
    {
        await using var rt = Runtime(new RuntimeOptions { DeactivateIdleAfter = TimeSpan.Zero, MaxActivations = 2048 }, Clock());
        var list = rt.CollectorList!;
        await Parallel.ForAsync(0, 600, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, _) => await rt.Call<IAccount>($"few-{i}", "d").Deposit(1));
        for (var i = 0; i < 200; i++) await rt.DeactivateAsync(new ComponentId("Account", $"few-{i}"));

        // 400 live, 600 entries: not mostly stale, but 200 dead activations would stay referenced until the collector got
        // to them; more than an eighth of the live count plus a bucket left by other ways, so the pass rebuilds the list.
        Assert.Equal(0, await rt.CollectIdleAsync());
        Assert.Equal(400, list.Entries);
    }

    [Fact]
    public async Task The_collector_leaves_an_activation_serving_when_a_request_entered_after_it_looked()
    {
        var time = Clock();
        await using var rt = Runtime(new RuntimeOptions { DeactivateIdleAfter = TimeSpan.Zero, MaxActivations = 0 }, time);
        Assert.Equal(1, await rt.Call<IAccount>("entered", "r1").Deposit(1));
        var activation = rt.ActivationOf(new ComponentId("Account", "entered"))!;
        Assert.True(activation.IsIdle);

        // The collector saw it idle; then a request entered and waits for the turn lock the deactivation takes first.
        activation.Enter(time);
        Assert.Null(await activation.DeactivateIfIdleAsync(onlyIfIdle: true, CancellationToken.None));
        Assert.True(activation.IsActive, "the deactivation went on under a request that had entered: that request would be refused");
        activation.Leave();
        Assert.Equal(3, await rt.Call<IAccount>("entered", "r2").Deposit(2));

        // Idle again: the collector's deactivation goes through, and the next request activates the component anew.
        Assert.NotNull(await activation.DeactivateIfIdleAsync(onlyIfIdle: true, CancellationToken.None));
        Assert.False(activation.IsActive);
        Assert.Equal(6, await rt.Call<IAccount>("entered", "r3").Deposit(3));
    }
}

/// <summary>The checkpoint's state check every cold activation makes, now without allocating: the same answers as comparing <see cref="StateCodec.Hash"/>.</summary>
public sealed class StateHashCheckTests
{
    [Fact]
    public void A_state_matches_its_own_hash_only()
    {
        var state = "{\"Balance\":42}"u8.ToArray();
        var hash = StateCodec.Hash(state);
        Assert.True(StateCodec.HashMatches(state, hash));
        Assert.False(StateCodec.HashMatches("{\"Balance\":43}"u8, hash));
        Assert.False(StateCodec.HashMatches(state, hash.ToUpperInvariant())); // Hash writes lower case; anything else is refused as before
        Assert.False(StateCodec.HashMatches(state, hash[..^2]));
        Assert.False(StateCodec.HashMatches(state, ""));
    }
}
