using Middleware.Core;
using Middleware.Grains;
using Middleware.Recovery.Log;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;
using Middleware.Tests.Support;

namespace Middleware.Tests.Runtime;

/// <summary>In process: a component's exception keeps its data through the log, retries, replay and component calls.</summary>
public sealed class ErrorContentTests
{
    private static LocalRuntime NewRuntime(ILogStore store) =>
        new(store, new ComponentRegistry().Add<IVault, Vault>().Add<IWallClock, WallClock>().Add<ICounter, Counter>());

    private static void AssertOverdraft(OverdraftException e)
    {
        Assert.Equal(("v", 10L, 50L), (e.Account, e.Balance, e.Requested));
        Assert.Equal(["deposit first", "at most 10"], e.Hints);
        Assert.Equal("v holds 10; 50 was asked", e.Message);
    }

    [Fact]
    public async Task The_caller_gets_the_exception_with_its_data_on_the_first_call_a_retry_and_after_a_restart()
    {
        var store = new MemoryLogStore();
        await using (var rt = NewRuntime(store))
        {
            await rt.Call<IVault>("v", "d1").Deposit(10);
            AssertOverdraft(await Assert.ThrowsAsync<OverdraftException>(() => rt.Call<IVault>("v", "w1").Withdraw(50)));
            AssertOverdraft(await Assert.ThrowsAsync<OverdraftException>(() => rt.Call<IVault>("v", "w1").Withdraw(50)));
        }

        // The data is in the recorded reply...
        var records = await store.ReadAsync("Vault/v", 1, 2);
        var reply = RecordCodec.DecodeTurn(records[1].Payload).Reply;
        Assert.Equal("""{"Account":"v","Balance":10,"Hints":["deposit first","at most 10"],"Requested":50}""", System.Text.Encoding.UTF8.GetString(reply.ErrorData.Span));

        // ...and replay reproduces it: the new activation serves, and the retry still gets the data.
        await using var rt2 = NewRuntime(store);
        AssertOverdraft(await Assert.ThrowsAsync<OverdraftException>(() => rt2.Call<IVault>("v", "w1").Withdraw(50)));
        Assert.Equal(15, await rt2.Call<IVault>("v", "d2").Deposit(5));
    }

    [Fact]
    public async Task A_component_call_gets_the_callees_exception_with_its_data()
    {
        await using var rt = NewRuntime(new MemoryLogStore());
        await rt.Call<IVault>("v", "d1").Deposit(10);
        Assert.Equal("OverdraftException v:10:50:deposit first,at most 10 | v holds 10; 50 was asked", await rt.Call<IVault>("caller", "c1").WithdrawFrom("v", 50));
    }

    [Fact]
    public async Task Setter_data_survives_and_runtime_handles_are_not_recorded()
    {
        await using var rt = NewRuntime(new MemoryLogStore());
        var e = await Assert.ThrowsAsync<LimitException>(() => rt.Call<IVault>("v", "l1").SetLimit(7.25m));
        Assert.Equal((7.25m, new DateTime(2030, 1, 2, 3, 4, 5, DateTimeKind.Utc), 26, "limit 7.25 refused"), (e.Limit, e.Until, e.Counts["z"], e.Message));
        Assert.Null(e.Tag);
        Assert.Null(e.Pending);
    }

    [Fact]
    public async Task Data_that_differs_on_replay_is_a_divergence_that_names_nondeterminism_outside_the_context()
    {
        var store = new MemoryLogStore();
        await using (var rt = NewRuntime(store))
        {
            await Assert.ThrowsAsync<StampedException>(() => rt.Call<IVault>("v", "s1").Stamp());
        }

        await using var rt2 = NewRuntime(store);
        // The divergence quarantines the component; the cause travels as the inner exception.
        var quarantined = await Assert.ThrowsAsync<ComponentQuarantinedException>(() => rt2.Call<IVault>("v", "d1").Deposit(1));
        var e = Assert.IsType<ReplayDivergenceException>(quarantined.InnerException);
        Assert.Equal((1L, "Stamp"), (e.Seq, e.Method));
        Assert.Contains("Likely cause: the turn read the clock, a GUID or random numbers directly", e.Message);
        Assert.Contains("MW0001", e.Message);
    }

    [Fact]
    public async Task A_wall_clock_read_is_named_as_the_likely_cause_with_both_fixes()
    {
        var store = new MemoryLogStore();
        await using (var rt = NewRuntime(store))
        {
            await rt.Call<IWallClock>("w", "r1").Now();
        }

        await using var rt2 = NewRuntime(store);
        var quarantined = await Assert.ThrowsAsync<ComponentQuarantinedException>(() => rt2.Call<IWallClock>("w", "r2").Now());
        var e = Assert.IsType<ReplayDivergenceException>(quarantined.InnerException);
        Assert.Contains("Likely cause: the turn read the clock", quarantined.Message);
        Assert.Contains("Likely cause: the turn read the clock, a GUID or random numbers directly (DateTime.Now/UtcNow, Guid.NewGuid(), new Random()) instead of through Context", e.Message);
        Assert.Contains("use Context.UtcNow, Context.NewGuid() and Context.Random", e.Message);
        Assert.Contains("Otherwise the component's code changed", e.Message);
        Assert.Contains("mw audit", e.Message);
    }

    [Fact]
    public async Task A_reused_request_id_and_a_fenced_one_are_each_one_exception_type()
    {
        await using var rt = NewRuntime(new MemoryLogStore());
        await rt.Call<IVault>("v", "same").Deposit(1);
        var reuse = await Assert.ThrowsAsync<RequestIdReuseException>(() => rt.Call<IVault>("v", "same").Deposit(2));
        Assert.Equal(("same", "Deposit", new ComponentId("Vault", "v")), (reuse.RequestId, reuse.Method, reuse.Component));

        Assert.False((await rt.GetOutcomeAsync(new ComponentId("Vault", "v"), "late")).Committed);
        var fenced = await Assert.ThrowsAsync<RequestFencedException>(() => rt.Call<IVault>("v", "late").Deposit(1));
        Assert.Contains("late", fenced.Message);
    }
}
