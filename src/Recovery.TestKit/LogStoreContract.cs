using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;

namespace Middleware.Recovery.TestKit;

/// <summary>
/// The storage contract of <see cref="ILogStore"/>, written once, rule by rule (the rules are on the interface): appends
/// and fencing here, claims in LogStoreContract.Ownership.cs, reads in .Reads.cs, checkpoints, truncation and dedup in
/// .Checkpoints.cs, and what several instances on one database must do in .Instances.cs. Every store shipped with the
/// middleware runs it, and so can yours:
/// <code>public sealed class MyLogStoreContractTests : LogStoreContract&lt;MyStores&gt;;</code>
/// where <c>MyStores</c> is your <see cref="StoreFactory"/>. Tests of your own (your schema, your failure messages) may go
/// in the same class and use its helpers (<c>Store</c>, <c>ClaimAsync</c>, <c>Group</c>, <c>AppendAsync</c>, ...).
/// </summary>
/// <typeparam name="TStores">The factory of the store under test.</typeparam>
public abstract partial class LogStoreContract<TStores> : StoreContract<TStores>
    where TStores : StoreFactory, new()
{
    [StoreFact]
    public async Task Appended_records_read_back_in_seq_order_with_payloads_and_commit_time()
    {
        var epoch = await ClaimAsync("Account/1");
        Assert.Equal(AppendStatus.Ok, await AppendAsync(Group("Account/1", epoch, 1, 3)));
        Assert.Equal(AppendStatus.Ok, await AppendAsync(Group("Account/1", epoch, 4, 2)));

        var records = await Store.ReadAsync("Account/1", 1, long.MaxValue);
        Assert.Equal(Range(1, 5), records.Select(r => r.Seq));
        Assert.All(records, r =>
        {
            Assert.Equal($"Account/1 turn {r.Seq}", Text(r.Payload));
            Assert.Equal(epoch, r.Epoch);
            Assert.Equal(RecordKind.Turn, r.Kind);
            Assert.True(r.CommittedAtTicks > 0, "the store stamps the commit time");
        });
        Assert.Single(records.Take(3).Select(r => r.CommittedAtTicks).Distinct());
        Assert.Equal(Range(2, 4), await SeqsAsync("Account/1", 2, 4));
        Assert.Equal(5, (await Store.GetHeadAsync("Account/1"))!.LastSeq);
    }

    [StoreFact]
    public async Task Everything_acknowledged_is_still_there_after_reopen()
    {
        var epoch = await ClaimAsync("Account/1", owner: "silo-a");
        var dedup = new DedupEntry("req-1", 2, 42, Bytes("reply to req-1"));
        await AppendAsync(Group("Account/1", epoch, 1, 3, Checkpoint(2, epoch, dedup)));
        await AppendAsync(Group("Account/1", epoch, 4, 1));

        if (!await ReopenIfPossibleAsync()) return; // needs CanReopen

        Assert.Equal(new ComponentHead("Account/1", epoch, "silo-a", 4, 2), await Store.GetHeadAsync("Account/1"));
        Assert.Equal(Range(1, 4), await SeqsAsync("Account/1"));
        Assert.Equal("Account/1 turn 3", Text((await Store.ReadAsync("Account/1", 3, 3))[0].Payload));
        var checkpoint = await Store.GetCheckpointAsync("Account/1");
        Assert.NotNull(checkpoint);
        Assert.Equal((2L, "hash-2", "{\"state\":2}"), (checkpoint.Seq, checkpoint.StateHash, Text(checkpoint.State)));
        var found = await Store.FindRequestAsync("Account/1", "req-1");
        Assert.NotNull(found);
        Assert.Equal((2L, 42L, "reply to req-1"), (found.Seq, found.ArgsHash, Text(found.Reply)));

        // The reopened store keeps fencing and appending from where it was.
        Assert.Equal(AppendStatus.Ok, await AppendAsync(Group("Account/1", epoch, 5, 1)));
        Assert.Equal(Range(1, 5), await SeqsAsync("Account/1"));
    }

    [StoreFact]
    public async Task A_fenced_group_writes_nothing_while_another_group_in_the_same_call_commits()
    {
        var staleEpoch = await ClaimAsync("Account/a");
        var newEpoch = await ClaimAsync("Account/a", staleEpoch, "runtime-2");
        var epochB = await ClaimAsync("Account/b");

        var statuses = await Store.AppendAsync(
        [
            Group("Account/a", staleEpoch, 1, 2, Checkpoint(1, staleEpoch, new DedupEntry("stale-req", 1, 1, Bytes("x")))),
            Group("Account/b", epochB, 1, 2),
        ]);

        Assert.Equal([AppendStatus.Fenced, AppendStatus.Ok], statuses);
        Assert.Empty(await Store.ReadAsync("Account/a", 1, long.MaxValue));
        Assert.Equal(new ComponentHead("Account/a", newEpoch, "runtime-2", 0, 0), await Store.GetHeadAsync("Account/a"));
        Assert.Null(await Store.GetCheckpointAsync("Account/a"));
        Assert.Null(await Store.FindRequestAsync("Account/a", "stale-req"));
        Assert.Equal(Range(1, 2), await SeqsAsync("Account/b"));

        // The current owner starts at seq 1: the stale group left no trace in the log either.
        Assert.Equal(AppendStatus.Ok, await AppendAsync(Group("Account/a", newEpoch, 1, 1)));
        Assert.Equal([1L], await SeqsAsync("Account/a"));
    }

    [StoreFact]
    public async Task A_group_for_a_component_never_claimed_is_fenced()
    {
        Assert.Equal(AppendStatus.Fenced, await AppendAsync(Group("Ghost/1", 1, 1, 1)));
        Assert.Null(await Store.GetHeadAsync("Ghost/1"));
        Assert.Empty(await Store.ReadAsync("Ghost/1", 1, long.MaxValue));
        Assert.Empty(await Store.ListComponentsAsync());
    }

    [StoreFact]
    public async Task A_gap_or_a_rewrite_is_refused_as_a_seq_conflict_and_changes_nothing()
    {
        var epoch = await ClaimAsync("Account/1");
        await AppendAsync(Group("Account/1", epoch, 1, 2));

        Assert.Equal(AppendStatus.SeqConflict, await AppendAsync(Group("Account/1", epoch, 4, 1)));                 // gap
        Assert.Equal(AppendStatus.SeqConflict, await AppendAsync(Group("Account/1", epoch, 2, 2, tag: " rewritten"))); // rewrite
        Assert.Equal(AppendStatus.SeqConflict, await AppendAsync(new AppendGroup("Account/1", epoch, [Rec(3, epoch), Rec(5, epoch)]))); // gap inside
        Assert.Equal(AppendStatus.SeqConflict, await AppendAsync(Group("Account/1", epoch, 3, 1, Checkpoint(4, epoch))));             // checkpoint past the group

        var records = await Store.ReadAsync("Account/1", 1, long.MaxValue);
        Assert.Equal([1L, 2L], records.Select(r => r.Seq));
        Assert.Equal("Account/1 turn 2", Text(records[1].Payload));
        Assert.Equal(2, (await Store.GetHeadAsync("Account/1"))!.LastSeq);
        Assert.Null(await Store.GetCheckpointAsync("Account/1"));
        Assert.Equal(AppendStatus.Ok, await AppendAsync(Group("Account/1", epoch, 3, 1)));
    }

    [StoreFact]
    public async Task A_stale_epoch_is_reported_as_fenced_even_when_its_seqs_are_also_wrong()
    {
        var stale = await ClaimAsync("Account/1");
        await ClaimAsync("Account/1", stale);
        Assert.Equal(AppendStatus.Fenced, await AppendAsync(Group("Account/1", stale, 7, 1)));
        Assert.Equal(AppendStatus.Fenced, await AppendAsync(new AppendGroup("Account/1", stale, [Rec(1, stale), Rec(3, stale)])));
    }

    [StoreFact]
    public async Task Conflicting_and_fenced_groups_are_reported_in_order_without_affecting_the_others()
    {
        var a = await ClaimAsync("A/1");
        var b = await ClaimAsync("B/1");
        var c = await ClaimAsync("C/1");
        await AppendAsync(Group("A/1", a, 1, 1));

        var statuses = await Store.AppendAsync(
        [
            Group("A/1", a, 2, 2),
            Group("B/1", b, 5, 1),     // gap
            Group("C/1", c + 1, 1, 1), // wrong epoch
            Group("A/1", a, 4, 1),     // follows the first group of this same call
            Group("B/1", b, 1, 1),
        ]);

        Assert.Equal([AppendStatus.Ok, AppendStatus.SeqConflict, AppendStatus.Fenced, AppendStatus.Ok, AppendStatus.Ok], statuses);
        Assert.Equal(Range(1, 4), await SeqsAsync("A/1"));
        Assert.Equal([1L], await SeqsAsync("B/1"));
        Assert.Empty(await SeqsAsync("C/1"));
        Assert.Empty(await Store.AppendAsync([]));
    }
}
