using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;
using Middleware.Tests.Support;

namespace Middleware.Tests.Runtime;

/// <summary>
/// The runtime on a real store, written once for every store: what one runtime wrote, a second one on a reopened
/// store recovers (host A writes, host B reads). A subclass per store opens the same store again on each call.
/// </summary>
public abstract class StoreRecoveryTests
{
    /// <summary>Opens the store under test (the same database every call).</summary>
    protected abstract Task<ILogStore> OpenStoreAsync();

    [StoreFact]
    public async Task State_dedup_and_checkpoints_survive_closing_and_reopening_the_store()
    {
        var options = new RuntimeOptions { CheckpointEveryTurns = 50 };
        await using (var store = await OpenStoreAsync())
        await using (var rt = new LocalRuntime(store, Registries.Default(), options))
        {
            var work = Enumerable.Range(1, 20).Select(async k =>
            {
                for (var i = 1; i <= 30; i++) await rt.Call<ICounter>($"k{k}", $"k{k}-r{i}").Add(i);
            });
            await Task.WhenAll(work);
            await Assert.ThrowsAsync<InvalidOperationException>(() => rt.Call<ICounter>("k1", "k1-bad").AddThenFail(1));
        }

        await using (var store = await OpenStoreAsync())
        await using (var rt = new LocalRuntime(store, Registries.Default(), options))
        {
            for (var k = 1; k <= 20; k++)
            {
                Assert.Equal(465, await rt.Call<ICounter>($"k{k}", "read").Get());
                Assert.Equal(3, await rt.Call<ICounter>($"k{k}", $"k{k}-r2").Add(2)); // recorded reply, not re-applied
            }

            var e = await Assert.ThrowsAsync<InvalidOperationException>(() => rt.Call<ICounter>("k1", "k1-bad").AddThenFail(1));
            Assert.Equal("refused 1", e.Message);
            Assert.Equal(466, await rt.Call<ICounter>("k1", "k1-next").Add(1));
            Assert.Equal(465, await rt.Call<ICounter>("k2", "read").Get());
            Assert.Equal(2, (await store.GetHeadAsync("Counter/k1"))!.Epoch);
        }
    }
}
