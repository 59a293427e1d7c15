using Middleware.Grains;
using Middleware.Testing;

namespace Middleware.Tests.Testing.Readme;

// The README's "Testing your components" example, verbatim: if this stops compiling or passing, the README is wrong.

public interface ICart : IRecoverableComponent
{
    Task<int> Add(string item);

    Task Checkout();
}

public sealed class CartState
{
    public List<string> Items { get; set; } = [];

    public bool CheckedOut { get; set; }
}

[UsesBackend("orders")]
public sealed class Cart : RecoverableGrain<CartState>, ICart
{
    public Task<int> Add(string item)
    {
        State.Items.Add(item);
        return Task.FromResult(State.Items.Count);
    }

    public async Task Checkout()
    {
        var items = string.Join(",", State.Items);
        await Context.Backend("orders").ExecuteAsync("place-order", new { items }, async work =>
        {
            await using var insert = work.Command("INSERT INTO orders (id, items) VALUES (@id, @items)", new { id = work.RequestId, items });
            return await insert.ExecuteNonQueryAsync(work.CancellationToken);
        });
        State.CheckedOut = true;
    }
}

public sealed class CartTests
{
    [Fact]
    public async Task A_cart_survives_a_crash_after_every_turn()
    {
        await using var h = await ComponentHarness.StartAsync(o =>
        {
            o.AddComponent<ICart, Cart>()
             .UseSqlite()                                      // a temporary store file; UseMemoryStore() is the default
             .AddSqliteBackend("orders", "CREATE TABLE orders (id TEXT PRIMARY KEY, items TEXT)");
            o.CrashAfterEachTurn = true;                       // replay, compare and crash after every call
        });

        var cart = h.Get<ICart>("alice");                      // a proxy through the runtime; survives crashes
        Assert.Equal(1, await cart.Add("book"));
        Assert.Equal(2, await cart.Add("pen"));
        await cart.Checkout();

        var state = await h.StateOfAsync<ICart, CartState>("alice");           // as recovery rebuilds it
        Assert.Equal(["book", "pen"], state.Items);
        var order = Assert.Single(h.Backend("orders").Executions);           // the work delegate ran once
        Assert.Equal("Cart/alice:3:1", order.RequestId);                     // under its deterministic id
        Assert.Equal("book,pen", h.Backend("orders").Scalar<string>("SELECT items FROM orders"));
    }
}
