using System.Collections.Concurrent;
using Bank;
using Microsoft.Data.Sqlite;
using Middleware.Grains;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Sqlite;
using Middleware.Recovery.Storage;
using Middleware.Tests.Support;

namespace Middleware.Tests.Runtime;

/// <summary>
/// Bounded activations (issue 17): a component idle past its age is deactivated with a checkpoint and comes back with its
/// state on the next request; past the activation limit the least recently used idle ones go; and deactivation racing
/// requests (including retries of requests that ran before the deactivation) never loses or repeats a turn.
/// </summary>
public sealed class ActivationCollectionTests : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private readonly string _dir = Directory.CreateTempSubdirectory("mw-collect-").FullName;
    private readonly SqliteLogStore _store;

    public ActivationCollectionTests() => _store = SqliteLogStore.Open(Path.Combine(_dir, "log.db"));

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private LocalRuntime Runtime(RuntimeOptions options, TimeProvider? time = null)
    {
        var environment = TestLedger.Register(new RuntimeEnvironment { TimeProvider = time ?? TimeProvider.System }, _dir);
        return new LocalRuntime(_store, new ComponentRegistry().Add<IAccount, Account>().Add<ITeller, Teller>(), options, environment);
    }

    private static Task WaitUntilAsync(Func<bool> condition, string what) => Eventually.TrueAsync(condition, what, Deadline);

    [Fact]
    public async Task An_idle_component_is_deactivated_with_a_checkpoint_and_comes_back_with_its_state()
    {
        var time = new ManualTime(DateTimeOffset.Parse("2026-12-06T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        await using var rt = Runtime(new RuntimeOptions { DeactivateIdleAfter = TimeSpan.FromMinutes(10), MaxActivations = 0 }, time);
        for (var i = 0; i < 3; i++) Assert.Equal(100 + i, await rt.Call<IAccount>($"idle-{i}", $"d{i}").Deposit(100 + i));
        Assert.Equal(3, rt.ActivationCount);

        time.Advance(TimeSpan.FromMinutes(5));
        Assert.Equal(105, await rt.Call<IAccount>("idle-0", "again").Deposit(5));
        time.Advance(TimeSpan.FromMinutes(6));

        // idle-1 and idle-2 served nothing for 11 minutes; idle-0 served 6 minutes ago.
        Assert.Equal(2, await rt.CollectIdleAsync());
        Assert.Equal(1, rt.ActivationCount);
        Assert.False(rt.IsActive(new ComponentId("Account", "idle-1")));
        Assert.True(rt.IsActive(new ComponentId("Account", "idle-0")));
        foreach (var key in new[] { "idle-1", "idle-2" })
        {
            var head = await _store.GetHeadAsync($"Account/{key}");
            Assert.NotNull(head);
            Assert.Equal(head.LastSeq, head.CheckpointSeq); // the deactivation wrote a checkpoint at the last turn
        }

        // The next request activates it again, on the state it had; a retry of the turn before deactivation is answered
        // from the log, not run again.
        Assert.Equal(151, await rt.Call<IAccount>("idle-1", "d-next").Deposit(50));
        Assert.Equal(102, await rt.Call<IAccount>("idle-2", "d2").Deposit(102));
        Assert.Equal(102, await rt.Call<IAccount>("idle-2", "read").Balance());
        Assert.Equal(2, rt.Counters.Snapshot()[(RuntimeCounters.Deactivation, DeactivationReason.Idle)]);
    }

    [Fact]
    public async Task The_background_collector_deactivates_idle_components_on_its_own()
    {
        await using var rt = Runtime(new RuntimeOptions { DeactivateIdleAfter = TimeSpan.FromMilliseconds(300), MaxActivations = 0 });
        for (var i = 0; i < 5; i++) await rt.Call<IAccount>($"bg-{i}", "d").Deposit(10);
        await WaitUntilAsync(() => rt.ActivationCount == 0, "the idle activations to be deactivated");
        Assert.Equal(20, await rt.Call<IAccount>("bg-3", "d2").Deposit(10));
    }

    [Fact]
    public async Task Past_the_limit_the_least_recently_used_go_and_every_balance_is_kept()
    {
        const int Limit = 50, Accounts = 400;
        await using var rt = Runtime(new RuntimeOptions { DeactivateIdleAfter = TimeSpan.Zero, MaxActivations = Limit });
        await Parallel.ForAsync(0, Accounts, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, _) =>
            Assert.Equal(i + 1, await rt.Call<IAccount>($"cap-{i}", "d").Deposit(i + 1)));
        await WaitUntilAsync(() => rt.ActivationCount <= Limit, $"at most {Limit} live activations (now {rt.ActivationCount})");
        Assert.True(rt.Counters.Snapshot()[(RuntimeCounters.Deactivation, DeactivationReason.Capacity)] >= Accounts - Limit);

        // The most recent stay; every account, active or not, answers with its balance, and the retried deposit is not repeated.
        for (var i = 0; i < Accounts; i++)
        {
            Assert.Equal(i + 1, await rt.Call<IAccount>($"cap-{i}", "d").Deposit(i + 1));
            Assert.Equal(i + 1, await rt.Call<IAccount>($"cap-{i}", "read").Balance());
        }
    }

    [Fact]
    public async Task Deactivation_racing_requests_and_retries_never_loses_or_repeats_a_turn()
    {
        // A tiny limit and age keep activations churning under 16 workers; every deposit is sent, and half of them retried
        // with the same id later (after their component was most likely deactivated and activated again).
        const int Accounts = 40, Requests = 2000;
        await using var rt = Runtime(new RuntimeOptions { DeactivateIdleAfter = TimeSpan.FromMilliseconds(100), MaxActivations = 8 });
        var replies = new ConcurrentDictionary<int, long>();
        await Parallel.ForAsync(0, Requests, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (n, _) =>
        {
            var reply = await rt.Call<IAccount>($"churn-{n % Accounts}", $"r{n}").Deposit(1 + (n % 7)).WaitAsync(Deadline);
            replies[n] = reply;
            if (n % 2 == 1)
            {
                var retryOf = n - 1 - (n % 40);
                if (retryOf >= 0 && replies.TryGetValue(retryOf, out var first))
                    Assert.Equal(first, await rt.Call<IAccount>($"churn-{retryOf % Accounts}", $"r{retryOf}").Deposit(1 + (retryOf % 7)));
            }
        });

        var snapshot = rt.Counters.Snapshot();
        Assert.True(snapshot.Keys.Any(k => k.Kind == RuntimeCounters.Deactivation), "the test must make the collector deactivate");
        for (var a = 0; a < Accounts; a++)
        {
            var expected = Enumerable.Range(0, Requests).Where(n => n % Accounts == a).Sum(n => 1L + (n % 7));
            Assert.Equal(expected, await rt.Call<IAccount>($"churn-{a}", "read").Balance());
            // Each request is in the log once: as many turns as deposits sent to this account.
            var head = await _store.GetHeadAsync($"Account/churn-{a}");
            var records = await _store.ReadAsync($"Account/churn-{a}", 1, head!.LastSeq);
            Assert.Equal(Requests / Accounts, records.Count(r => r.Kind == Middleware.Recovery.Log.RecordKind.Turn));
        }
    }

    [Fact]
    public async Task A_capacity_eviction_leaves_a_short_tail_and_the_next_activation_replays_it_exactly()
    {
        // One live activation at most: every deposit to "x" then one to "y" evicts "x" (capacity). With a tail of 3 allowed,
        // the evictions after 1, 2 and 3 new records write no checkpoint, the one after the 4th does; so the store's tail
        // after an eviction is never longer than 3, and each activation replays it: balances, replies of retried request
        // ids and the count of turns in the log stay exact.
        const int Tail = 3, Rounds = 30;
        await using var rt = Runtime(new RuntimeOptions { DeactivateIdleAfter = TimeSpan.Zero, MaxActivations = 1, EvictionTailRecords = Tail, CheckpointSpread = 0 });
        var x = new ComponentId("Account", "tail-x");
        var replies = new long[Rounds];
        var tails = new List<long>();
        for (var i = 0; i < Rounds; i++)
        {
            replies[i] = await rt.Call<IAccount>("tail-x", $"x{i}").Deposit(i + 1);
            Assert.Equal((i + 1) * (i + 2) / 2, replies[i]);
            await rt.Call<IAccount>("tail-y", $"y{i}").Deposit(1);
            await rt.CollectIdleAsync();
            await WaitUntilAsync(() => !rt.IsActive(x), "tail-x to be evicted");
            var head = (await _store.GetHeadAsync("Account/tail-x"))!;
            Assert.Equal(i + 1, head.LastSeq);
            tails.Add(head.LastSeq - head.CheckpointSeq);
        }

        Assert.All(tails, t => Assert.InRange(t, 0, Tail));
        Assert.Contains(tails, t => t == Tail);            // evicted with the longest tail allowed, no checkpoint
        Assert.Contains(tails.Skip(Tail), t => t == 0);    // and a longer one checkpointed first
        Assert.True(rt.Counters.Snapshot()[(RuntimeCounters.Deactivation, DeactivationReason.Capacity)] >= Rounds);

        // Retried ids (in the tail, in the checkpoint's dedup entries, and before it) get their first reply; nothing runs twice.
        for (var i = Rounds - 1; i >= 0; i--)
        {
            Assert.Equal(replies[i], await rt.Call<IAccount>("tail-x", $"x{i}").Deposit(i + 1));
            await rt.Call<IAccount>("tail-y", $"y-again{i}").Deposit(1);
            await rt.CollectIdleAsync();
        }

        Assert.Equal(Rounds * (Rounds + 1) / 2, await rt.Call<IAccount>("tail-x", "read").Balance());
        // The retries logged nothing: at most the read follows the deposits.
        Assert.InRange((await _store.GetHeadAsync("Account/tail-x"))!.LastSeq, Rounds, Rounds + 1);
    }

    [Fact]
    public async Task Idle_deactivation_and_a_tail_of_zero_still_checkpoint_when_the_log_grew()
    {
        var time = new ManualTime(DateTimeOffset.Parse("2026-12-07T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        await using (var rt = Runtime(new RuntimeOptions { DeactivateIdleAfter = TimeSpan.FromMinutes(10), MaxActivations = 0, CheckpointSpread = 0 }, time))
        {
            await rt.Call<IAccount>("idle-tail", "d").Deposit(5);
            time.Advance(TimeSpan.FromMinutes(11));
            Assert.Equal(1, await rt.CollectIdleAsync());
            var head = (await _store.GetHeadAsync("Account/idle-tail"))!;
            Assert.Equal(head.LastSeq, head.CheckpointSeq);
        }

        await using var capped = Runtime(new RuntimeOptions { DeactivateIdleAfter = TimeSpan.Zero, MaxActivations = 1, EvictionTailRecords = 0, CheckpointSpread = 0 });
        await capped.Call<IAccount>("zero-tail", "d").Deposit(5);
        await capped.Call<IAccount>("zero-tail-other", "d").Deposit(5);
        await capped.CollectIdleAsync();
        await WaitUntilAsync(() => !capped.IsActive(new ComponentId("Account", "zero-tail")), "zero-tail to be evicted");
        var evicted = (await _store.GetHeadAsync("Account/zero-tail"))!;
        Assert.Equal(evicted.LastSeq, evicted.CheckpointSeq);
    }
}
