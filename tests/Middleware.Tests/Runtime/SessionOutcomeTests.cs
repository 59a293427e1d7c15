using System.Collections.Concurrent;
using System.Text;
using Middleware.Inspection.Audit;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Recovery.Log;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Sqlite;
using Middleware.Recovery.Storage;
using Middleware.Tests.Support;

namespace Middleware.Tests.Runtime;

/// <summary>
/// Session items, outcome queries and their fences, claim policies and deactivation, written once for every store: a
/// subclass opens the same store again on each call, so what one runtime wrote a second one (on a reopened store) sees.
/// </summary>
public abstract class SessionOutcomeTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);
    private static readonly ComponentId CounterC = new("Counter", "c");
    private static readonly ComponentId RelayR = new("Relay", "r");

    /// <summary>Opens the store under test (the same database every call).</summary>
    protected abstract Task<ILogStore> OpenStoreAsync();

    private static (LocalRuntime Runtime, RecordingCaller Caller) NewRuntime(ILogStore store, RuntimeEnvironment? environment = null)
    {
        var caller = new RecordingCaller();
        environment ??= new RuntimeEnvironment();
        environment.Caller = caller;
        var runtime = new LocalRuntime(store, CallRegistries.Default(), environment: environment);
        caller.Runtime = runtime;
        return (runtime, caller);
    }

    private static Invocation Add(string requestId, long amount) => new(CounterC, requestId, "Add", Encoding.UTF8.GetBytes($"[{amount}]"));

    [Fact]
    public async Task Session_items_are_recorded_and_replay_and_audits_see_the_recorded_value()
    {
        var items = new ConcurrentDictionary<(string Session, string Key), string> { [("s1", "lang")] = "fr" };
        RuntimeEnvironment Options() => new()
        {
            SessionItems = new DelegateSessionItems((session, key, _) => Task.FromResult(items.TryGetValue((session, key), out var v) ? v : null)),
        };

        await using (var store = await OpenStoreAsync())
        {
            var (rt, _) = NewRuntime(store, Options());
            await using (rt)
            {
                Assert.Equal("fr", await rt.Call<IRelay>("r", "q1", sessionId: "s1").RememberItem("lang"));
                Assert.Equal("(null)", await rt.Call<IRelay>("r", "q2", sessionId: "s1").RememberItem("unset"));
                Assert.Equal("(null)", await rt.Call<IRelay>("r", "q3").RememberItem("lang")); // no session: null
            }

            var records = await store.ReadAsync("Relay/r", 1, 3);
            var q1 = RecordCodec.DecodeTurn(records[0].Payload);
            Assert.Equal("s1", q1.SessionId);
            var value = Assert.Single(q1.Values);
            Assert.Equal((NondeterminismKind.SessionItem, 1L, "fr"), (value.Kind, value.Value, Encoding.UTF8.GetString(value.Bytes.Span)));
            Assert.Equal(0, Assert.Single(RecordCodec.DecodeTurn(records[1].Payload).Values).Value);
            Assert.Equal(0, Assert.Single(RecordCodec.DecodeTurn(records[2].Payload).Values).Value);
        }

        items[("s1", "lang")] = "de";
        await using (var store = await OpenStoreAsync())
        {
            var (rt, _) = NewRuntime(store, Options());
            await using (rt)
            {
                Assert.Equal(["fr", "(null)", "(null)"], (await rt.Call<IRelay>("r", "read").Read()).Seen);
                Assert.Equal("fr", await rt.Call<IRelay>("r", "q1", sessionId: "s1").RememberItem("lang"));
                Assert.Equal("de", await rt.Call<IRelay>("r", "q4", sessionId: "s1").RememberItem("lang"));
            }

            var audit = await new AuditEngine(store, CallRegistries.Default()).RunAsync(await store.ListComponentsAsync(), new AuditOptions { Mode = AuditMode.FromGenesis, Parallelism = 1 });
            Assert.Empty(audit.Divergences);
            Assert.Equal(4, audit.Turns);
        }
    }

    [Fact]
    public async Task A_session_store_that_fails_leaves_the_turn_unrecorded()
    {
        await using var store = await OpenStoreAsync();
        var (rt, _) = NewRuntime(store, new RuntimeEnvironment { SessionItems = new DelegateSessionItems((_, _, _) => throw new TimeoutException("session store down")) });
        await using (rt)
        {
            var e = await Assert.ThrowsAsync<TurnNotDurableException>(() => rt.Call<IRelay>("r", "q1", sessionId: "s1").RememberItem("lang"));
            Assert.Contains("session store down", e.Message);
        }

        // Nothing recorded (and, with the claim in the first write, not even claimed: the turn wrote nothing).
        Assert.Equal(0, (await store.GetHeadAsync("Relay/r"))?.LastSeq ?? 0);
    }

    [Fact]
    public async Task An_outcome_query_answers_committed_or_fences_the_id_durably()
    {
        await using (var store = await OpenStoreAsync())
        {
            var (rt, _) = NewRuntime(store);
            await using (rt)
            {
                Assert.Equal(5, await rt.Call<ICounter>("c", "r1").Add(5));
                var committed = await rt.GetOutcomeAsync(CounterC, "r1");
                Assert.True(committed.Committed);
                Assert.Equal("5", committed.Reply!.ToString());

                Assert.Equal(RequestOutcome.NotCommitted, await rt.GetOutcomeAsync(CounterC, "late"));
                var fence = (await store.ReadAsync("Counter/c", 2, 2)).Single();
                Assert.Equal(RecordKind.Fence, fence.Kind);
                Assert.Equal("late", RecordCodec.DecodeFence(fence.Payload).RequestId);

                // The late arrival is refused, whatever it carries; asking again answers the same without a new record.
                await AssertFencedAsync(rt, Add("late", 1));
                await AssertFencedAsync(rt, Add("late", 2));
                await AssertFencedAsync(rt, new Invocation(CounterC, "late", "Reset", "[]"u8.ToArray()));
                Assert.False((await rt.GetOutcomeAsync(CounterC, "late")).Committed);
                Assert.Equal(5, await rt.Call<ICounter>("c", "read").Get());
            }

            Assert.Equal(2, (await store.GetHeadAsync("Counter/c"))!.LastSeq);

            // An audit skips the fence: it is not a turn, and not a divergence.
            var audit = await new AuditEngine(store, CallRegistries.Default()).RunAsync(await store.ListComponentsAsync(), new AuditOptions { Mode = AuditMode.FromGenesis, Parallelism = 1 });
            Assert.Empty(audit.Divergences);
            Assert.Equal(1, audit.Turns);
        }

        // A new runtime on the reopened store replays the fence.
        await using (var store = await OpenStoreAsync())
        {
            var (rt, _) = NewRuntime(store);
            await using (rt)
            {
                await AssertFencedAsync(rt, Add("late", 1));
                Assert.False((await rt.GetOutcomeAsync(CounterC, "late")).Committed);
                Assert.True((await rt.GetOutcomeAsync(CounterC, "r1")).Committed);
                Assert.Equal(6, await rt.Call<ICounter>("c", "r2").Add(1));

                // A checkpoint carries the fence in its dedup entries (any arguments match), so truncation keeps it.
                await rt.CheckpointAsync(CounterC);
            }

            var entry = await store.FindRequestAsync("Counter/c", "late");
            Assert.NotNull(entry);
            Assert.Equal((DedupEntry.AnyArgs, 2L), (entry.ArgsHash, entry.Seq));
            Assert.Equal(RequestOutcome.FencedErrorType, RecordCodec.DecodeReply(entry.Reply).ErrorType);
            var head = await store.GetHeadAsync("Counter/c");
            Assert.Equal((3L, 3L), (head!.LastSeq, head.CheckpointSeq));
            await store.TruncateAsync("Counter/c", 4);
        }

        await using (var store = await OpenStoreAsync())
        {
            var (rt, _) = NewRuntime(store);
            await using (rt)
            {
                await AssertFencedAsync(rt, Add("late", 7));
                Assert.False((await rt.GetOutcomeAsync(CounterC, "late")).Committed);
                Assert.Equal("5", (await rt.GetOutcomeAsync(CounterC, "r1")).Reply!.ToString());
                Assert.Equal(6, await rt.Call<ICounter>("c", "read").Get());
            }

            Assert.Equal(3, (await store.GetHeadAsync("Counter/c"))!.LastSeq);
        }
    }

    private static async Task AssertFencedAsync(LocalRuntime rt, Invocation invocation)
    {
        var reply = await rt.InvokeAsync(invocation);
        Assert.Equal(RequestOutcome.FencedErrorType, reply.ErrorType);
        Assert.Contains($"Request '{invocation.RequestId}' on Counter/c was declared not committed by an outcome query and will never run", reply.ErrorMessage);
    }

    [Fact]
    public async Task An_outcome_query_waits_for_a_turn_in_flight()
    {
        await using var store = await OpenStoreAsync();
        var (rt, caller) = NewRuntime(store);
        await using (rt)
        {
            caller.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var running = rt.Call<IRelay>("r", "q1").AddTo("c", 2);
            await caller.AtGate.Task.WaitAsync(Deadline);
            var outcome = rt.GetOutcomeAsync(RelayR, "q1");
            await Task.Delay(100); // "nothing happens within T": the query must still wait while the turn is held
            Assert.False(outcome.IsCompleted);
            caller.Gate.SetResult();
            Assert.Equal(2, await running.WaitAsync(Deadline));
            var answer = await outcome.WaitAsync(Deadline);
            Assert.True(answer.Committed);
            Assert.Equal("2", answer.Reply!.ToString());
        }
    }

    [Fact]
    public async Task An_outcome_query_completes_an_in_doubt_turn_instead_of_fencing_it()
    {
        await using var store = await OpenStoreAsync();
        var (rt, caller) = NewRuntime(store);
        await using (rt)
        {
            caller.FailAfterCallee(1);
            await Assert.ThrowsAsync<ComponentInDoubtException>(() => rt.Call<IRelay>("r", "q1").AddTo("c", 7).WaitAsync(Deadline));

            // Its call already took effect on the counter, so the turn must not be declared uncommitted: it is resumed.
            var answer = await rt.GetOutcomeAsync(RelayR, "q1").WaitAsync(Deadline);
            Assert.True(answer.Committed);
            Assert.Equal("7", answer.Reply!.ToString());
            Assert.Equal(7, await rt.Call<ICounter>("c", "read").Get());
            Assert.Equal(7, await rt.Call<IRelay>("r", "q1").AddTo("c", 7));
        }

        Assert.Equal(["Relay/r:1:1", "Relay/r:1:1"], caller.Calls.Select(c => c.RequestId));
        Assert.Equal(1, (await store.GetHeadAsync("Counter/c"))!.LastSeq);
    }

    [Fact]
    public async Task A_claim_policy_that_names_a_live_owner_refuses_the_activation_and_caches_nothing()
    {
        await using var store = await OpenStoreAsync();
        var policyCalls = 0;
        var options = new RuntimeEnvironment
        {
            Ownership = new DelegateOwnership((_, _, _) =>
            {
                Interlocked.Increment(ref policyCalls);
                return Task.FromResult(new ClaimResult(null, "silo-b", "10.0.0.2:7000"));
            }),
        };
        var (rt, _) = NewRuntime(store, options);
        await using (rt)
        {
            var e = await Assert.ThrowsAsync<ComponentOwnedElsewhereException>(() => rt.Call<ICounter>("c", "r1").Add(1));
            Assert.Equal((CounterC, "silo-b", "10.0.0.2:7000"), (e.Component, e.Owner, e.OwnerAddress));
            Assert.Contains("silo-b", e.Message);
            Assert.Equal(0, rt.ActivationCount);
            Assert.False(rt.IsActive(CounterC));
            Assert.Empty(rt.ActiveComponents);

            // Nothing stuck in the table: the next request asks the policy again.
            await Assert.ThrowsAsync<ComponentOwnedElsewhereException>(() => rt.GetOutcomeAsync(CounterC, "r1"));
            Assert.Equal(2, policyCalls);
        }

        Assert.Null(await store.GetHeadAsync("Counter/c"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_activation_dropped_while_it_claims_is_replaced_and_the_request_runs_once(bool outcomeQuery)
    {
        // The silo is declared dead while a request's activation waits for its claim (a slow store under load): DropAll
        // ends that activation. The request must run once on a new activation, not fail with "discarded ... (activation)".
        await using var store = await OpenStoreAsync();
        var claims = 0;
        var atClaim = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var options = new RuntimeEnvironment
        {
            Ownership = new DelegateOwnership(async (id, epoch, ct) =>
            {
                if (Interlocked.Increment(ref claims) == 1)
                {
                    atClaim.SetResult();
                    await release.Task.WaitAsync(ct);
                }

                return await store.ClaimAsync(new ClaimRequest(id, epoch, "silo-a", ClaimMode.EpochOnly), ct);
            }),
        };
        var (rt, _) = NewRuntime(store, options);
        await using (rt)
        {
            Task<long> running = outcomeQuery
                ? rt.GetOutcomeAsync(CounterC, "r0").ContinueWith(t => t.Result.Committed ? 1L : 0L, TaskScheduler.Default)
                : rt.Call<ICounter>("c", "r1").Add(7);
            await atClaim.Task.WaitAsync(Deadline);
            rt.DropAll("silo declared dead");
            release.SetResult();

            Assert.Equal(outcomeQuery ? 0 : 7, await running.WaitAsync(Deadline));
            Assert.Equal(2, claims);
            Assert.True(rt.IsActive(CounterC));
            Assert.Equal(outcomeQuery ? 0 : 7, await rt.Call<ICounter>("c", "read").Get());
        }

        var head = await store.GetHeadAsync("Counter/c");
        Assert.Equal(2, head!.Epoch);
        if (!outcomeQuery)
        {
            var records = await store.ReadAsync("Counter/c", 1, head.LastSeq);
            Assert.Single(records, r => r.Kind == RecordKind.Turn && RecordCodec.DecodeTurn(r.Payload).RequestId == "r1");
        }
    }

    [Fact]
    public async Task A_claim_policy_conflict_is_retried_with_a_fresh_head()
    {
        await using var store = await OpenStoreAsync();
        var expected = new ConcurrentQueue<long>();
        var options = new RuntimeEnvironment
        {
            Ownership = new DelegateOwnership(async (id, epoch, ct) =>
            {
                expected.Enqueue(epoch);
                if (expected.Count == 1)
                {
                    // Someone else claims first: our expected epoch is stale.
                    await store.ClaimAsync(new ClaimRequest(id, epoch, "someone-else", ClaimMode.EpochOnly), ct);
                    return new ClaimResult(null);
                }

                return await store.ClaimAsync(new ClaimRequest(id, epoch, "silo-a", ClaimMode.EpochOnly), ct);
            }),
        };
        var (rt, _) = NewRuntime(store, options);
        await using (rt)
        {
            Assert.Equal(1, await rt.Call<ICounter>("c", "r1").Add(1));
            Assert.True(rt.IsActive(CounterC));
        }

        Assert.Equal([0L, 1L], expected);
        var head = await store.GetHeadAsync("Counter/c");
        Assert.Equal((2L, "silo-a"), (head!.Epoch, head.Owner));
    }

    [Fact]
    public async Task Deactivation_checkpoints_so_the_next_activation_replays_nothing()
    {
        var registry = CallRegistries.Default();
        await using var store = await OpenStoreAsync();
        var (rt, _) = NewRuntime(store);
        await using (rt)
        {
            for (var i = 1; i <= 10; i++) await rt.Call<ICounter>("c", $"r{i}").Add(i);
            Assert.True(rt.IsActive(CounterC));
            Assert.Equal([CounterC], rt.ActiveComponents);

            Assert.Equal(1, await rt.DeactivateAsync(CounterC));
            Assert.False(rt.IsActive(CounterC));
            Assert.Equal(0, rt.ActivationCount);
            Assert.Null(await rt.DeactivateAsync(CounterC));

            var head = await store.GetHeadAsync("Counter/c");
            Assert.Equal((10L, 10L), (head!.LastSeq, head.CheckpointSeq));
            var loaded = await Replayer.LoadAsync(store, registry.Get("Counter"), CounterC, head.LastSeq, registry.Json);
            Assert.Empty(loaded.Turns);
            Assert.Equal(10, loaded.CheckpointSeq);

            // The next request activates it again (a new epoch) from the checkpoint; dedup answers from the store.
            Assert.Equal(6, await rt.Call<ICounter>("c", "r3").Add(3));
            Assert.Equal(56, await rt.Call<ICounter>("c", "r11").Add(1));
            Assert.Equal(2, (await store.GetHeadAsync("Counter/c"))!.Epoch);
        }
    }

    [Fact]
    public async Task Deactivation_waits_for_the_turn_in_flight()
    {
        await using var store = await OpenStoreAsync();
        var (rt, caller) = NewRuntime(store);
        await using (rt)
        {
            caller.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var running = rt.Call<IRelay>("r", "q1").AddTo("c", 2);
            await caller.AtGate.Task.WaitAsync(Deadline);
            var deactivation = rt.DeactivateAsync(RelayR);
            await Task.Delay(100); // "nothing happens within T": the deactivation must still wait while the turn is held
            Assert.False(deactivation.IsCompleted);
            caller.Gate.SetResult();
            Assert.Equal(2, await running.WaitAsync(Deadline));
            Assert.Equal(1, await deactivation.WaitAsync(Deadline));
            Assert.False(rt.IsActive(RelayR));
            Assert.True(rt.IsActive(CounterC));
        }

        var head = await store.GetHeadAsync("Relay/r");
        Assert.Equal((2L, 2L), (head!.LastSeq, head.CheckpointSeq));
    }

    [Fact]
    public async Task Dropping_all_activations_writes_nothing_and_the_next_request_activates_again()
    {
        await using var store = await OpenStoreAsync();
        var (rt, _) = NewRuntime(store);
        await using (rt)
        {
            await rt.Call<ICounter>("c", "r1").Add(4);
            await rt.Call<IRelay>("r", "q1").AddTo("c", 1);
            Assert.Equal(2, rt.ActiveComponents.Count);
            rt.DropAll("silo declared dead");
            Assert.Equal(0, rt.ActivationCount);
            Assert.Empty(rt.ActiveComponents);
            Assert.Equal(0, (await store.GetHeadAsync("Counter/c"))!.CheckpointSeq);

            Assert.Equal(5, await rt.Call<ICounter>("c", "read").Get());
            Assert.Equal(2, (await store.GetHeadAsync("Counter/c"))!.Epoch);
        }
    }
}

/// <summary>The same on the in-memory store (one instance, "reopened" by handing it out again).</summary>
public sealed class MemorySessionOutcomeTests : SessionOutcomeTests
{
    private readonly MemoryLogStore _store = new();

    protected override Task<ILogStore> OpenStoreAsync() => Task.FromResult<ILogStore>(_store);
}

/// <summary>The same on a SQLite file in a temporary directory, reopened for every runtime.</summary>
public sealed class SqliteSessionOutcomeTests : SessionOutcomeTests, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mw-calls-").FullName;

    protected override Task<ILogStore> OpenStoreAsync() => Task.FromResult<ILogStore>(SqliteLogStore.Open(Path.Combine(_dir, "log.db")));

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}

/// <summary>An ownership policy from a delegate, for tests that script what the store answers.</summary>
internal sealed class DelegateOwnership(Func<string, long, CancellationToken, Task<ClaimResult>> claim) : IOwnershipPolicy
{
    public Task<ClaimResult> ClaimAsync(string componentId, long expectedEpoch, CancellationToken cancellationToken) => claim(componentId, expectedEpoch, cancellationToken);
}

/// <summary>Session items from a delegate.</summary>
internal sealed class DelegateSessionItems(Func<string, string, CancellationToken, Task<string?>> read) : ISessionItemSource
{
    public Task<string?> GetItemAsync(string sessionId, string key, CancellationToken cancellationToken) => read(sessionId, key, cancellationToken);
}
