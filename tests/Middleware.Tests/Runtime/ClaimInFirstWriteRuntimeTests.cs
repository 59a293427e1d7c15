using System.Collections.Concurrent;
using Bank;
using Microsoft.Data.Sqlite;
using Middleware.Grains;
using Middleware.Recovery.Log;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Sqlite;
using Middleware.Recovery.Storage;
using Middleware.Tests.Support;

namespace Middleware.Tests.Runtime;

/// <summary>
/// The claim in the first write (<see cref="RuntimeOptions.ClaimInFirstWrite"/>): a cold request is one store transaction,
/// its claim and its record decided together; a claim that loses to another claimer between the activation's read and its
/// write records nothing of the request, which a live owner's refusal sends elsewhere and a conflict runs again on a new
/// activation.
/// </summary>
public sealed class ClaimInFirstWriteRuntimeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mw-claimwrite-").FullName;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task A_cold_request_claims_in_its_turns_commit_and_a_read_only_one_in_an_empty_group()
    {
        await using var sqlite = SqliteLogStore.Open(Path.Combine(_dir, "log.db"));
        var calls = new ConcurrentDictionary<string, int>();
        var store = ActivationDedupReadTests.CountingStore.Wrap(sqlite, calls);
        var environment = TestLedger.Register(new RuntimeEnvironment(), _dir);
        await using var rt = new LocalRuntime(store, new ComponentRegistry().Add<IAccount, Account>(), new RuntimeOptions { MaxActivations = 0, OwnerId = "rt-1" }, environment);
        var id = new ComponentId("Account", "a");

        // New: the claim (creating the component) and the first turn in one append.
        Assert.Equal(10, await rt.Call<IAccount>("a", "d1").Deposit(10));
        Assert.Equal((0, 1), (calls.GetValueOrDefault("ClaimAsync"), calls.GetValueOrDefault("AppendClaimingAsync")));
        Assert.Equal(new ComponentHead("Account/a", 1, "rt-1", 1, 0), await sqlite.GetHeadAsync("Account/a"));

        // Cold from a checkpoint: the same again, at the next epoch.
        await rt.DeactivateAsync(id);
        calls.Clear();
        Assert.Equal(15, await rt.Call<IAccount>("a", "d2").Deposit(5));
        Assert.Equal((0, 1), (calls.GetValueOrDefault("ClaimAsync"), calls.GetValueOrDefault("AppendClaimingAsync")));
        Assert.Equal(2, (await sqlite.GetHeadAsync("Account/a"))!.Epoch);

        // A read-only request on a cold component claims with an empty group before it answers.
        await rt.DeactivateAsync(id);
        calls.Clear();
        Assert.Equal(15, await rt.Call<IAccount>("a", "b1").Balance());
        Assert.Equal((0, 1), (calls.GetValueOrDefault("ClaimAsync"), calls.GetValueOrDefault("AppendClaimingAsync")));
        Assert.Equal(new ComponentHead("Account/a", 3, "rt-1", 2, 2), await sqlite.GetHeadAsync("Account/a"));

        // Switched off, the activation claims first, as before.
        await rt.DeactivateAsync(id);
        calls.Clear();
        await using var off = new LocalRuntime(store, new ComponentRegistry().Add<IAccount, Account>(), new RuntimeOptions { MaxActivations = 0, ClaimInFirstWrite = false }, environment);
        Assert.Equal(16, await off.Call<IAccount>("a", "d3").Deposit(1));
        Assert.Equal((1, 0), (calls.GetValueOrDefault("ClaimAsync"), calls.GetValueOrDefault("AppendClaimingAsync")));
    }

    [Fact]
    public async Task A_claim_that_loses_between_the_read_and_the_write_records_nothing_and_the_request_runs_once_on_a_new_activation()
    {
        var store = new MemoryLogStore();
        var intruder = new IntrudingOwnership(new StoreOwnership(store, "runtime-1"), store, ClaimMode.EpochOnly, "intruder");
        var environment = TestLedger.Register(new RuntimeEnvironment { Ownership = intruder }, _dir);
        await using var rt = new LocalRuntime(store, new ComponentRegistry().Add<IAccount, Account>(), new RuntimeOptions { OwnerId = "runtime-1" }, environment);

        // The first activation's claim loses to the intruder (who claimed epoch 1 after the read): nothing of it is written;
        // the runtime runs the request on a second activation, which claims epoch 2 with its turn.
        Assert.Equal(7, await rt.Call<IAccount>("a", "d1").Deposit(7));
        Assert.Equal(1, intruder.Intrusions);
        Assert.Equal(new ComponentHead("Account/a", 2, "runtime-1", 1, 0), await store.GetHeadAsync("Account/a"));
        var records = await store.ReadAsync("Account/a", 1, long.MaxValue);
        Assert.Equal([2L], records.Select(r => r.Epoch));
        Assert.Equal(7, await rt.Call<IAccount>("a", "d1").Deposit(7));
        Assert.Equal(7, await rt.Call<IAccount>("a", "b").Balance());
    }

    [Fact]
    public async Task A_claim_refused_by_a_live_silo_sends_the_request_there_and_records_nothing()
    {
        var store = new MemoryLogStore();
        await store.JoinAsync("silo-1", "127.0.0.1:1", null, TimeSpan.FromMinutes(5));
        await store.JoinAsync("silo-2", "127.0.0.1:2", null, TimeSpan.FromMinutes(5));
        var intruder = new IntrudingOwnership(new ClusterOwnership(store, "silo-1"), store, ClaimMode.RespectLiveSilo, "silo-2");
        var environment = TestLedger.Register(new RuntimeEnvironment { Ownership = intruder }, _dir);
        await using var rt = new LocalRuntime(store, new ComponentRegistry().Add<IAccount, Account>(), new RuntimeOptions { OwnerId = "silo-1" }, environment);

        var moved = await Assert.ThrowsAsync<ComponentOwnedElsewhereException>(() => rt.Call<IAccount>("a", "d1").Deposit(7));
        Assert.Equal(("silo-2", "127.0.0.1:2"), (moved.Owner, moved.OwnerAddress));
        Assert.Equal(new ComponentHead("Account/a", 1, "silo-2", 0, 0), await store.GetHeadAsync("Account/a"));
        Assert.Empty(await store.ReadAsync("Account/a", 1, long.MaxValue));

        // A read-only request and an outcome query are refused the same way; still nothing recorded.
        await Assert.ThrowsAsync<ComponentOwnedElsewhereException>(() => rt.Call<IAccount>("a", "b1").Balance());
        await Assert.ThrowsAsync<ComponentOwnedElsewhereException>(() => rt.GetOutcomeAsync(new ComponentId("Account", "a"), "d1"));
        Assert.Equal(new ComponentHead("Account/a", 1, "silo-2", 0, 0), await store.GetHeadAsync("Account/a"));
        Assert.Empty(await store.ReadAsync("Account/a", 1, long.MaxValue));
    }

    /// <summary>
    /// An ownership policy that lets another claimer in between an activation's read and its write (the first time for each
    /// component): when asked for the claim to put in the first write, it first claims the component for someone else.
    /// </summary>
    private sealed class IntrudingOwnership(IOwnershipPolicy inner, ILogStore store, ClaimMode mode, string other) : IOwnershipPolicy
    {
        private readonly ConcurrentDictionary<string, bool> _done = new();
        private int _intrusions;

        public int Intrusions => Volatile.Read(ref _intrusions);

        public Task<ClaimResult> ClaimAsync(string componentId, long expectedEpoch, CancellationToken cancellationToken) =>
            inner.ClaimAsync(componentId, expectedEpoch, cancellationToken);

        public ClaimRequest? ClaimInFirstWrite(string componentId, long expectedEpoch)
        {
            if (_done.TryAdd(componentId, true))
            {
                var claimed = store.ClaimAsync(new ClaimRequest(componentId, expectedEpoch, other, mode)).GetAwaiter().GetResult();
                Assert.NotNull(claimed.Claimed);
                Interlocked.Increment(ref _intrusions);
            }

            return inner.ClaimInFirstWrite(componentId, expectedEpoch);
        }
    }
}
