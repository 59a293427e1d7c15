using Middleware.Recovery.Log;

namespace Middleware.Recovery.TestKit;

/// <summary>Rule 6 (reads) and the listing of the storage contract.</summary>
public abstract partial class LogStoreContract<TStores>
{
    [StoreFact]
    public async Task A_components_chain_reads_back_across_many_batches_interleaved_with_other_components()
    {
        string[] ids = ["Interleaved/a", "Interleaved/b", "Interleaved/c"];
        var epochs = new Dictionary<string, long>();
        var next = ids.ToDictionary(id => id, _ => 1L);
        foreach (var id in ids) epochs[id] = await ClaimAsync(id);

        for (var batch = 0; batch < 40; batch++)
        {
            var groups = new List<AppendGroup>();
            foreach (var id in ids)
            {
                // Vary the group sizes (and skip some components) so positions of one component are not regular.
                var count = (batch + id[^1]) % 4;
                if (count == 0) continue;
                var checkpoint = batch % 7 == 3 ? Checkpoint(next[id] + count - 1, epochs[id]) : null;
                groups.Add(Group(id, epochs[id], next[id], count, checkpoint));
                next[id] += count;
            }

            Assert.All(await Store.AppendAsync(groups), s => Assert.Equal(AppendStatus.Ok, s));
        }

        for (var pass = 0; pass < 2; pass++)
        {
            foreach (var id in ids)
            {
                var last = next[id] - 1;
                var records = await Store.ReadAsync(id, 1, long.MaxValue);
                Assert.Equal(Range(1, last), records.Select(r => r.Seq));
                Assert.All(records, r => Assert.Equal($"{id} turn {r.Seq}", Text(r.Payload)));
                Assert.Equal(Range(5, 9), await SeqsAsync(id, 5, 9));
                Assert.Equal(Range(last - 2, last), await SeqsAsync(id, last - 2, last + 100));
                Assert.Equal([1L], await SeqsAsync(id, 0, 1));
            }

            await ReopenIfPossibleAsync();
        }
    }

    [StoreFact]
    public async Task An_old_range_far_below_the_head_is_read_exactly()
    {
        var epoch = await ClaimAsync("Account/1");
        var other = await ClaimAsync("Account/2");
        for (var seq = 1L; seq <= 300; seq += 10)
        {
            var checkpoint = seq % 100 == 91 ? Checkpoint(seq + 9, epoch) : null;
            await Store.AppendAsync([Group("Account/1", epoch, seq, 10, checkpoint), Group("Account/2", other, seq, 10)]);
        }

        Assert.Equal(Range(50, 60), await SeqsAsync("Account/1", 50, 60));
        Assert.Equal(Range(95, 105), await SeqsAsync("Account/1", 95, 105));
        Assert.Equal(Range(100, 100), await SeqsAsync("Account/1", 100, 100));
        Assert.Equal(Range(1, 300), await SeqsAsync("Account/1"));
        Assert.All(await Store.ReadAsync("Account/1", 190, 210), r => Assert.Equal($"Account/1 turn {r.Seq}", Text(r.Payload)));
    }

    [StoreFact]
    public async Task Unknown_and_empty_components_read_as_empty()
    {
        Assert.Null(await Store.GetHeadAsync("Nobody/1"));
        Assert.Empty(await Store.ReadAsync("Nobody/1", 1, long.MaxValue));
        Assert.Null(await Store.GetCheckpointAsync("Nobody/1"));
        Assert.Null(await Store.FindRequestAsync("Nobody/1", "req"));

        var epoch = await ClaimAsync("Empty/1");
        Assert.Equal(new ComponentHead("Empty/1", epoch, "runtime-1", 0, 0), await Store.GetHeadAsync("Empty/1"));
        Assert.Empty(await Store.ReadAsync("Empty/1", 1, long.MaxValue));
        Assert.Null(await Store.GetCheckpointAsync("Empty/1"));

        await AppendAsync(Group("Empty/1", epoch, 1, 3));
        Assert.Empty(await Store.ReadAsync("Empty/1", 3, 2));
        Assert.Empty(await Store.ReadAsync("Empty/1", 4, 10));
        Assert.Equal([3L], await SeqsAsync("Empty/1", 3, 10));
    }

    [StoreFact]
    public async Task Listing_returns_every_component_in_id_order_with_its_head()
    {
        Assert.Empty(await Store.ListComponentsAsync());
        var b = await ClaimAsync("Beta/1", owner: "silo-b");
        var a = await ClaimAsync("Alpha/1", owner: "silo-a");
        var c = await ClaimAsync("Gamma/1", owner: "silo-c");
        await ClaimAsync("Alpha/1", a, "silo-a2");
        await AppendAsync(Group("Beta/1", b, 1, 2, Checkpoint(1, b)));

        var list = await Store.ListComponentsAsync();
        Assert.Equal(
        [
            new ComponentHead("Alpha/1", a + 1, "silo-a2", 0, 0),
            new ComponentHead("Beta/1", b, "silo-b", 2, 1),
            new ComponentHead("Gamma/1", c, "silo-c", 0, 0),
        ], list);
    }

    [StoreFact]
    public async Task Components_whose_last_record_is_a_partial_turn_are_listed_as_in_doubt()
    {
        var open = await ClaimAsync("Doubt/open", owner: "silo-a");
        var closed = await ClaimAsync("Doubt/closed");
        var plain = await ClaimAsync("Doubt/plain");
        await ClaimAsync("Doubt/empty");
        // A turn, then a partial record still waiting for its final record (two partials: the turn resumed once).
        await AppendAsync(new AppendGroup("Doubt/open", open, [Rec(1, open), Partial(2, open), Partial(3, open)]));
        // A partial followed by its final record, and a checkpoint: no longer in doubt.
        await AppendAsync(new AppendGroup("Doubt/closed", closed, [Partial(1, closed), Rec(2, closed)], Checkpoint(2, closed)));
        await AppendAsync(Group("Doubt/plain", plain, 1, 3));

        for (var pass = 0; pass < 2; pass++)
        {
            Assert.Equal([new ComponentHead("Doubt/open", open, "silo-a", 3, 0)], await Store.ListInDoubtAsync());
            await ReopenIfPossibleAsync();
        }

        await AppendAsync(new AppendGroup("Doubt/open", open, [Rec(4, open)]));
        Assert.Empty(await Store.ListInDoubtAsync());

        static LogRecord Partial(long seq, long epoch) => new(seq, epoch, RecordKind.PartialTurn, Bytes($"partial {seq}"));
    }

    [StoreFact]
    public async Task Ids_are_compared_exactly()
    {
        var lower = await ClaimAsync("account/1");
        var upper = await ClaimAsync("Account/1");
        await AppendAsync(Group("account/1", lower, 1, 1));

        Assert.Equal([1L], await SeqsAsync("account/1"));
        Assert.Empty(await SeqsAsync("Account/1"));
        Assert.Equal(["Account/1", "account/1"], (await Store.ListComponentsAsync()).Select(h => h.ComponentId));
        Assert.Equal(AppendStatus.Ok, await AppendAsync(Group("Account/1", upper, 1, 1)));
    }
}
