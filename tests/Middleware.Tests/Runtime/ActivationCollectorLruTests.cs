using Bank;
using Microsoft.Data.Sqlite;
using Middleware.Grains;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Sqlite;
using Middleware.Tests.Support;

namespace Middleware.Tests.Runtime;

/// <summary>
/// Past the activation limit the collector deactivates the least recently used (issue 17). It keeps only as many
/// candidates as it may take while scanning the table (not a sorted copy of every activation), so these check that the
/// ones it takes are still exactly the oldest, and that the ones it leaves are the most recently used.
/// </summary>
public sealed class ActivationCollectorLruTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mw-lru-").FullName;
    private readonly SqliteLogStore _store;

    public ActivationCollectorLruTests() => _store = SqliteLogStore.Open(Path.Combine(_dir, "log.db"));

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void The_selection_keeps_the_oldest_in_order_whatever_order_they_are_offered_in()
    {
        var random = new Random(7);
        var lastUsed = Enumerable.Range(0, 1000).Select(i => (long)i * 10).OrderBy(_ => random.Next()).ToArray();
        var oldest = new OldestFirst(37);
        foreach (var t in lastUsed) oldest.Offer(new ComponentId("Account", $"k{t}"), t, standby: t % 20 == 0);

        var taken = oldest.InOrder().ToList();
        Assert.Equal(Enumerable.Range(0, 37).Select(i => $"k{i * 10}"), taken.Select(c => c.Id.Key));
        Assert.Equal(Enumerable.Range(0, 37).Select(i => i * 10 % 20 == 0), taken.Select(c => c.Standby));
        Assert.Empty(new OldestFirst(0).InOrder());
    }

    [Fact]
    public async Task Past_the_limit_the_ones_left_live_are_the_most_recently_used()
    {
        const int Limit = 20, Accounts = 120;
        var time = new ManualTime(DateTimeOffset.Parse("2026-12-07T07:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var environment = TestLedger.Register(new RuntimeEnvironment { TimeProvider = time }, _dir);
        await using var rt = new LocalRuntime(_store, new ComponentRegistry().Add<IAccount, Account>(),
            new RuntimeOptions { DeactivateIdleAfter = TimeSpan.Zero, MaxActivations = Limit }, environment);

        // One at a time, each a second after the one before: the use order is the key order. The background collector
        // runs whenever the count passes the limit.
        for (var i = 0; i < Accounts; i++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            Assert.Equal(i + 1, await rt.Call<IAccount>($"lru-{i}", "d").Deposit(i + 1));
        }

        await Eventually.TrueAsync(() => rt.ActivationCount <= Limit, $"the collector to bring the activations down to {Limit}");
        var live = Enumerable.Range(0, Accounts).Where(i => rt.IsActive(new ComponentId("Account", $"lru-{i}"))).ToList();
        Assert.InRange(live.Count, 1, Limit);
        Assert.Equal(Enumerable.Range(Accounts - live.Count, live.Count), live);

        // The deactivated ones come back with their balance, and a retried deposit is answered from the log, not repeated.
        for (var i = 0; i < Accounts; i += 7)
        {
            Assert.Equal(i + 1, await rt.Call<IAccount>($"lru-{i}", "d").Deposit(i + 1));
            Assert.Equal(i + 1, await rt.Call<IAccount>($"lru-{i}", "read").Balance());
        }
    }
}
