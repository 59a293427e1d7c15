using Microsoft.Data.Sqlite;
using Middleware.Inspection.Audit;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Recovery.Log;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Sqlite;
using Middleware.Recovery.Storage;
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
    public async Task Turns_in_doubt_are_reported_pending_at_the_end_of_the_log_and_passed_over_when_later_records_hide_them()
    {
        await WriteTillAsync(turns: 3, checkpointEvery: 1000);
        await _fx.WriteAsync(With<Till>(), 1000, async rt => await rt.Call<ITill>("t2", "pay-1").Pay(5));
        await using (var store = SqliteLogStore.Open(_fx.Db))
        {
            // Till/t1: as an older release could leave it: a partial record, then a turn of another request and a
            // checkpoint while the first stayed in doubt. Till/t2: a partial record at the end of the log (pending).
            var t1 = (await store.ClaimAsync(new ClaimRequest("Till/t1", (await store.GetHeadAsync("Till/t1"))!.Epoch, "old-release", ClaimMode.EpochOnly))).Claimed!.Epoch;
            var t2 = (await store.ClaimAsync(new ClaimRequest("Till/t2", (await store.GetHeadAsync("Till/t2"))!.Epoch, "old-release", ClaimMode.EpochOnly))).Claimed!.Epoch;
            var pay4 = new TurnRecord("pay-4", null, null, "Pay", "[10]"u8.ToArray(), [], new ComponentReply("40"u8.ToArray()));
            await store.AppendAsync([
                new AppendGroup("Till/t1", t1, [Partial("lost-1", 4, t1), new LogRecord(5, t1, RecordKind.Turn, RecordCodec.EncodeTurn(pay4))],
                    new CheckpointRecord(5, t1, "{\"Balance\":40,\"Count\":4}"u8.ToArray(), StateCodec.Hash("{\"Balance\":40,\"Count\":4}"u8))),
                new AppendGroup("Till/t2", t2, [Partial("open-1", 2, t2)]),
            ]);
        }

        var genesis = await AuditAsync(With<Till>(), AuditMode.FromGenesis);
        Assert.Empty(genesis.Divergences);
        Assert.Equal(
            [new InDoubtTurn("Till/t1", "lost-1", 4, "Pay", "the turn of request 'pay-4' at seq 5"), new InDoubtTurn("Till/t2", "open-1", 2, "Pay", null)],
            genesis.InDoubt);
        Assert.Single(genesis.PassedOver);

        // From the latest checkpoint the hidden one is out of sight; the pending one is still reported, and it is not an error.
        var latest = await AuditAsync(With<Till>());
        Assert.Equal([new InDoubtTurn("Till/t2", "open-1", 2, "Pay", null)], latest.InDoubt);
        Assert.Empty(latest.PassedOver);

        static LogRecord Partial(string requestId, long seq, long epoch) => new(seq, epoch, RecordKind.PartialTurn, RecordCodec.EncodeTurn(
            new TurnRecord(requestId, null, null, "Pay", "[1]"u8.ToArray(), [], ComponentReply.Void) { TurnSeq = seq, IsPartial = true }));
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

    [Fact]
    public async Task From_genesis_a_checkpoint_whose_bytes_changed_under_an_unchanged_hash_is_reported()
    {
        await WriteTillAsync(turns: 6, checkpointEvery: 3);
        // The older checkpoint is edited in place, its hash left alone: the latest one (seq 6) still verifies.
        await using (var connection = new SqliteConnection($"Data Source={_fx.Db};Pooling=False"))
        {
            await connection.OpenAsync();
            await using var update = connection.CreateCommand();
            update.CommandText = "UPDATE checkpoints SET state = $state WHERE seq = 3";
            update.Parameters.AddWithValue("$state", "{\"Balance\":99,\"Count\":3}"u8.ToArray());
            Assert.Equal(1, await update.ExecuteNonQueryAsync());
        }

        Assert.Empty((await AuditAsync(With<Till>())).Divergences); // out of sight from the latest checkpoint
        var d = Assert.Single((await AuditAsync(With<Till>(), AuditMode.FromGenesis)).Divergences);
        Assert.Equal((3L, DivergenceKind.Checkpoint, "(checkpoint)"), (d.Seq, d.Kind, d.Method));
        Assert.Contains("the hash recorded with them", d.Expected, StringComparison.Ordinal);
        Assert.Contains("changed after it was written", d.Actual, StringComparison.Ordinal);
    }

    [Fact]
    public async Task From_genesis_a_checkpoint_written_after_a_fence_is_verified_too()
    {
        await _fx.WriteAsync(With<Till>(), 1000, async rt =>
        {
            await rt.Call<ITill>("t1", "pay-1").Pay(10);
            await rt.GetOutcomeAsync(ComponentId.Parse("Till/t1"), "never-sent"); // seq 2: a fence, not a turn
            await rt.CheckpointAllAsync(); // the checkpoint follows the fence
        });
        await using (var store = SqliteLogStore.Open(_fx.Db))
            Assert.Equal(2, (await store.GetCheckpointAsync("Till/t1"))!.Seq);
        await using (var connection = new SqliteConnection($"Data Source={_fx.Db};Pooling=False"))
        {
            await connection.OpenAsync();
            await using var update = connection.CreateCommand();
            update.CommandText = "UPDATE checkpoints SET state = $state WHERE seq = 2";
            update.Parameters.AddWithValue("$state", "{\"Balance\":99,\"Count\":1}"u8.ToArray());
            Assert.Equal(1, await update.ExecuteNonQueryAsync());
        }

        var d = Assert.Single((await AuditAsync(With<Till>(), AuditMode.FromGenesis)).Divergences);
        Assert.Equal((2L, DivergenceKind.Checkpoint), (d.Seq, d.Kind));
    }

    [Fact]
    public async Task A_state_type_that_loses_a_member_when_reading_a_checkpoint_is_a_state_divergence_naming_the_member()
    {
        await WriteTillAsync(turns: 6, checkpointEvery: 3);

        // Every reply and every replayed state matches; only reading the checkpoints back loses Count.
        var genesis = Assert.Single((await AuditAsync(With<TillWithLossyState>(), AuditMode.FromGenesis)).Divergences);
        Assert.Equal((3L, DivergenceKind.State, "(checkpoint)"), (genesis.Seq, genesis.Kind, genesis.Method));
        Assert.Equal("$.Count = 3 read back from the checkpoint", genesis.Expected);
        Assert.StartsWith("$.Count reads back as 0: LossyTillState loses $.Count", genesis.Actual, StringComparison.Ordinal);

        // An activation would start from the latest checkpoint with Count 0: reported there too.
        var latest = Assert.Single((await AuditAsync(With<TillWithLossyState>())).Divergences);
        Assert.Equal((6L, DivergenceKind.State), (latest.Seq, latest.Kind));
        Assert.Equal("$.Count = 6 read back from the checkpoint", latest.Expected);
    }

    public void Dispose() => _fx.Dispose();
}
