using System.Text;
using System.Text.Json;
using Middleware.Grains;
using Middleware.Protocol;
using Middleware.Tests.Admin;
using Middleware.Tests.Cluster;
using Middleware.Tests.Support;

namespace Middleware.Tests.Silo;

/// <summary>
/// Issue 12's first trap, with the state shapes the silo accepts: an application's state written the usual C# way (lists
/// of records, a dictionary, a nested class, a record with init-only properties, a set) goes through checkpoints and a
/// SIGKILL of a real silo and comes back intact; the turns after the checkpoint replay on it without a divergence.
/// (The shapes the silo refuses at start are <see cref="SiloStateCheckTests"/>.) The component is compiled here, as an
/// application would build it.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class SiloStateSurvivesKillTests : IDisposable
{
    private const string Source = """
        using System.Collections.Generic;
        using System.Linq;
        using System.Threading.Tasks;
        using Middleware.Grains;

        namespace Shop;

        public interface ICart : IRecoverableComponent
        {
            Task<string> Add(string sku, int quantity, string city);

            [ReadOnlyTurn]
            Task<string> Summary();
        }

        public sealed record Line(string Sku, int Quantity);

        public sealed record Money
        {
            public string Currency { get; init; } = "EUR";

            public long Cents { get; init; }
        }

        public sealed class Address
        {
            public string City { get; set; } = "";

            public List<string> History { get; set; } = [];
        }

        public sealed class CartState
        {
            public List<Line> Lines { get; set; } = [];

            public Dictionary<string, int> QuantityBySku { get; set; } = [];

            public Address ShipTo { get; set; } = new();

            public Money Total { get; set; } = new();

            public HashSet<string> Skus { get; set; } = [];

            public string Summary() =>
                string.Join(",", Lines.Select(l => $"{l.Sku}x{l.Quantity}")) + "|" +
                string.Join(",", QuantityBySku.OrderBy(p => p.Key, System.StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value}")) + "|" +
                ShipTo.City + "<" + string.Join("<", ShipTo.History) + "|" +
                Total.Cents + " " + Total.Currency + "|" +
                string.Join(",", Skus.Order(System.StringComparer.Ordinal));
        }

        public sealed class Cart : RecoverableGrain<CartState>, ICart
        {
            public Task<string> Add(string sku, int quantity, string city)
            {
                State.Lines.Add(new Line(sku, quantity));
                State.QuantityBySku[sku] = State.QuantityBySku.GetValueOrDefault(sku) + quantity;
                if (State.ShipTo.City != city)
                {
                    if (State.ShipTo.City.Length > 0) State.ShipTo.History.Add(State.ShipTo.City);
                    State.ShipTo.City = city;
                }

                State.Total = State.Total with { Cents = State.Total.Cents + 250L * quantity };
                State.Skus.Add(sku);
                return Task.FromResult(State.Summary());
            }

            public Task<string> Summary() => Task.FromResult(State.Summary());
        }
        """;

    private readonly string _directory = Directory.CreateTempSubdirectory("mw-silo-state-kill-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static InvokeMessage Add(int i) =>
        new("Cart", "c1", "Add", $"add-{i}", null, null, Encoding.UTF8.GetBytes($"[\"sku-{i % 4}\",{i},\"{(i < 7 ? "Lyon" : "Oslo")}\"]"));

    private static InvokeMessage Summary(string id) => new("Cart", "c1", "Summary", id, null, null, "[]"u8.ToArray());

    private static string Text(ReplyMessage reply)
    {
        Assert.True(reply.Status == ReplyStatus.Ok, $"{reply.Status}: {reply.Detail} {reply.ErrorType}: {reply.ErrorMessage}");
        return JsonSerializer.Deserialize<string>(reply.Result.Span)!;
    }

    [Fact]
    public async Task State_of_lists_records_a_dictionary_and_nested_classes_survives_checkpoints_and_a_SIGKILL()
    {
        var assembly = Compile("Shop.dll");
        var store = $"sqlite:{Path.Combine(_directory, "middleware.db")}";
        string[] args = ["--store", store, "--port", "0", "--http-port", "0", "--components", assembly, "--checkpoint-every", "5", "--checkpoint-spread", "0", "--silo-id", "shop-1"];

        string before;
        await using (var silo = SiloProcess.Launch(args))
        {
            await silo.WaitListeningAsync();
            await using var connection = await silo.ConnectAsync();
            // 12 turns: checkpoints at seq 5 and 10 hold the state; the turns after the latest one are replayed on it.
            for (var i = 1; i <= 12; i++) Text(await connection.InvokeAsync(Add(i)));
            before = Text(await connection.InvokeAsync(Summary("s-before")));
            await silo.KillAsync();
        }

        Assert.Equal("sku-1x1,sku-2x2,sku-3x3,sku-0x4,sku-1x5,sku-2x6,sku-3x7,sku-0x8,sku-1x9,sku-2x10,sku-3x11,sku-0x12|" +
                     "sku-0=24,sku-1=15,sku-2=18,sku-3=21|Oslo<Lyon|19500 EUR|sku-0,sku-1,sku-2,sku-3", before);
        var show = JsonDocument.Parse((await AdminFixture.Mw("components", "show", "Cart/c1", "--store", store, "--json")).Out).RootElement;
        // Recovery starts from a checkpoint (seq 5 or 10: the one at 10 may still be on its way when the kill lands).
        Assert.True(show.GetProperty("checkpointSeq").GetInt64() >= 5, $"no checkpoint was written before the kill: {show}");

        await using var again = SiloProcess.Launch(args);
        await again.WaitListeningAsync();
        await using var client = await again.ConnectAsync();
        Assert.Equal(before, Text(await client.InvokeAsync(Summary("s-after"))));
        // A retry of an acknowledged turn gets its recorded reply; a new turn runs on the recovered state.
        Assert.Equal(before, Text(await client.InvokeAsync(Add(12))));
        Assert.EndsWith("|Oslo<Lyon|22750 EUR|sku-0,sku-1,sku-2,sku-3", Text(await client.InvokeAsync(Add(13))));
        Assert.DoesNotContain("quarantined", again.Stdout + again.Stderr);
    }

    private string Compile(string fileName) => ComponentAssembly.Compile(Source, _directory, fileName);
}
