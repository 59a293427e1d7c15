using Bank;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Recovery.Runtime;
using Middleware.Testing;

namespace Middleware.Tests.Testing;

/// <summary>
/// The test kit catches, in a plain test, the mistakes that break components only after a crash in production: each bad
/// component fails under the harness and the same component written right passes.
/// </summary>
public sealed class ComponentHarnessTests
{
    [Fact]
    public async Task A_component_reading_the_clock_directly_fails_with_the_replay_divergence()
    {
        await using var h = await ComponentHarness.StartAsync(o =>
        {
            o.AddComponent<IStamp, ClockStamp>();
            o.CrashAfterEachTurn = true;
        });

        var e = await Assert.ThrowsAsync<RecoveryCheckException>(() => h.Get<IStamp>("s").Stamp());

        Assert.Equal(RecoveryCheck.Reply, e.Check);
        Assert.Equal(new ComponentId("Stamp", "s"), e.Component);
        Assert.Equal(1, e.Seq);
        Assert.Equal("Stamp", e.Method);
        Assert.Contains("stamp 1 at", e.Expected);
        Assert.NotEqual(e.Expected, e.Actual);
        Assert.Contains("Context.UtcNow", e.Message);
    }

    [Fact]
    public async Task The_same_component_reading_the_clock_through_the_context_passes()
    {
        await using var h = await ComponentHarness.StartAsync(o =>
        {
            o.AddComponent<IStamp, ContextStamp>();
            o.CrashAfterEachTurn = true;
        });

        var stamp = h.Get<IStamp>("s");
        for (var i = 1; i <= 3; i++) Assert.StartsWith($"stamp {i} at", await stamp.Stamp());
        Assert.Equal(3, h.Crashes);
        Assert.Equal(3, (await h.StateOfAsync<IStamp, StampState>("s")).Stamps);
    }

    [Fact]
    public async Task Random_numbers_that_only_reach_the_state_fail_with_the_state_difference()
    {
        await using var h = await ComponentHarness.StartAsync(o =>
        {
            o.AddComponent<IRoller, SharedRandomRoller>();
            o.CrashAfterEachTurn = true;
        });

        var e = await Assert.ThrowsAsync<RecoveryCheckException>(() => h.Get<IRoller>("r").Roll());

        Assert.Equal(RecoveryCheck.State, e.Check);
        Assert.Equal(new ComponentId("Roller", "r"), e.Component);
        Assert.Equal(1, e.Seq);
        Assert.Equal("Roll", e.Method);
        Assert.StartsWith("$.LastRoll = ", e.Expected);
        Assert.Contains("Context.Random", e.Message);
    }

    [Fact]
    public async Task Random_numbers_through_the_context_pass()
    {
        await using var h = await ComponentHarness.StartAsync(o =>
        {
            o.AddComponent<IRoller, ContextRandomRoller>();
            o.CrashAfterEachTurn = true;
        });

        var roller = h.Get<IRoller>("r");
        for (var i = 1; i <= 3; i++) Assert.Equal(i, await roller.Roll());
        Assert.InRange((await h.StateOfAsync<IRoller, StampState>("r")).LastRoll, 1, 999_999);
    }

    [Fact]
    public async Task A_get_only_collection_in_state_is_refused_when_the_harness_starts()
    {
        var e = await Assert.ThrowsAsync<ComponentDefinitionException>(() =>
            ComponentHarness.StartAsync(o => o.AddComponent<ICart, GetOnlyCart>()));

        Assert.Contains("GetOnlyCartState", e.Message);
        Assert.Contains("Items", e.Message);
    }

    [Fact]
    public async Task State_a_converter_of_your_own_loses_fails_at_the_first_checkpoint_and_in_StateOf()
    {
        await using var h = await ComponentHarness.StartAsync(o =>
        {
            o.AddComponent<ICart, LossyCart>();
            o.CrashAfterEachTurn = true;
        });

        var cart = h.Get<ICart>("c");
        Assert.Equal(1, await cart.Add("apple"));
        var e = await Assert.ThrowsAsync<RecoveryCheckException>(() => cart.Note("leave at the door"));

        Assert.Equal(RecoveryCheck.Checkpoint, e.Check);
        Assert.Equal(2, e.Seq);
        Assert.Equal("Note", e.Method);
        Assert.Equal("$.Note is written as \"leave at the door\" and reads back as \"leave\"", e.Actual);
        var inspected = await Assert.ThrowsAsync<RecoveryCheckException>(() => h.StateOfAsync<ICart, LossyCartState>("c"));
        Assert.Equal(RecoveryCheck.Checkpoint, inspected.Check);
    }

    [Fact]
    public async Task A_state_that_round_trips_passes_and_survives_crashes_on_a_sqlite_store()
    {
        await using var h = await ComponentHarness.StartAsync(o =>
        {
            o.AddComponent<ICart, GoodCart>().UseSqlite();
            o.CrashAfterEachTurn = true;
        });

        var cart = h.Get<ICart>("c");
        Assert.Equal(1, await cart.Add("apple"));
        Assert.Equal("leave at the door", await cart.Note("leave at the door"));
        Assert.Equal(2, await cart.Add("pear"));

        var state = await h.StateOfAsync<ICart, CartState>("c");
        Assert.Equal(["apple", "pear"], state.Items);
        Assert.Equal("leave at the door", state.Note);
        Assert.Equal(3, h.Crashes);
    }

    [Fact]
    public async Task A_back_end_write_outside_the_procedure_is_reported_and_runs_twice_after_a_crash_in_its_turn()
    {
        await using var h = await ComponentHarness.StartAsync(o => o
            .AddComponent<IShop, ReadPostingShop>()
            .AddSqliteBackend(Orders.Backend, Orders.CreateTable));

        h.CrashInNextTurn();
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => h.Call<IShop>("s", "order-1").PlaceOrder("book"));

        Assert.Contains("Shop/s.PlaceOrder (request order-1) wrote to back end 'orders' (table orders) outside an idempotent procedure", e.Message);
        Assert.Contains("ExecuteAsync", e.Message);
        // What that means: the crash came after the write and before the turn was durable, and the retry wrote again.
        Assert.Equal(1, h.Crashes);
        Assert.Equal(2, h.Backend(Orders.Backend).Scalar<long>("SELECT COUNT(*) FROM orders"));
        Assert.Equal(2, h.Backend(Orders.Backend).UnrecordedWrites.Count);
        Assert.Empty(h.Backend(Orders.Backend).Executions);
    }

    [Fact]
    public async Task Back_end_work_in_the_procedure_runs_once_across_a_crash_in_its_turn_under_its_deterministic_id()
    {
        await using var h = await ComponentHarness.StartAsync(o => o
            .AddComponent<IShop, ProcedureShop>()
            .AddSqliteBackend(Orders.Backend, Orders.CreateTable));

        h.CrashInNextTurn();
        Assert.Equal(1, await h.Call<IShop>("s", "order-1").PlaceOrder("book"));
        Assert.Equal(1, await h.Call<IShop>("s", "order-1").PlaceOrder("book")); // a client's retry: the first reply

        Assert.Equal(1, h.Crashes);
        var backend = h.Backend(Orders.Backend);
        Assert.Equal(1, backend.Scalar<long>("SELECT COUNT(*) FROM orders"));
        var run = Assert.Single(backend.Executions);
        Assert.Equal("Shop/s:1:1", run.RequestId); // the turn's partial record pinned seq 1; the final record came later
        Assert.Equal("place-order", run.Procedure);
        Assert.Equal("done", run.Status);
        Assert.Empty(backend.UnrecordedWrites);
    }

    [Fact]
    public async Task The_sample_teller_and_accounts_pass_a_crash_after_every_turn()
    {
        await using var h = await ComponentHarness.StartAsync(o =>
        {
            o.AddComponent<IAccount, Account>().AddComponent<ITeller, Teller>().UseSqlite()
                .AddSqliteBackend(Ledger.BackendName, Ledger.CreateTableSql);
            o.CrashAfterEachTurn = true;
        });

        Assert.Equal(100, await h.Get<IAccount>("alice").Deposit(100));
        Assert.Equal(20, await h.Get<IAccount>("bob").Deposit(20));
        Assert.Equal(70, await h.Get<IAccount>("alice").Withdraw(30));
        var teller = h.Get<ITeller>("t1");
        Assert.Equal(1, await teller.Transfer("alice", "bob", 50));
        await Assert.ThrowsAsync<InsufficientFundsException>(() => teller.Transfer("alice", "bob", 500)); // recorded, moves nothing
        Assert.Equal(2, await teller.Transfer("bob", "alice", 10));
        Assert.Equal(30, await h.Get<IAccount>("alice").Balance());

        Assert.Equal(30, (await h.StateOfAsync<IAccount, AccountState>("alice")).Balance);
        Assert.Equal(60, (await h.StateOfAsync<IAccount, AccountState>("bob")).Balance);
        var totals = await h.StateOfAsync<ITeller, TellerState>("t1");
        Assert.Equal((2, 60), (totals.Transfers, totals.Moved));
        var posting = Assert.Single(h.Backend(Ledger.BackendName).Executions);
        Assert.Equal("Account/alice:2:1", posting.RequestId);
        Assert.Equal(1, h.Backend(Ledger.BackendName).Scalar<long>("SELECT COUNT(*) FROM ledger"));
        Assert.Equal(7, h.Crashes);
    }

    [Fact]
    public async Task A_crash_between_two_turns_keeps_state_and_exactly_once_replies()
    {
        await using var h = await ComponentHarness.StartAsync(o => o.AddComponent<IAccount, Account>().AddComponent<ITeller, Teller>());

        Assert.Equal(100, await h.Call<IAccount>("a", "deposit-1").Deposit(100));
        await h.CheckpointAsync<IAccount>("a");
        Assert.Equal(150, await h.Get<IAccount>("a").Deposit(50));
        await h.CrashAsync();

        Assert.Equal(100, await h.Call<IAccount>("a", "deposit-1").Deposit(100)); // the recorded reply, not a second deposit
        Assert.Equal(150, await h.Get<IAccount>("a").Balance());
        Assert.Equal(1, h.Crashes);
    }

    [Fact]
    public async Task Data_kept_in_a_field_instead_of_state_is_gone_after_the_crash_and_the_test_sees_it()
    {
        await using var h = await ComponentHarness.StartAsync(o =>
        {
            o.AddComponent<ICounter, FieldCounter>().AddComponent<IStamp, ContextStamp>();
            o.CrashAfterEachTurn = true;
        });

        var counter = h.Get<ICounter>("c");
        Assert.Equal(1, await counter.Next());
        Assert.Equal(1, await counter.Next()); // a correct component answers 2: see the next test
    }

    [Fact]
    public async Task A_counter_in_state_counts_on_across_crashes()
    {
        await using var h = await ComponentHarness.StartAsync(o =>
        {
            o.AddComponent<ICounter, StateCounter>();
            o.CrashAfterEachTurn = true;
        });

        var counter = h.Get<ICounter>("c");
        for (var i = 1; i <= 3; i++) Assert.Equal(i, await counter.Next());
    }

    [Fact]
    public async Task Without_the_per_turn_checks_a_divergence_shows_after_a_crash_as_in_production_a_quarantine()
    {
        await using var h = await ComponentHarness.StartAsync(o => o.AddComponent<IStamp, ClockStamp>());

        await h.Get<IStamp>("s").Stamp();
        await h.CrashAsync();
        var e = await Assert.ThrowsAsync<ComponentQuarantinedException>(() => h.Get<IStamp>("s").Stamp());

        Assert.Contains("diverged at seq 1 (Stamp)", e.Message + e.InnerException?.Message + e.Quarantine.Reason);
    }

    [Fact]
    public async Task A_transfer_whose_record_is_lost_in_a_crash_is_completed_once_with_the_same_account_calls()
    {
        await using var h = await ComponentHarness.StartAsync(o => o
            .AddComponent<IAccount, Account>().AddComponent<ITeller, Teller>()
            .AddSqliteBackend(Ledger.BackendName, Ledger.CreateTableSql));
        await h.Get<IAccount>("a").Deposit(100);

        h.CrashInNextTurn(); // the first turn record of the transfer (the debit of "a") never becomes durable
        Assert.Equal(1, await h.Call<ITeller>("t", "transfer-1").Transfer("a", "b", 40));
        Assert.Equal(1, await h.Call<ITeller>("t", "transfer-1").Transfer("a", "b", 40));

        Assert.Equal(1, h.Crashes);
        Assert.Equal(60, await h.Get<IAccount>("a").Balance());
        Assert.Equal(40, await h.Get<IAccount>("b").Balance());
        Assert.Equal(1, (await h.StateOfAsync<ITeller, TellerState>("t")).Transfers);
    }
}
