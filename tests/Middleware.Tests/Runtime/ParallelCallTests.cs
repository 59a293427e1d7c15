using System.Collections.Concurrent;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Recovery.Log;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;
using Middleware.Tests.Support;

namespace Middleware.Tests.Runtime;

/// <summary>A component that calls two counters at once.</summary>
public interface IFanOut : IRecoverableComponent
{
    /// <summary>Adds <paramref name="amount"/> to <paramref name="first"/> and ten times it to <paramref name="second"/>, in parallel.</summary>
    Task<long> AddToBoth(string first, string second, long amount);

    /// <summary>Calls <paramref name="first"/> twice in a row while a call to <paramref name="second"/> runs beside them: the second call to <paramref name="first"/> depends on which reply comes first.</summary>
    Task<long> AgainAfterFirst(string first, string second, long amount);

    [ReadOnlyTurn]
    Task<FanOutState> Read();
}

public sealed class FanOutState
{
    public long Turns { get; set; }

    public long Sum { get; set; }
}

public sealed class FanOut : RecoverableGrain<FanOutState>, IFanOut
{
    public async Task<long> AddToBoth(string first, string second, long amount)
    {
        var replies = await Task.WhenAll(Context.Call<ICounter>(first).Add(amount), Context.Call<ICounter>(second).Add(amount * 10));
        State.Turns++;
        State.Sum += replies[0] + replies[1];
        return replies[0] + replies[1];
    }

    public async Task<long> AgainAfterFirst(string first, string second, long amount)
    {
        async Task<long> Twice() => await Context.Call<ICounter>(first).Add(amount) + await Context.Call<ICounter>(first).Add(amount);
        var replies = await Task.WhenAll(Twice(), Context.Call<ICounter>(second).Add(amount));
        return replies[0] + replies[1];
    }

    public Task<FanOutState> Read() => Task.FromResult(State);
}

/// <summary>
/// Several outbound calls outstanding in one turn (<c>await Task.WhenAll(Context.Call…, Context.Call…)</c>): ordinals in
/// program order whatever order the replies come in, one partial record for all of them, the outcomes recorded by
/// ordinal so replay and a turn completed after a crash reach the same ids with the same arguments.
/// </summary>
public sealed class ParallelCallTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    private static ComponentRegistry Registry() => new ComponentRegistry().Add<ICounter, Counter>().Add<IFanOut, FanOut>();

    private static async Task<List<(LogRecord Record, TurnRecord Turn)>> LogOf(ILogStore store, string id)
    {
        var head = await store.GetHeadAsync(id);
        var records = head is null ? [] : await store.ReadAsync(id, 1, head.LastSeq);
        return records.Select(r => (r, RecordCodec.DecodeTurn(r.Payload))).ToList();
    }

    [Fact]
    public async Task Calls_outstanding_together_are_numbered_in_program_order_whichever_reply_comes_first_and_replay_without_calling_out()
    {
        var store = new MemoryLogStore();
        var caller = new HoldingCaller();
        var rt = new LocalRuntime(store, Registry(), environment: new RuntimeEnvironment { Caller = caller });
        caller.Runtime = rt;
        await using (rt)
        {
            // Both calls leave before either reply; the second one's reply is let through first.
            caller.Hold("Counter/a");
            caller.Hold("Counter/b");
            var turn = rt.Call<IFanOut>("f", "q1").AddToBoth("a", "b", 2);
            await caller.WaitForAsync(2).WaitAsync(Deadline);
            caller.Release("Counter/b");
            await caller.CompletedAsync("Counter/b").WaitAsync(Deadline);
            Assert.False(turn.IsCompleted);
            caller.Release("Counter/a");
            Assert.Equal(22, await turn.WaitAsync(Deadline));
        }

        Assert.Equal(["FanOut/f:1:1", "FanOut/f:1:2"], caller.Calls.Select(c => c.RequestId).Order());
        Assert.Equal(("Counter/a", "Counter/b"), (caller.Calls.Single(c => c.RequestId == "FanOut/f:1:1").Target.ToString(), caller.Calls.Single(c => c.RequestId == "FanOut/f:1:2").Target.ToString()));
        var log = await LogOf(store, "FanOut/f");
        // One partial record pins the seq for both calls; the final record lists the outcomes by ordinal.
        Assert.Equal([RecordKind.PartialTurn, RecordKind.Turn], log.Select(l => l.Record.Kind));
        Assert.Equal([(1, "Counter/a", "2"), (2, "Counter/b", "20")], log[1].Turn.Outbound.Select(o => (o.Ordinal, o.Target, o.Outcome.ToString())));

        // A new runtime replays the turn from the recorded outcomes: no call goes out, the state is the same.
        var caller2 = new HoldingCaller();
        var rt2 = new LocalRuntime(store, Registry(), environment: new RuntimeEnvironment { Caller = caller2 });
        caller2.Runtime = rt2;
        await using (rt2)
        {
            var state = await rt2.Call<IFanOut>("f", "read").Read();
            Assert.Equal((1, 22), (state.Turns, state.Sum));
            Assert.Equal(22, await rt2.Call<IFanOut>("f", "q1").AddToBoth("a", "b", 2));
            Assert.Empty(caller2.Calls);
        }
    }

    [Fact]
    public async Task A_turn_whose_parallel_calls_took_effect_but_whose_final_record_failed_is_completed_with_the_same_ids_and_each_call_counts_once()
    {
        var store = new FaultInjectingStore(new MemoryLogStore());
        var caller = new HoldingCaller();
        var rt = new LocalRuntime(store, Registry(), environment: new RuntimeEnvironment { Caller = caller });
        caller.Runtime = rt;
        await using (rt)
        {
            // Both counters commit their turns; the fan-out's final record fails (a crash between the calls and the commit).
            store.Inject(FaultMode.Fail, count: 1, where: g => g.ComponentId == "FanOut/f" && g.Records.Any(r => r.Kind == RecordKind.Turn));
            await Assert.ThrowsAnyAsync<TurnNotDurableException>(() => rt.Call<IFanOut>("f", "q1").AddToBoth("a", "b", 3).WaitAsync(Deadline));

            // The retry completes the turn in doubt from its partial record: the same two ids again, answered by the
            // counters' dedup, so each counter moved once.
            Assert.Equal(33, await rt.Call<IFanOut>("f", "q1").AddToBoth("a", "b", 3).WaitAsync(Deadline));
            Assert.Equal(3, await rt.Call<ICounter>("a", "ra").Get());
            Assert.Equal(30, await rt.Call<ICounter>("b", "rb").Get());
        }

        Assert.Equal(["FanOut/f:1:1", "FanOut/f:1:1", "FanOut/f:1:2", "FanOut/f:1:2"], caller.Calls.Select(c => c.RequestId).Order());
        Assert.Single(await LogOf(store.Inner, "Counter/a"));
        Assert.Single(await LogOf(store.Inner, "Counter/b"));
        var log = await LogOf(store.Inner, "FanOut/f");
        Assert.Equal([RecordKind.PartialTurn, RecordKind.Turn], log.Select(l => l.Record.Kind));
        Assert.Equal(["FanOut/f:1:1", "FanOut/f:1:2"], log[1].Turn.Outbound.Select(o => o.RequestId));
    }

    [Fact]
    public async Task A_call_whose_place_depends_on_which_reply_came_first_is_refused_with_the_fix_and_nothing_is_recorded_as_final()
    {
        var store = new MemoryLogStore();
        var caller = new HoldingCaller();
        var rt = new LocalRuntime(store, Registry(), environment: new RuntimeEnvironment { Caller = caller });
        caller.Runtime = rt;
        await using (rt)
        {
            caller.Hold("Counter/a");
            caller.Hold("Counter/b");
            var turn = rt.Call<IFanOut>("f", "q1").AgainAfterFirst("a", "b", 1);
            await caller.WaitForAsync(2).WaitAsync(Deadline);
            // The reply for a comes while the call to b is outstanding: the second call to a would take an ordinal that
            // depends on that order.
            caller.Release("Counter/a");
            await caller.CompletedAsync("Counter/a").WaitAsync(Deadline);
            // "nothing happens within T": the continuation after a's reply runs while b is still held (it needs
            // microseconds) and must not send the second call to a; nothing outside the turn shows that it ran.
            await Task.Delay(500);
            caller.Release("Counter/b");
            var e = await Assert.ThrowsAnyAsync<Exception>(() => turn.WaitAsync(Deadline));
            Assert.Contains("Task.WhenAll", Flatten(e), StringComparison.Ordinal);

            // The second call to a never left in that attempt, and no final record claims an order replay could not
            // reproduce (the attempt is not the component's answer: the turn stays in doubt, like an outage).
            Assert.DoesNotContain(caller.Calls, c => c.RequestId == "FanOut/f:1:3");
            Assert.DoesNotContain(await LogOf(store, "FanOut/f"), l => l.Record.Kind == RecordKind.Turn);
        }
    }

    private static string Flatten(Exception e)
    {
        var text = "";
        for (Exception? x = e; x is not null; x = x.InnerException) text += x.Message + " | ";
        return text;
    }

    /// <summary>Delivers calls to a runtime; calls to a held target wait until released, so replies can be let through in any order.</summary>
    private sealed class HoldingCaller : IComponentCaller
    {
        private readonly ConcurrentDictionary<string, TaskCompletionSource> _gates = new(StringComparer.Ordinal);
        private readonly ConcurrentDictionary<string, TaskCompletionSource> _completed = new(StringComparer.Ordinal);

        public LocalRuntime? Runtime { get; set; }

        public ConcurrentQueue<Invocation> Calls { get; } = new();

        public void Hold(string target) => _gates[target] = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Release(string target) => _gates[target].TrySetResult();

        public Task CompletedAsync(string target) => Completion(target).Task;

        public Task WaitForAsync(int count) => Eventually.TrueAsync(() => Calls.Count >= count, $"{count} outbound calls");

        public async Task<ComponentReply> InvokeAsync(Invocation invocation, CancellationToken cancellationToken)
        {
            Calls.Enqueue(invocation);
            var target = invocation.Target.ToString();
            if (_gates.TryGetValue(target, out var gate)) await gate.Task.ConfigureAwait(false);
            var reply = await (Runtime ?? throw new InvalidOperationException("no runtime")).InvokeAsync(invocation, cancellationToken).ConfigureAwait(false);
            Completion(target).TrySetResult();
            return reply;
        }

        private TaskCompletionSource Completion(string target) =>
            _completed.GetOrAdd(target, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
    }
}
