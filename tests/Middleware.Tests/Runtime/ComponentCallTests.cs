using System.Text;
using Bank;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Recovery.Log;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;
using Middleware.Tests.Support;

namespace Middleware.Tests.Runtime;

/// <summary>Component-to-component calls inside turns: recording, replay, errors, cycles, read-only turns.</summary>
public sealed class ComponentCallTests
{
    /// <summary>A deadlock must fail the test, not hang the run.</summary>
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    private static (LocalRuntime Runtime, RecordingCaller Caller) NewRuntime(ILogStore store, ComponentRegistry? registry = null, RuntimeOptions? options = null)
    {
        var caller = new RecordingCaller();
        var runtime = new LocalRuntime(store, registry ?? CallRegistries.Default(), options, new RuntimeEnvironment { Caller = caller });
        caller.Runtime = runtime;
        return (runtime, caller);
    }

    private static async Task<List<(LogRecord Record, TurnRecord? Turn)>> LogOf(ILogStore store, string id)
    {
        var head = await store.GetHeadAsync(id);
        var records = head is null ? [] : await store.ReadAsync(id, 1, head.LastSeq);
        return records.Select(r => (r, r.Kind == RecordKind.Fence ? null : (TurnRecord?)RecordCodec.DecodeTurn(r.Payload))).ToList();
    }

    [Fact]
    public async Task A_component_call_is_stabilized_recorded_and_replayed_without_calling_out()
    {
        var store = new MemoryLogStore();
        var (rt, caller) = NewRuntime(store);
        await using (rt)
        {
            Assert.Equal(5, await rt.Call<IRelay>("r", "q1").AddTo("c", 5).WaitAsync(Deadline));
            Assert.Equal(8, await rt.Call<IRelay>("r", "q2").AddTo("c", 3).WaitAsync(Deadline));

            // A repeat is answered from the caller's log: the callee is not called again.
            Assert.Equal(5, await rt.Call<IRelay>("r", "q1").AddTo("c", 5));
            Assert.Equal(2, caller.Count());
        }

        // The outbound ids are componentId:turnSeq:ordinal, the seq pinned by each turn's partial record.
        Assert.Equal(["Relay/r:1:1", "Relay/r:3:1"], caller.Calls.Select(c => c.RequestId));
        Assert.All(caller.Calls, c => Assert.Equal("Relay/r", c.Caller));
        var log = await LogOf(store, "Relay/r");
        Assert.Equal([RecordKind.PartialTurn, RecordKind.Turn, RecordKind.PartialTurn, RecordKind.Turn], log.Select(l => l.Record.Kind));
        var call = Assert.Single(log[1].Turn!.Outbound);
        Assert.Equal((1, OutboundKind.Component, "Counter/c", "Relay/r:1:1", "Add", "[5]", "5"),
            (call.Ordinal, call.Kind, call.Target, call.RequestId, call.Operation, Encoding.UTF8.GetString(call.Args.Span), call.Outcome.ToString()));
        Assert.Equal(1, log[1].Turn!.TurnSeq);

        // The callee recorded the caller chain and the deterministic request id.
        var callee = await LogOf(store, "Counter/c");
        Assert.Equal([("Relay/r:1:1", "Relay/r"), ("Relay/r:3:1", "Relay/r")], callee.Select(l => (l.Turn!.RequestId, l.Turn.Caller!)));

        // A new runtime replays the caller's turns with the recorded outcomes: no call goes out.
        var (rt2, caller2) = NewRuntime(store);
        await using (rt2)
        {
            Assert.Equal(2, (await rt2.Call<IRelay>("r", "read").Read()).Calls);
            Assert.Equal(8, await rt2.Call<IRelay>("r", "q2").AddTo("c", 3));
            Assert.Equal(0, caller2.Count());
            Assert.Equal(8, await rt2.Call<ICounter>("c", "read").Get());
        }
    }

    [Fact]
    public async Task Without_a_caller_the_runtime_serves_component_calls_itself()
    {
        await using var rt = new LocalRuntime(new MemoryLogStore(), CallRegistries.Default());
        Assert.Equal(100, await rt.Call<IAccount>("a", "d1").Deposit(100));
        Assert.Equal(1, await rt.Call<ITeller>("t", "x1").Transfer("a", "b", 30).WaitAsync(Deadline));
        Assert.Equal(70, await rt.Call<IAccount>("a", "r").Balance());
        Assert.Equal(30, await rt.Call<IAccount>("b", "r").Balance());
    }

    [Fact]
    public async Task A_callee_error_arrives_as_its_exception_type_and_the_caller_can_catch_it()
    {
        var store = new MemoryLogStore();
        var (rt, caller) = NewRuntime(store);
        await using (rt)
        {
            Assert.Equal("InvalidOperationException: refused 5", await rt.Call<IRelay>("r", "q1").CatchFailure("c", 5).WaitAsync(Deadline));
            Assert.Equal(["refused 5"], (await rt.Call<IRelay>("r", "read").Read()).Seen);
            Assert.Equal(0, await rt.Call<ICounter>("c", "read").Get());

            // Not caught: the callee's exception fails the caller's turn (rolled back) and reaches the client.
            await rt.Call<IAccount>("a", "d1").Deposit(10);
            var e = await Assert.ThrowsAsync<InsufficientFundsException>(() => rt.Call<ITeller>("t", "x1").Transfer("a", "b", 50).WaitAsync(Deadline));
            Assert.Contains("balance is 10", e.Message);
            Assert.Equal(0, (await rt.Call<ITeller>("t", "read").Totals()).Transfers);
            Assert.Equal(0, await rt.Call<IAccount>("b", "read").Balance());

            // The retry gets the same recorded error without calling anything.
            var calls = caller.Count();
            await Assert.ThrowsAsync<InsufficientFundsException>(() => rt.Call<ITeller>("t", "x1").Transfer("a", "b", 50));
            Assert.Equal(calls, caller.Count());
        }

        var turn = (await LogOf(store, "Relay/r")).Last().Turn!;
        Assert.Equal("System.InvalidOperationException", Assert.Single(turn.Outbound).Outcome.ErrorType);

        // Replay (activation and audit-style re-execution) reproduces both turns with the recorded errors.
        var (rt2, caller2) = NewRuntime(store);
        await using (rt2)
        {
            Assert.Equal(["refused 5"], (await rt2.Call<IRelay>("r", "read").Read()).Seen);
            Assert.Equal(0, (await rt2.Call<ITeller>("t", "read").Totals()).Transfers);
            Assert.Equal(0, caller2.Count());
        }
    }

    [Fact]
    public async Task A_turn_resumed_after_a_lost_reply_reaches_the_callee_under_the_same_id_and_it_runs_once()
    {
        var store = new MemoryLogStore();
        var (rt, caller) = NewRuntime(store);
        await using (rt)
        {
            caller.FailAfterCallee(1);
            var e = await Assert.ThrowsAsync<ComponentInDoubtException>(() => rt.Call<IRelay>("r", "q1").StampAroundCall("c", 7).WaitAsync(Deadline));
            Assert.IsType<IOException>(e.InnerException);
            Assert.Equal(7, await rt.Call<ICounter>("c", "read").Get()); // the callee ran ...

            // ... the caller's turn did not: only its partial record is in the log. The retry resumes it.
            Assert.Equal(7, await rt.Call<IRelay>("r", "q1").StampAroundCall("c", 7).WaitAsync(Deadline));
            Assert.Equal(7, await rt.Call<ICounter>("c", "read").Get());
            Assert.Equal(1, (await rt.Call<IRelay>("r", "read").Read()).Calls);
        }

        Assert.Equal(["Relay/r:1:1", "Relay/r:1:1"], caller.Calls.Select(c => c.RequestId));
        Assert.Single(await LogOf(store, "Counter/c"));
        var log = await LogOf(store, "Relay/r");
        Assert.Equal([RecordKind.PartialTurn, RecordKind.Turn], log.Select(l => l.Record.Kind));

        // The resumed turn reused the time stamp its partial recorded before the call.
        var partial = log[0].Turn!;
        var final = log[1].Turn!;
        Assert.Equal(partial.Values[0], final.Values[0]);
        Assert.Equal(1, final.TurnSeq);

        var (rt2, caller2) = NewRuntime(store);
        await using (rt2)
        {
            Assert.Equal(1, (await rt2.Call<IRelay>("r", "read").Read()).Calls);
            Assert.Equal(0, caller2.Count());
        }
    }

    [Fact]
    public async Task A_component_that_catches_an_outage_cannot_compensate_for_a_turn_that_is_completed_later()
    {
        var store = new MemoryLogStore();
        var (rt, caller) = NewRuntime(store);
        await using (rt)
        {
            // The second call takes effect but its reply is lost (an outage, not an answer): the component's catch-all
            // must not get to take the first call back, because the turn is completed later with both calls standing.
            caller.FailAfterCallee(new ComponentId("Counter", "b"), 1);
            await Assert.ThrowsAsync<ComponentInDoubtException>(() => rt.Call<IRelay>("r", "q1").AddBothOrCompensate("a", "b", 5).WaitAsync(Deadline));
            Assert.Equal(5, await rt.Call<IRelay>("r", "q1").AddBothOrCompensate("a", "b", 5).WaitAsync(Deadline));
            Assert.Equal(5, await rt.Call<ICounter>("a", "read").Get());
            Assert.Equal(5, await rt.Call<ICounter>("b", "read").Get());
        }

        Assert.DoesNotContain(caller.Calls, c => c.RequestId.EndsWith(":3", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_direct_cycle_fails_fast_with_the_chain_and_is_recorded()
    {
        var store = new MemoryLogStore();
        var (rt, caller) = NewRuntime(store);
        await using (rt)
        {
            var e = await Assert.ThrowsAsync<CallCycleException>(() => rt.Call<IRelay>("a", "q1").CallSelf().WaitAsync(Deadline));
            Assert.StartsWith("call cycle: Relay/a -> Relay/a; turns are not reentrant, so this call would deadlock.", e.Message);
            Assert.Equal(0, caller.Count()); // refused before anything was sent

            // The component still serves, and the refused call is the recorded outcome of the turn.
            Assert.Equal(1, await rt.Call<IRelay>("a", "q2").Ping().WaitAsync(Deadline));
        }

        var turn = (await LogOf(store, "Relay/a")).First(l => l.Record.Kind == RecordKind.Turn).Turn!;
        Assert.Equal(typeof(CallCycleException).FullName, Assert.Single(turn.Outbound).Outcome.ErrorType);
        Assert.Equal(typeof(CallCycleException).FullName, turn.Reply.ErrorType);
        var (rt2, _) = NewRuntime(store);
        await using (rt2)
        {
            Assert.Equal(1, (await rt2.Call<IRelay>("a", "read").Read()).Calls); // replays without divergence
        }
    }

    [Fact]
    public async Task An_indirect_cycle_fails_fast_with_the_whole_chain_and_replays()
    {
        var store = new MemoryLogStore();
        var (rt, caller) = NewRuntime(store);
        const string chain = "call cycle: Relay/a -> Relay/b -> Relay/a;";
        await using (rt)
        {
            var e = await Assert.ThrowsAsync<CallCycleException>(() => rt.Call<IRelay>("a", "q1").Bounce("b").WaitAsync(Deadline));
            Assert.StartsWith(chain, e.Message);
            Assert.Contains("Restructure the calls", e.Message);
            Assert.StartsWith(chain, await rt.Call<IRelay>("a", "q2").BounceAndCatch("b").WaitAsync(Deadline));
            Assert.Equal([("Relay/b", "Relay/a"), ("Relay/b", "Relay/a")], caller.Calls.Select(c => (c.Target.ToString(), c.Caller!)));
        }

        var (rt2, caller2) = NewRuntime(store);
        await using (rt2)
        {
            var state = await rt2.Call<IRelay>("a", "read").Read();
            Assert.StartsWith(chain, Assert.Single(state.Seen));
            Assert.Equal(0, caller2.Count());
        }
    }

    [Fact]
    public async Task The_receiving_side_refuses_an_invocation_whose_chain_contains_the_target()
    {
        await using var rt = new LocalRuntime(new MemoryLogStore(), CallRegistries.Default());
        var inv = new Invocation(new ComponentId("Relay", "a"), "x1", "Ping", "[]"u8.ToArray(), null, CallChain.Append(CallChain.Append(null, new ComponentId("Relay", "a")), new ComponentId("Relay", "b")));
        var e = await Assert.ThrowsAsync<CallCycleException>(() => rt.InvokeAsync(inv).WaitAsync(Deadline));
        Assert.StartsWith("call cycle: Relay/a -> Relay/b -> Relay/a;", e.Message);
        Assert.Equal(0, rt.ActivationCount);
    }

    [Fact]
    public void Call_chains_escape_ids_that_contain_the_separator()
    {
        var odd = new ComponentId("Account", @"a|b\c");
        var plain = new ComponentId("Teller", "1");
        var chain = CallChain.Append(CallChain.Append(null, plain), odd);
        Assert.Equal(["Teller/1", @"Account/a|b\c"], CallChain.Parse(chain));
        Assert.True(CallChain.Contains(chain, odd));
        Assert.True(CallChain.Contains(chain, plain));
        Assert.False(CallChain.Contains(chain, new ComponentId("Account", "a")));
        Assert.False(CallChain.Contains(chain, new ComponentId("Account", "b\\c")));
        Assert.Equal(@"Teller/1 -> Account/a|b\c -> Teller/1", CallChain.Display(chain, plain));
        Assert.Empty(CallChain.Parse(null));
        Assert.Equal("Teller/1", CallChain.Append(null, plain));
    }

    [Fact]
    public void A_chain_without_escapes_is_searched_entry_by_entry()
    {
        var chain = CallChain.Append(CallChain.Append(CallChain.Append(null, new ComponentId("Teller", "1")), new ComponentId("Account", "ab")), new ComponentId("Bank", "x/y"));
        Assert.True(CallChain.Contains(chain, new ComponentId("Teller", "1")));
        Assert.True(CallChain.Contains(chain, new ComponentId("Account", "ab")));
        Assert.True(CallChain.Contains(chain, new ComponentId("Bank", "x/y")));
        // Prefixes, suffixes, another split of the same text, and an id with the separator in its key are not entries.
        Assert.False(CallChain.Contains(chain, new ComponentId("Account", "a")));
        Assert.False(CallChain.Contains(chain, new ComponentId("Account", "abc")));
        Assert.False(CallChain.Contains(chain, new ComponentId("Teller", "11")));
        Assert.False(CallChain.Contains(chain, new ComponentId("Bank", "x")));
        Assert.False(CallChain.Contains(chain, new ComponentId("Teller", "1|Account/ab")));
        Assert.False(CallChain.Contains(chain, new ComponentId("Accoun", "t/ab")));
        Assert.False(CallChain.Contains("Teller/1", new ComponentId("Teller", "1/")));
        Assert.True(CallChain.Contains("Teller/1", new ComponentId("Teller", "1")));
        Assert.False(CallChain.Contains(null, new ComponentId("Teller", "1")));
    }

    [Fact]
    public async Task Replay_reports_a_call_that_differs_from_the_recorded_one()
    {
        var store = new MemoryLogStore();
        var (rt, _) = NewRuntime(store);
        await using (rt)
        {
            await rt.Call<IRelay>("r", "q1").AddTo("c", 5);
        }

        var changed = new ComponentRegistry().Add<ICounter, Counter>().Add<IRelay, RelayAddingOne>();
        var (rt2, caller2) = NewRuntime(store, changed);
        await using (rt2)
        {
            var e = Assert.IsType<ReplayDivergenceException>((await Assert.ThrowsAsync<ComponentQuarantinedException>(() => rt2.Call<IRelay>("r", "read").Read())).InnerException);
            Assert.Equal(2, e.Seq);
            Assert.Contains("component Counter/c.Add([5])", e.Expected);
            Assert.Contains("component Counter/c.Add([6])", e.Actual);
            Assert.Equal(0, caller2.Count());
        }
    }

    [Fact]
    public async Task A_read_only_turn_may_call_read_only_methods_only()
    {
        var (rt, caller) = NewRuntime(new MemoryLogStore());
        await using (rt)
        {
            await rt.Call<ICounter>("c", "a1").Add(4);
            Assert.Equal(4, await rt.Call<IRelay>("r", "p1").PeekCounter("c").WaitAsync(Deadline));
            var e = await Assert.ThrowsAsync<InvalidOperationException>(() => rt.Call<IRelay>("r", "p2").AddFromReadOnly("c").WaitAsync(Deadline));
            Assert.Contains("[ReadOnlyTurn]", e.Message);
            Assert.Equal(4, await rt.Call<ICounter>("c", "read").Get());
            Assert.Equal(1, caller.Count());
            Assert.Equal(0, (await rt.Store.GetHeadAsync("Relay/r"))!.LastSeq); // read-only turns are not logged
        }
    }

    [Fact]
    public async Task Components_can_be_unit_tested_with_fakes_for_their_calls_and_session_items()
    {
        var context = new TestComponentContext(new ComponentId("Teller", "t"));
        var accounts = new Dictionary<string, Account>();
        context.AddComponents<IAccount>(key => accounts[key] = ComponentTesting.Create<Account, AccountState>(context: new TestComponentContext(new ComponentId("Account", key))));
        var teller = ComponentTesting.Create<Teller, TellerState>(context: context);
        await context.Call<IAccount>("a").Deposit(100);
        Assert.Equal(1, await teller.Transfer("a", "b", 40));
        Assert.Equal(60, ComponentTesting.StateOf(accounts["a"]).Balance);
        Assert.Equal(40, ComponentTesting.StateOf(accounts["b"]).Balance);
        await Assert.ThrowsAsync<InsufficientFundsException>(() => teller.Transfer("b", "a", 41));

        var relayContext = new TestComponentContext(new ComponentId("Relay", "r")) { SessionId = "s1" };
        relayContext.SessionItems["lang"] = "fr";
        var relay = ComponentTesting.Create<Relay, RelayState>(context: relayContext);
        Assert.Equal("fr", await relay.RememberItem("lang"));
        Assert.Equal("(null)", await relay.RememberItem("other"));
        var missing = Assert.Throws<InvalidOperationException>(() => relayContext.Call<ICounter>("c"));
        Assert.Contains("AddComponent<ICounter>", missing.Message);
    }
}
