using Middleware.Recovery.Runtime;
using Middleware.Recovery.Sqlite;
using Middleware.Testing;

namespace MyComponents.Tests;

public sealed class CartTests : IDisposable
{
    private readonly string _db = Path.Combine(Path.GetTempPath(), $"cart-{Guid.NewGuid():N}.db");

    [Fact]
    public async Task A_cart_keeps_its_items_across_a_restart_and_a_retried_request_counts_once()
    {
        var registry = new ComponentRegistry().Add<ICart, Cart>();
        await using (var store = SqliteLogStore.Open(_db))
        await using (var runtime = new LocalRuntime(store, registry))
        {
            Assert.Equal(1, await runtime.Call<ICart>("alice", requestId: "req-1").Add("apple"));
            Assert.Equal(1, await runtime.Call<ICart>("alice", requestId: "req-1").Add("apple"));   // the same request again
            Assert.Equal(2, await runtime.Call<ICart>("alice", requestId: "req-2").Add("pear"));
        }

        // A new runtime on the same file: the cart is rebuilt from its log.
        await using (var store = SqliteLogStore.Open(_db))
        await using (var runtime = new LocalRuntime(store, registry))
        {
            Assert.Equal(["apple", "pear"], await runtime.GetComponent<ICart>("alice").Items());
        }
    }

    [Fact]
    public async Task The_cart_survives_a_crash_after_every_turn()
    {
        // The test kit: the real runtime, serializer and store; after every call the cart is replayed from its log and
        // compared with what the call returned, then the process "crashes". A DateTime.Now or a state property without a
        // setter fails here, not after a production restart.
        await using var h = await ComponentHarness.StartAsync(o =>
        {
            o.AddComponent<ICart, Cart>().UseSqlite();
            o.CrashAfterEachTurn = true;
        });
        var cart = h.Get<ICart>("bob");
        Assert.Equal(1, await cart.Add("book"));
        Assert.Equal(2, await cart.Add("pen"));
        Assert.Equal(["book", "pen"], (await h.StateOfAsync<ICart, CartState>("bob")).Items);
    }

    public void Dispose()
    {
        foreach (var file in new[] { _db, _db + "-wal", _db + "-shm" }) File.Delete(file);
    }
}
