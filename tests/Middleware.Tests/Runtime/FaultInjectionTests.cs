using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;
using Middleware.Tests.Support;

namespace Middleware.Tests.Runtime;

/// <summary>No reply may leave for a turn whose record is not durable, whatever the store does.</summary>
public sealed class FaultInjectionTests
{
    private static readonly TimeSpan Held = TimeSpan.FromMilliseconds(300);

    [Fact]
    public async Task A_failed_write_is_not_acknowledged_and_the_retry_runs_once()
    {
        var store = new FaultInjectingStore(new MemoryLogStore());
        await using var rt = new LocalRuntime(store, Registries.Default());
        await rt.Call<ICounter>("c", "r1").Add(1);

        store.Inject(FaultMode.Fail, count: 1);
        await Assert.ThrowsAsync<TurnNotDurableException>(() => rt.Call<ICounter>("c", "r2").Add(10));

        // The turn did run in memory, but it was never acknowledged and is not in the log: the retry
        // executes it for real, once.
        Assert.Equal(11, await rt.Call<ICounter>("c", "r2").Add(10));
        Assert.Equal(11, await rt.Call<ICounter>("c", "read").Get());
        Assert.Equal(2, (await store.GetHeadAsync("Counter/c"))!.LastSeq);
    }

    [Fact]
    public async Task An_uncertain_write_is_a_failure_and_the_retry_finds_the_record()
    {
        var store = new FaultInjectingStore(new MemoryLogStore());
        await using var rt = new LocalRuntime(store, Registries.Default());
        await rt.Call<ICounter>("c", "r1").Add(1);

        store.Inject(FaultMode.FailAfterWrite, count: 1);
        await Assert.ThrowsAsync<TurnNotDurableException>(() => rt.Call<ICounter>("c", "r2").Add(10));

        // The record did reach the store: the retry must return its reply, not apply it again.
        Assert.Equal(11, await rt.Call<ICounter>("c", "r2").Add(10));
        Assert.Equal(11, await rt.Call<ICounter>("c", "read").Get());
        Assert.Equal(2, (await store.GetHeadAsync("Counter/c"))!.LastSeq);
    }

    [Fact]
    public async Task While_the_store_hangs_no_reply_leaves_and_later_turns_wait_too()
    {
        var store = new FaultInjectingStore(new MemoryLogStore());
        await using var rt = new LocalRuntime(store, Registries.Default());
        await rt.Call<ICounter>("c", "r1").Add(1);

        store.Inject(FaultMode.Hang);
        var first = rt.Call<ICounter>("c", "r2").Add(10);
        var second = rt.Call<ICounter>("c", "r3").Add(100);
        var read = rt.Call<ICounter>("c", "read").Get();
        var other = rt.Call<ICounter>("d", "r4").Add(5);

        var finished = await Task.WhenAny(Task.WhenAll(first, second, read, other), Task.Delay(Held)); // "nothing happens within T": no reply while the store is stalled
        Assert.False(first.IsCompleted, "a reply left before its record was durable");
        Assert.False(second.IsCompleted, "a later turn's reply overtook the stalled one");
        Assert.False(read.IsCompleted, "a read-only reply showed state that was not durable");
        Assert.False(other.IsCompleted, "a reply on another component left while the store was stalled");

        store.Release();
        Assert.Equal(11, await first);
        Assert.Equal(111, await second);
        Assert.Equal(111, await read);
        Assert.Equal(5, await other);
        _ = finished;
    }

    [Fact]
    public async Task A_turn_that_runs_ahead_of_a_failed_write_is_not_acknowledged_either()
    {
        var store = new FaultInjectingStore(new MemoryLogStore());
        await using var rt = new LocalRuntime(store, Registries.Default());
        await rt.Call<ICounter>("c", "r1").Add(1);

        // Stall the write of r2, queue r3 behind it, then fail the stalled write: r3 ran on a state that
        // includes r2, so it must not be acknowledged either.
        store.Inject(FaultMode.Hang);
        var a = rt.Call<ICounter>("c", "r2").Add(10);
        await Eventually.TrueAsync(() => store.Faulted > 0, "the write of r2 to stall");
        Assert.Equal(1, store.Faulted);
        var b = rt.Call<ICounter>("c", "r3").Add(100);
        store.Release(fail: true);
        var outcomes = await Task.WhenAll(Outcome(a), Outcome(b));
        Assert.All(outcomes, o => Assert.IsType<TurnNotDurableException>(o));

        // Whatever was acknowledged is in the log; retries apply the rest exactly once.
        var log = await store.ReadAsync("Counter/c", 1, long.MaxValue);
        var logged = log.Select(r => Middleware.Recovery.Log.RecordCodec.DecodeTurn(r.Payload).RequestId).ToList();
        if (outcomes[0] is long) Assert.Contains("r2", logged);
        if (outcomes[1] is long) Assert.Contains("r3", logged);
        Assert.Equal(11, await rt.Call<ICounter>("c", "r2").Add(10));
        Assert.Equal(111, await rt.Call<ICounter>("c", "r3").Add(100));
        Assert.Equal(111, await rt.Call<ICounter>("c", "read").Get());
        Assert.Equal(3, (await store.GetHeadAsync("Counter/c"))!.LastSeq);
    }

    [Fact]
    public async Task An_unreachable_store_fails_requests_clearly_and_service_resumes_when_it_returns()
    {
        var store = new FaultInjectingStore(new MemoryLogStore()) { FailEverything = true };
        await using var rt = new LocalRuntime(store, Registries.Default());
        var e = await Assert.ThrowsAsync<StoreUnavailableException>(() => rt.Call<ICounter>("c", "r1").Add(1));
        Assert.Contains("unreachable", e.Message);

        store.FailEverything = false;
        Assert.Equal(1, await rt.Call<ICounter>("c", "r1").Add(1));
    }

    private static async Task<object> Outcome(Task<long> t)
    {
        try
        {
            return await t;
        }
        catch (TurnNotDurableException e)
        {
            return e;
        }
    }
}
