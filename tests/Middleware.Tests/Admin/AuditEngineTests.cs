using Middleware.Admin.Audit;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Sqlite;
using Middleware.Tests.Support;

namespace Middleware.Tests.Admin;

/// <summary>The audit engine called with a registry: the deploy-time cases it must catch, and clean logs it must pass.</summary>
public sealed class AuditEngineTests : IDisposable
{
    private readonly AdminFixture _fx = new();

    private static ComponentRegistry With<TGrain>()
        where TGrain : class, ITill, new() => new ComponentRegistry().Add<ITill, TGrain>();

    private Task WriteTillAsync(int turns, int checkpointEvery) => _fx.WriteAsync(With<Till>(), checkpointEvery, async rt =>
    {
        for (var i = 1; i <= turns; i++) await rt.Call<ITill>("t1", $"pay-{i}").Pay(10);
    });

    private async Task<AuditResult> AuditAsync(ComponentRegistry registry, AuditMode mode = AuditMode.FromCheckpoint)
    {
        await using var store = SqliteLogStore.Open(_fx.Db);
        var heads = await store.ListComponentsAsync();
        return await new AuditEngine(store, registry).RunAsync(heads, new AuditOptions { Mode = mode, Parallelism = 2 });
    }

    [Fact]
    public async Task Code_that_changed_behaviour_after_the_records_were_written_diverges_at_the_first_changed_reply()
    {
        await WriteTillAsync(turns: 4, checkpointEvery: 1000);

        var result = await AuditAsync(With<TillWithFee>());

        var d = Assert.Single(result.Divergences);
        Assert.Equal(("Till/t1", 1L, DivergenceKind.Reply, "Pay"), (d.Component, d.Seq, d.Kind, d.Method));
        Assert.Equal("[10]", System.Text.Encoding.UTF8.GetString(d.Args.Span));
        Assert.Equal("reply 10", d.Expected);
        Assert.Equal("reply 9", d.Actual);
        Assert.Empty((await AuditAsync(With<Till>())).Divergences);
    }

    [Fact]
    public async Task Changed_code_is_caught_after_the_latest_checkpoint_and_from_genesis_at_seq_1()
    {
        await WriteTillAsync(turns: 12, checkpointEvery: 5);

        Assert.Equal(11, Assert.Single((await AuditAsync(With<TillWithFee>())).Divergences).Seq);
        Assert.Equal(1, Assert.Single((await AuditAsync(With<TillWithFee>(), AuditMode.FromGenesis)).Divergences).Seq);
    }

    [Fact]
    public async Task A_component_reading_the_wall_clock_directly_diverges()
    {
        var registry = new ComponentRegistry().Add<IWallClock, WallClock>();
        await _fx.WriteAsync(registry, 1000, async rt =>
        {
            for (var i = 0; i < 3; i++) await rt.Call<IWallClock>("w", $"now-{i}").Now();
        });

        var d = Assert.Single((await AuditAsync(registry)).Divergences);
        Assert.Equal(("WallClock/w", 1L, DivergenceKind.Reply, "Now"), (d.Component, d.Seq, d.Kind, d.Method));
        Assert.NotEqual(d.Expected, d.Actual);
    }

    [Fact]
    public async Task A_state_type_that_changed_incompatibly_diverges_at_the_checkpoint()
    {
        await WriteTillAsync(turns: 5, checkpointEvery: 2);

        var d = Assert.Single((await AuditAsync(With<TillWithTextState>())).Divergences);
        Assert.Equal(DivergenceKind.State, d.Kind);
        Assert.Equal(4, d.Seq);
        Assert.Contains("no longer deserializes", d.Actual, StringComparison.Ordinal);
    }

    [Fact]
    public async Task From_genesis_a_state_difference_at_a_checkpoint_is_a_divergence_even_when_every_reply_matches()
    {
        await WriteTillAsync(turns: 6, checkpointEvery: 3);

        Assert.Empty((await AuditAsync(With<TillCountingTwice>())).Divergences); // replies after the checkpoint all match
        var d = Assert.Single((await AuditAsync(With<TillCountingTwice>(), AuditMode.FromGenesis)).Divergences);
        Assert.Equal((3L, DivergenceKind.State), (d.Seq, d.Kind));
        Assert.Contains("\"Count\":3", d.Expected, StringComparison.Ordinal);
        Assert.Contains("\"Count\":6", d.Actual, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Clean_bank_logs_pass_in_both_modes_and_after_truncation()
    {
        await _fx.WriteBankAsync(checkpointEvery: 7);
        var registry = new ComponentRegistry().Add<Bank.IAccount, Bank.Account>();

        var fromCheckpoint = await AuditAsync(registry);
        var fromGenesis = await AuditAsync(registry, AuditMode.FromGenesis);
        Assert.True(fromCheckpoint.Divergences.Count == 0 && fromGenesis.Divergences.Count == 0);
        Assert.Equal(60, fromGenesis.Turns);
        Assert.Equal(3, fromGenesis.Components.Count);

        await using (var store = SqliteLogStore.Open(_fx.Db))
        {
            var head = (await store.GetHeadAsync("Account/a0"))!;
            Assert.True(await store.TruncateAsync("Account/a0", head.CheckpointSeq) > 0);
        }

        var truncated = await AuditAsync(registry, AuditMode.FromGenesis);
        Assert.Empty(truncated.Divergences);
        Assert.True(truncated.Turns < 60);
    }

    public void Dispose() => _fx.Dispose();
}
