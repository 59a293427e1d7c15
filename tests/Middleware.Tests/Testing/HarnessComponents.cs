using System.Text.Json;
using System.Text.Json.Serialization;
using Middleware.Grains;

namespace Middleware.Tests.Testing;

// Components the harness tests run: each mistake in a "bad" class next to the same component written right. The bad ones
// read the clock and random numbers directly on purpose (what the MW0001 analyzer flags in component projects).
#pragma warning disable MW0001

public interface IStamp : IRecoverableComponent
{
    Task<string> Stamp();
}

public interface IRoller : IRecoverableComponent
{
    Task<int> Roll();
}

public sealed class StampState
{
    public int Stamps { get; set; }

    public int LastRoll { get; set; }
}

/// <summary>Replies with the time: read directly, a replay gets another time and another reply.</summary>
public sealed class ClockStamp : RecoverableGrain<StampState>, IStamp
{
    public Task<string> Stamp() => Task.FromResult($"stamp {++State.Stamps} at {DateTime.UtcNow:O}");
}

public sealed class ContextStamp : RecoverableGrain<StampState>, IStamp
{
    public Task<string> Stamp() => Task.FromResult($"stamp {++State.Stamps} at {Context.UtcNow:O}");
}

/// <summary>Keeps a random number in state but replies with a count: only the state shows that replay differs.</summary>
public sealed class SharedRandomRoller : RecoverableGrain<StampState>, IRoller
{
    public Task<int> Roll()
    {
        State.LastRoll = Random.Shared.Next(1, 1_000_000);
        return Task.FromResult(++State.Stamps);
    }
}

public sealed class ContextRandomRoller : RecoverableGrain<StampState>, IRoller
{
    public Task<int> Roll()
    {
        State.LastRoll = Context.Random.Next(1, 1_000_000);
        return Task.FromResult(++State.Stamps);
    }
}

public interface ICart : IRecoverableComponent
{
    Task<int> Add(string item);

    Task<string> Note(string note);
}

/// <summary>The get-only collection of issue 11: written to checkpoints, never read back.</summary>
public sealed class GetOnlyCartState
{
    public List<string> Items { get; } = [];
}

public sealed class GetOnlyCart : RecoverableGrain<GetOnlyCartState>, ICart
{
    public Task<int> Add(string item)
    {
        State.Items.Add(item);
        return Task.FromResult(State.Items.Count);
    }

    public Task<string> Note(string note) => Task.FromResult(note);
}

/// <summary>A converter of the application's own that loses data: registration trusts it, so only a checkpoint shows it.</summary>
public sealed class LossyCartState
{
    public List<string> Items { get; set; } = [];

    [JsonConverter(typeof(FirstWordConverter))]
    public string Note { get; set; } = "";
}

public sealed class FirstWordConverter : JsonConverter<string>
{
    public override string Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        (reader.GetString() ?? "").Split(' ')[0];

    public override void Write(Utf8JsonWriter writer, string value, JsonSerializerOptions options) => writer.WriteStringValue(value);
}

public sealed class LossyCart : RecoverableGrain<LossyCartState>, ICart
{
    public Task<int> Add(string item)
    {
        State.Items.Add(item);
        return Task.FromResult(State.Items.Count);
    }

    public Task<string> Note(string note) => Task.FromResult(State.Note = note);
}

public sealed class CartState
{
    public List<string> Items { get; set; } = [];

    public string Note { get; set; } = "";
}

public sealed class GoodCart : RecoverableGrain<CartState>, ICart
{
    public Task<int> Add(string item)
    {
        State.Items.Add(item);
        return Task.FromResult(State.Items.Count);
    }

    public Task<string> Note(string note) => Task.FromResult(State.Note = note);
}

public interface IShop : IRecoverableComponent
{
    Task<int> PlaceOrder(string item);
}

public sealed class ShopState
{
    public int Orders { get; set; }
}

public static class Orders
{
    public const string Backend = "orders";
    public const string CreateTable = "CREATE TABLE orders (id INTEGER PRIMARY KEY AUTOINCREMENT, item TEXT NOT NULL)";
}

/// <summary>Posts the order from an exploratory read: outside the idempotent procedure, so not exactly-once.</summary>
public sealed class ReadPostingShop : RecoverableGrain<ShopState>, IShop
{
    public async Task<int> PlaceOrder(string item)
    {
        await Context.Backend(Orders.Backend).ReadAsync(async (connection, ct) =>
        {
            await using var insert = connection.CreateCommand();
            insert.CommandText = "INSERT INTO orders (item) VALUES ($item)";
            var p = insert.CreateParameter();
            p.ParameterName = "$item";
            p.Value = item;
            insert.Parameters.Add(p);
            return await insert.ExecuteNonQueryAsync(ct);
        });
        return ++State.Orders;
    }
}

public sealed class ProcedureShop : RecoverableGrain<ShopState>, IShop
{
    public async Task<int> PlaceOrder(string item)
    {
        await Context.Backend(Orders.Backend).ExecuteAsync("place-order", new { item }, async work =>
        {
            await using var insert = work.Command("INSERT INTO orders (item) VALUES (@item)", new { item });
            return await insert.ExecuteNonQueryAsync(work.CancellationToken);
        });
        return ++State.Orders;
    }
}

public interface ICounter : IRecoverableComponent
{
    Task<int> Next();
}

/// <summary>Counts in a field of the component object, which no checkpoint or replay keeps.</summary>
public sealed class FieldCounter : RecoverableGrain<ShopState>, ICounter
{
    private int _count;

    public Task<int> Next() => Task.FromResult(++_count);
}

public sealed class StateCounter : RecoverableGrain<ShopState>, ICounter
{
    public Task<int> Next() => Task.FromResult(++State.Orders);
}
