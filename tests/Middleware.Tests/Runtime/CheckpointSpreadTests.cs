using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;
using Middleware.Tests.Support;

namespace Middleware.Tests.Runtime;

/// <summary>
/// Components activated together and loaded alike must not all write their checkpoint at the same turn: each checkpoint
/// also writes the dedup entry of every turn since the last one, so a thousand at once was a burst of a million rows.
/// </summary>
public sealed class CheckpointSpreadTests
{
    private const int Components = 100;
    private const int Every = 100;

    [Fact]
    public async Task First_checkpoints_are_spread_over_the_last_half_of_the_interval_and_later_ones_keep_their_distance()
    {
        var store = new MemoryLogStore();
        await using var rt = new LocalRuntime(store, Registries.Default(), Options(spread: 0.5));
        await TurnsAsync(rt, "a", Every);

        var first = await CheckpointSeqsAsync(store);
        Assert.All(first, seq => Assert.InRange(seq, Every / 2, Every));
        // 100 components over 51 possible turns: with an even spread about 43 distinct turns; all at one would be 1.
        Assert.True(first.Distinct().Count() >= 20, $"first checkpoints at only {first.Distinct().Count()} distinct turns: {string.Join(",", first)}");
        Assert.True(first.Count(seq => seq == Every) <= Components / 10, $"{first.Count(seq => seq == Every)} of {Components} checkpointed at turn {Every}");

        // Later checkpoints come every CheckpointEveryTurns after the first: the spread lasts.
        await TurnsAsync(rt, "b", Every - 1);
        var second = await CheckpointSeqsAsync(store);
        Assert.Equal(first.Select(seq => seq + Every), second);
    }

    [Fact]
    public async Task Spread_zero_checkpoints_every_component_at_exactly_the_interval()
    {
        var store = new MemoryLogStore();
        await using var rt = new LocalRuntime(store, Registries.Default(), Options(spread: 0));
        await TurnsAsync(rt, "a", Every);
        Assert.All(await CheckpointSeqsAsync(store), seq => Assert.Equal(Every, seq));
    }

    [Theory]
    [InlineData(-0.1)]
    [InlineData(1.5)]
    [InlineData(double.NaN)]
    public void A_spread_out_of_range_is_refused_naming_the_setting(double spread)
    {
        var e = Assert.Throws<ArgumentException>(() => new LocalRuntime(new MemoryLogStore(), Registries.Default(), new RuntimeOptions { CheckpointSpread = spread }));
        Assert.Contains("CheckpointSpread", e.Message);
        Assert.Contains("between 0", e.Message);
    }

    private static RuntimeOptions Options(double spread) =>
        new() { CheckpointEveryTurns = Every, CheckpointInterval = TimeSpan.FromDays(1), CheckpointSpread = spread };

    // Every component gets `turns` turns, round robin, so they are loaded alike; then one more turn each, after which
    // the checkpoint queued by any earlier turn is durable (it is ordered before that turn's reply).
    private static async Task TurnsAsync(LocalRuntime rt, string round, int turns)
    {
        for (var t = 0; t <= turns; t++)
        {
            await Task.WhenAll(Enumerable.Range(0, Components).Select(c => rt.Call<ICounter>(Key(c), $"{round}-{t}").Add(1)));
        }
    }

    private static async Task<List<long>> CheckpointSeqsAsync(MemoryLogStore store)
    {
        var seqs = new List<long>();
        for (var c = 0; c < Components; c++)
        {
            var checkpoint = await store.GetCheckpointAsync("Counter/" + Key(c));
            Assert.NotNull(checkpoint);
            seqs.Add(checkpoint.Seq);
        }

        return seqs;
    }

    private static string Key(int c) => "c" + c.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
