using Middleware.Core;
using Middleware.Grains;
using Middleware.Recovery.Log;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;
using Middleware.TestComponents;
using Middleware.Tests.Support;

namespace Middleware.Tests.Runtime;

/// <summary>
/// Call deadlines and deadlocks across separate requests on one runtime: a deadline settles the callee's request id
/// through the outcome protocol (the real reply when it committed, else a fence and a recorded CallTimeoutException),
/// and a cycle of waits is broken at once with a DeadlockException on the youngest waiter.
/// </summary>
public sealed class CallDeadlineTests
{
    /// <summary>A hang must fail the test, not the run.</summary>
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    private static ComponentRegistry Registry() => new ComponentRegistry().Add<IPeer, Peer>();

    private static string Gate(string what) => $"{what}-{Guid.NewGuid():N}";

    private static Task WaitUntilAsync(Func<bool> condition, string what) => Eventually.TrueAsync(condition, what, Patience);

    private static long Cancelled(LocalRuntime runtime, string cause) =>
        runtime.Counters.Snapshot().GetValueOrDefault((RuntimeCounters.CallCancelled, cause));

    private static async Task<TurnRecord> LastTurnAsync(ILogStore store, string component)
    {
        var head = await store.GetHeadAsync(component) ?? throw new InvalidOperationException($"no log for {component}");
        var records = await store.ReadAsync(component, 1, head.LastSeq);
        return RecordCodec.DecodeTurn(records.Last(r => r.Kind == RecordKind.Turn).Payload);
    }

    [Fact]
    public async Task A_deadline_that_fires_while_the_callee_runs_the_request_gives_the_callers_turn_the_real_reply()
    {
        var store = new MemoryLogStore();
        var work = Gate("work");
        await using var runtime = new LocalRuntime(store, Registry(), new RuntimeOptions { CallTimeout = TimeSpan.FromMilliseconds(150) });

        // The callee starts the request and takes longer than the deadline.
        var call = runtime.Call<IPeer>("a", "r1").CallPeer("b", 0, "", work, 0);
        await WaitUntilAsync(() => PeerGates.Arrived(work) == 1, "the callee to start the request");
        await WaitUntilAsync(() => Cancelled(runtime, "deadline") == 1, "the deadline to pass");
        Assert.False(call.IsCompleted);

        // The outcome query waits for the running request; it commits, and that reply is the call's outcome.
        PeerGates.Open(work);
        Assert.Equal("reply:1", await call.WaitAsync(Patience));
        Assert.Equal(1, (await runtime.Call<IPeer>("b", "read").Read()).Worked);
        var outbound = Assert.Single((await LastTurnAsync(store, "Peer/a")).Outbound);
        Assert.Equal("1", outbound.Outcome.ToString());
    }

    [Fact]
    public async Task A_deadline_on_a_callee_that_never_commits_fences_it_and_records_CallTimeoutException_which_replay_reproduces()
    {
        var store = new MemoryLogStore();
        var hold = Gate("hold");
        string outcome, requestId;
        await using (var runtime = new LocalRuntime(store, Registry()))
        {
            // b is busy with another request that waits on a call of its own, so the call from a queues behind it.
            var busy = runtime.Call<IPeer>("b", "busy").Forward("c", hold);
            await WaitUntilAsync(() => PeerGates.Arrived(hold) == 1, "b to wait on c");

            // The per-call deadline (300 ms) passes, not the runtime's (30 s).
            outcome = await runtime.Call<IPeer>("a", "r1").CallPeer("b", 0, "", "", 300).WaitAsync(Patience);
            Assert.StartsWith("CallTimeoutException:", outcome);
            Assert.Contains("300 ms", outcome);
            Assert.Equal(1, Cancelled(runtime, "deadline"));

            // The call's outcome is recorded in a's turn, and its request id is fenced on b: it never runs, even once b is free.
            var outbound = Assert.Single((await LastTurnAsync(store, "Peer/a")).Outbound);
            requestId = outbound.RequestId;
            Assert.Equal(typeof(CallTimeoutException).FullName, outbound.Outcome.ErrorType);
            PeerGates.Open(hold);
            Assert.Equal(1, await busy.WaitAsync(Patience));
            Assert.False((await runtime.GetOutcomeAsync(new ComponentId("Peer", "b"), requestId)).Committed);
            Assert.Equal(0, (await runtime.Call<IPeer>("b", "read").Read()).Worked);
            var fence = RequestOutcome.FencedErrorType;
            Assert.Equal(fence, (await runtime.InvokeAsync(new Invocation(new ComponentId("Peer", "b"), requestId, "Work", "[\"\"]"u8.ToArray()))).ErrorType);
        }

        // A new runtime replays a's turn with the recorded outcome, answers a retry with it, and b still never ran the id.
        await using (var replayed = new LocalRuntime(store, Registry()))
        {
            Assert.Equal([outcome], (await replayed.Call<IPeer>("a", "read").Read()).Outcomes);
            Assert.Equal(outcome, await replayed.Call<IPeer>("a", "r1").CallPeer("b", 0, "", "", 300));
            Assert.False((await replayed.GetOutcomeAsync(new ComponentId("Peer", "b"), requestId)).Committed);
            Assert.Equal(0, (await replayed.Call<IPeer>("b", "read").Read()).Worked);
            var head = await store.GetHeadAsync("Peer/b");
            var kinds = (await store.ReadAsync("Peer/b", 1, head!.LastSeq)).Select(r => r.Kind).ToList();
            // The fence went in aside while b's turn waited on c: between its partial record and its final one.
            Assert.Equal([RecordKind.PartialTurn, RecordKind.Fence, RecordKind.Turn], kinds.Take(3));
        }
    }

    [Fact]
    public async Task Two_requests_that_wait_on_each_other_are_broken_at_once_with_DeadlockException_naming_the_cycle()
    {
        var store = new MemoryLogStore();
        var both = Gate("both");
        string[] results;
        await using (var runtime = new LocalRuntime(store, Registry()))
        {
            // a's turn calls b while b's turn (another request) calls a. The runtime's deadline is 30 s: not what breaks it.
            var first = runtime.Call<IPeer>("a", "r1").CallPeer("b", 0, both, "", 0);
            var second = runtime.Call<IPeer>("b", "r2").CallPeer("a", 0, both, "", 0);
            await WaitUntilAsync(() => PeerGates.Arrived(both) == 2, "both turns to start");
            PeerGates.Open(both);
            results = await Task.WhenAll(first, second).WaitAsync(Patience);

            var victim = Assert.Single(results, r => r.StartsWith("DeadlockException:", StringComparison.Ordinal));
            Assert.Contains("Peer/a -> Peer/b -> Peer/a", victim.Replace("Peer/b -> Peer/a -> Peer/b", "Peer/a -> Peer/b -> Peer/a"));
            Assert.Single(results, r => r == "reply:1");
            Assert.Equal(1, Cancelled(runtime, "deadlock"));
            Assert.Equal(0, Cancelled(runtime, "deadline"));
            Assert.Equal(0, runtime.WaitingCalls);
        }

        // Replay reproduces both outcomes.
        await using var replayed = new LocalRuntime(store, Registry());
        Assert.Equal([results[0]], (await replayed.Call<IPeer>("a", "read").Read()).Outcomes);
        Assert.Equal([results[1]], (await replayed.Call<IPeer>("b", "read").Read()).Outcomes);
    }

    [Fact]
    public void A_call_timeout_out_of_range_is_refused_naming_the_setting()
    {
        var e = Assert.Throws<ArgumentException>(() => new RuntimeOptions { CallTimeout = TimeSpan.Zero }.Validate());
        Assert.Contains("CallTimeout", e.Message);
        Assert.Contains("Timeout.InfiniteTimeSpan", e.Message);
    }
}
