using Bank;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Recovery.Log;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;
using Middleware.Tests.Support;

namespace Middleware.Tests.Runtime;

public sealed class LocalRuntimeTests
{
    private static LocalRuntime NewRuntime(ILogStore store, RuntimeOptions? options = null, RuntimeEnvironment? environment = null) =>
        new(store, Registries.Default(), options, environment);

    [Fact]
    public async Task Deposits_withdrawals_and_balance_work_through_the_runtime()
    {
        var store = new MemoryLogStore();
        var dir = Directory.CreateTempSubdirectory("mw-ledger-").FullName;
        await using var rt = NewRuntime(store, environment: TestLedger.Register(new RuntimeEnvironment(), dir));
        Assert.Equal(100, await rt.Call<IAccount>("alice", "r1").Deposit(100));
        Assert.Equal(70, await rt.Call<IAccount>("alice", "r2").Withdraw(30));
        var error = await Assert.ThrowsAsync<InsufficientFundsException>(() => rt.Call<IAccount>("alice", "r3").Withdraw(500));
        Assert.Contains("balance is 70", error.Message);
        Assert.Equal(70, await rt.Call<IAccount>("alice", "r4").Balance());

        // Three logged turns (the failed withdrawal is logged too) plus the partial record forced before the
        // successful withdrawal's ledger call; the read-only balance is not logged.
        var head = await store.GetHeadAsync("Account/alice");
        Assert.Equal(4, head!.LastSeq);
    }

    [Fact]
    public async Task A_runtime_started_again_with_the_same_owner_id_gives_its_calls_new_request_ids()
    {
        // GetComponent numbers its request ids; a second runtime with the same owner id (a restarted service) must not
        // reuse the first one's ids, or its first call would be answered with the earlier call's recorded reply.
        var store = new MemoryLogStore();
        var options = new RuntimeOptions { OwnerId = "svc" };
        await using (var first = NewRuntime(store, options))
        {
            Assert.Equal(5, await first.GetComponent<ICounter>("c").Add(5));
        }

        await using var second = NewRuntime(store, options);
        Assert.Equal(12, await second.GetComponent<ICounter>("c").Add(7));
    }

    [Fact]
    public async Task A_repeated_request_id_returns_the_first_reply_and_runs_once()
    {
        await using var rt = NewRuntime(new MemoryLogStore());
        var first = await rt.Call<ICounter>("c", "same").Add(5);
        var again = await rt.Call<ICounter>("c", "same").Add(5);
        Assert.Equal(5, first);
        Assert.Equal(5, again);
        Assert.Equal(5, await rt.Call<ICounter>("c", "read").Get());
    }

    [Fact]
    public async Task Concurrent_duplicates_attach_to_the_same_turn()
    {
        await using var rt = NewRuntime(new MemoryLogStore());
        var calls = Enumerable.Range(0, 20).Select(_ => rt.Call<ICounter>("c", "dup").Add(1)).ToArray();
        var replies = await Task.WhenAll(calls);
        Assert.All(replies, r => Assert.Equal(1, r));
        Assert.Equal(1, await rt.Call<ICounter>("c", "read").Get());
    }

    [Fact]
    public async Task A_request_id_reused_with_other_arguments_is_a_clear_error()
    {
        await using var rt = NewRuntime(new MemoryLogStore());
        await rt.Call<ICounter>("c", "r1").Add(1);
        var e = await Assert.ThrowsAsync<RequestIdReuseException>(() => rt.Call<ICounter>("c", "r1").Add(2));
        Assert.Contains("'r1'", e.Message);
        Assert.Contains("new request needs a new id", e.Message);
        Assert.Equal(1, await rt.Call<ICounter>("c", "read").Get());
    }

    [Fact]
    public async Task A_turn_that_throws_leaves_state_unchanged_and_repeats_its_error()
    {
        var store = new MemoryLogStore();
        await using var rt = NewRuntime(store);
        await rt.Call<ICounter>("c", "r1").Add(10);
        var e1 = await Assert.ThrowsAsync<InvalidOperationException>(() => rt.Call<ICounter>("c", "bad").AddThenFail(5));
        Assert.Equal("refused 5", e1.Message);
        Assert.Equal(10, await rt.Call<ICounter>("c", "read").Get());
        Assert.Equal(11, await rt.Call<ICounter>("c", "r2").Add(1));

        // The retry gets the recorded error without running again, also after a restart.
        var e2 = await Assert.ThrowsAsync<InvalidOperationException>(() => rt.Call<ICounter>("c", "bad").AddThenFail(5));
        Assert.Equal("refused 5", e2.Message);
        await using var rt2 = NewRuntime(store);
        var e3 = await Assert.ThrowsAsync<InvalidOperationException>(() => rt2.Call<ICounter>("c", "bad").AddThenFail(5));
        Assert.Equal("refused 5", e3.Message);
        Assert.Equal(11, await rt2.Call<ICounter>("c", "read").Get());
    }

    [Fact]
    public async Task A_new_runtime_on_the_same_store_recovers_state_and_dedup()
    {
        var store = new MemoryLogStore();
        string stamp;
        await using (var rt = NewRuntime(store))
        {
            for (var i = 1; i <= 25; i++) await rt.Call<ICounter>("c", $"r{i}").Add(i);
            stamp = await rt.Call<ICounter>("c", "stamp").Stamp();
        }

        await using var rt2 = NewRuntime(store);
        Assert.Equal(325, await rt2.Call<ICounter>("c", "read").Get());
        Assert.Equal(6, await rt2.Call<ICounter>("c", "r3").Add(3)); // the recorded reply (1+2+3), not a new turn
        Assert.Equal(stamp, await rt2.Call<ICounter>("c", "stamp").Stamp());
        Assert.Equal(326, await rt2.Call<ICounter>("c", "r26").Add(1));
        Assert.Equal(2, (await store.GetHeadAsync("Counter/c"))!.Epoch);
    }

    [Fact]
    public async Task Dedup_survives_checkpoints_and_truncation()
    {
        var store = new MemoryLogStore();
        var options = new RuntimeOptions { CheckpointEveryTurns = 10, CheckpointSpread = 0 };
        await using (var rt = NewRuntime(store, options))
        {
            for (var i = 1; i <= 35; i++) await rt.Call<ICounter>("c", $"r{i}").Add(1);

            // r1 is only in the store's dedup table now, not in the activation's memory.
            Assert.Equal(1, await rt.Call<ICounter>("c", "r1").Add(1));
        }

        var head = await store.GetHeadAsync("Counter/c");
        Assert.Equal(30, head!.CheckpointSeq);
        await store.TruncateAsync("Counter/c", 31);
        Assert.Empty(await store.ReadAsync("Counter/c", 1, 30));

        await using var rt2 = NewRuntime(store, options);
        Assert.Equal(35, await rt2.Call<ICounter>("c", "read").Get());
        Assert.Equal(1, await rt2.Call<ICounter>("c", "r1").Add(1));
        Assert.Equal(33, await rt2.Call<ICounter>("c", "r33").Add(1));
        await Assert.ThrowsAsync<RequestIdReuseException>(() => rt2.Call<ICounter>("c", "r2").Add(7));
        Assert.Equal(35, await rt2.Call<ICounter>("c", "read").Get());
    }

    [Fact]
    public async Task Loading_a_seq_whose_records_were_truncated_is_an_error_not_an_older_state()
    {
        var store = new MemoryLogStore();
        await using (var rt = NewRuntime(store, new RuntimeOptions { CheckpointEveryTurns = 10, CheckpointSpread = 0 }))
        {
            for (var i = 1; i <= 12; i++) await rt.Call<ICounter>("c", $"r{i}").Add(1);
        }

        await store.TruncateAsync("Counter/c", 11);
        var type = Registries.Default().Get("Counter");
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => Replayer.LoadAsync(store, type, new ComponentId("Counter", "c"), 5, Registries.Default().Json));
        Assert.Contains("truncated", e.Message);
        var at11 = await Replayer.LoadAsync(store, type, new ComponentId("Counter", "c"), 11, Registries.Default().Json);
        Assert.Equal(11, at11.LastSeq);
    }

    [Fact]
    public async Task Time_based_checkpoints_follow_the_clock()
    {
        var store = new MemoryLogStore();
        var clock = new ManualTime(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        await using var rt = NewRuntime(store, new RuntimeOptions { CheckpointEveryTurns = 1_000_000, CheckpointInterval = TimeSpan.FromSeconds(30) }, new RuntimeEnvironment { TimeProvider = clock });
        await rt.Call<ICounter>("c", "r1").Add(1);
        await rt.Call<ICounter>("c", "r2").Add(1);
        Assert.Null(await store.GetCheckpointAsync("Counter/c"));
        clock.Advance(TimeSpan.FromSeconds(31));
        await rt.Call<ICounter>("c", "r3").Add(1);
        await rt.Call<ICounter>("c", "r4").Add(1); // the checkpoint write is ordered before this reply
        Assert.Equal(3, (await store.GetCheckpointAsync("Counter/c"))!.Seq);
    }

    [Fact]
    public async Task Recorded_nondeterminism_is_replayed_and_recorded_time_comes_from_the_time_provider()
    {
        var store = new MemoryLogStore();
        var clock = new ManualTime(new DateTimeOffset(2030, 5, 6, 7, 8, 9, TimeSpan.Zero));
        await using (var rt = NewRuntime(store, environment: new RuntimeEnvironment { TimeProvider = clock }))
        {
            var stamp = await rt.Call<ICounter>("c", "s1").Stamp();
            Assert.StartsWith("2030-05-06T07:08:09", stamp);
            await rt.Call<ICounter>("c", "s2").Stamp();
        }

        var records = await store.ReadAsync("Counter/c", 1, 2);
        var turn = RecordCodec.DecodeTurn(records[0].Payload);
        Assert.Equal([NondeterminismKind.UtcNow, NondeterminismKind.Guid, NondeterminismKind.RandomSeed], turn.Values.Select(v => v.Kind));

        // A restart replays both turns with the recorded values; the replies match, so it serves.
        await using var rt2 = NewRuntime(store);
        Assert.Equal(RecordCodec.DecodeTurn(records[1].Payload).Reply.ToString().Trim('"'), await rt2.Call<ICounter>("c", "s2").Stamp());
    }

    [Fact]
    public async Task A_nondeterministic_component_is_caught_on_replay_with_seq_method_and_replies()
    {
        var store = new MemoryLogStore();
        await using (var rt = NewRuntime(store))
        {
            await rt.Call<IWallClock>("w", "r1").Now();
        }

        await using var rt2 = NewRuntime(store);
        // The divergence quarantines the component: the cause travels with the refusal.
        var quarantined = await Assert.ThrowsAsync<ComponentQuarantinedException>(() => rt2.Call<IWallClock>("w", "r2").Now());
        var e = Assert.IsType<ReplayDivergenceException>(quarantined.InnerException);
        Assert.Equal(1, e.Seq);
        Assert.Equal("Now", e.Method);
        Assert.Equal(new ComponentId("WallClock", "w"), e.Component);
        Assert.Contains("WallClock/w", e.Message);
        Assert.Contains("seq 1", e.Message);
        Assert.NotEqual(e.Expected, e.Actual);
    }

    [Fact]
    public async Task Turns_of_one_component_never_interleave()
    {
        await using var rt = NewRuntime(new MemoryLogStore());
        var tasks = Enumerable.Range(0, 500).Select(i => rt.Call<ICounter>("hot", $"r{i}").Add(1));
        var replies = await Task.WhenAll(tasks);
        Assert.Equal(Enumerable.Range(1, 500).Select(i => (long)i), replies.Order());
        Assert.Equal(500, await rt.Call<ICounter>("hot", "read").Get());
    }

    [Fact]
    public async Task Unknown_types_and_methods_are_clear_errors()
    {
        await using var rt = NewRuntime(new MemoryLogStore());
        var e = await Assert.ThrowsAsync<UnknownComponentException>(() => rt.InvokeAsync(new Invocation(new ComponentId("Nope", "x"), "r", "M", "[]"u8.ToArray())));
        Assert.Contains("known types: Account, Counter, WallClock", e.Message);
        var m = await Assert.ThrowsAsync<UnknownComponentException>(() => rt.InvokeAsync(new Invocation(new ComponentId("Counter", "x"), "r", "Nope", "[]"u8.ToArray())));
        Assert.Contains("Add", m.Message);
        var a = await Assert.ThrowsAsync<ArgumentException>(() => rt.InvokeAsync(new Invocation(new ComponentId("Counter", "x"), "r", "Add", "{\"x\":1}"u8.ToArray())));
        Assert.Contains("JSON array", a.Message);
    }

    [Fact]
    public void Invalid_options_name_the_setting()
    {
        var e = Assert.Throws<ArgumentException>(() => new LocalRuntime(new MemoryLogStore(), Registries.Default(), new RuntimeOptions { CheckpointEveryTurns = 0 }));
        Assert.Contains("CheckpointEveryTurns", e.Message);
        e = Assert.Throws<ArgumentException>(() => new LocalRuntime(new MemoryLogStore(), Registries.Default(), new RuntimeOptions { CheckpointInterval = TimeSpan.Zero }));
        Assert.Contains("CheckpointInterval", e.Message);
    }
}
