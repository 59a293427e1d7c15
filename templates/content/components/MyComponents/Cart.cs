using Middleware.Grains;

namespace MyComponents;

/// <summary>A shopping cart: every call is logged before its reply leaves, and the cart survives crashes.</summary>
public interface ICart : IRecoverableComponent
{
    /// <summary>Adds one item; returns how many items the cart holds.</summary>
    Task<int> Add(string item);

    /// <summary>The items, in the order they were added.</summary>
    [ReadOnlyTurn] Task<List<string>> Items();
}

/// <summary>The cart's durable state: stored in checkpoints as JSON, rebuilt by replay after a crash.</summary>
public sealed class CartState
{
    public List<string> Items { get; set; } = [];
    public DateTime LastChange { get; set; }
}

public sealed class Cart : RecoverableGrain<CartState>, ICart
{
    public Task<int> Add(string item)
    {
        State.Items.Add(item);
        State.LastChange = Context.UtcNow;   // never DateTime.Now: the context's clock is recorded and replayed (MW0001)
        return Task.FromResult(State.Items.Count);
    }

    public Task<List<string>> Items() => Task.FromResult(State.Items.ToList());
}
