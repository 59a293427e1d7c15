using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;

namespace Middleware.Recovery.TestKit;

/// <summary>Rules 7 and 8 (checkpoints, truncation, dedup) of the storage contract.</summary>
public abstract partial class LogStoreContract<TStores>
{
    [StoreFact]
    public async Task The_latest_checkpoint_and_the_one_at_or_before_a_seq_are_found()
    {
        var epoch = await ClaimAsync("Account/1");
        await AppendAsync(Group("Account/1", epoch, 1, 3, Checkpoint(2, epoch)));
        await AppendAsync(Group("Account/1", epoch, 4, 2, Checkpoint(5, epoch)));
        await AppendAsync(Group("Account/1", epoch, 6, 3, Checkpoint(8, epoch)));
        await ReopenIfPossibleAsync();

        Assert.Equal(8, (await Store.GetCheckpointAsync("Account/1"))!.Seq);
        Assert.Equal(5, (await Store.GetCheckpointAsync("Account/1", 7))!.Seq);
        Assert.Equal(5, (await Store.GetCheckpointAsync("Account/1", 5))!.Seq);
        Assert.Equal(2, (await Store.GetCheckpointAsync("Account/1", 4))!.Seq);
        Assert.Null(await Store.GetCheckpointAsync("Account/1", 1));

        var latest = (await Store.GetCheckpointAsync("Account/1"))!;
        Assert.Equal((epoch, "hash-8", "{\"state\":8}"), (latest.Epoch, latest.StateHash, Text(latest.State)));
        Assert.True(latest.CreatedAtTicks > 0, "the store stamps the checkpoint time");
        Assert.Equal(8, (await Store.GetHeadAsync("Account/1"))!.CheckpointSeq);
    }

    [StoreFact]
    public async Task A_checkpoint_may_come_alone_or_point_before_its_group_but_not_past_the_log()
    {
        var epoch = await ClaimAsync("Account/1");
        await AppendAsync(Group("Account/1", epoch, 1, 4));

        Assert.Equal(AppendStatus.Ok, await AppendAsync(new AppendGroup("Account/1", epoch, [], Checkpoint(3, epoch))));
        Assert.Equal(AppendStatus.SeqConflict, await AppendAsync(new AppendGroup("Account/1", epoch, [], Checkpoint(5, epoch))));
        Assert.Equal(AppendStatus.Ok, await AppendAsync(Group("Account/1", epoch, 5, 2, Checkpoint(4, epoch))));
        Assert.Equal(AppendStatus.Ok, await AppendAsync(new AppendGroup("Account/1", epoch, [])));

        Assert.Equal(new ComponentHead("Account/1", epoch, "runtime-1", 6, 4), await Store.GetHeadAsync("Account/1"));
        Assert.Equal(3, (await Store.GetCheckpointAsync("Account/1", 3))!.Seq);

        // Truncating up to either checkpoint works, which needs the store to know where each one is.
        Assert.Equal(3, await Store.TruncateAsync("Account/1", 4));
        Assert.Equal(Range(4, 6), await SeqsAsync("Account/1"));
    }

    [StoreFact]
    public async Task A_request_recorded_with_a_checkpoint_is_found_even_after_its_turn_is_truncated()
    {
        var epoch = await ClaimAsync("Account/1");
        var r1 = new DedupEntry("req-1", 1, 111, Bytes("reply 1"));
        var r2 = new DedupEntry("req-2", 2, 222, Bytes(""));
        await AppendAsync(Group("Account/1", epoch, 1, 3, Checkpoint(3, epoch, r1, r2)));
        await AppendAsync(Group("Account/1", epoch, 4, 1));

        Assert.Equal(3, await Store.TruncateAsync("Account/1", 4));
        await ReopenIfPossibleAsync();

        var found1 = await Store.FindRequestAsync("Account/1", "req-1");
        Assert.NotNull(found1);
        Assert.Equal(("req-1", 1L, 111L, "reply 1"), (found1.RequestId, found1.Seq, found1.ArgsHash, Text(found1.Reply)));
        var found2 = await Store.FindRequestAsync("Account/1", "req-2");
        Assert.NotNull(found2);
        Assert.Equal(0, found2.Reply.Length);
        Assert.Null(await Store.FindRequestAsync("Account/1", "req-3"));
        Assert.Null(await Store.FindRequestAsync("Account/2", "req-1"));
        Assert.Equal([4L], await SeqsAsync("Account/1"));
    }

    [StoreFact]
    public async Task What_was_written_reads_back_verified_and_the_dedup_entries_are_listed_for_the_audit()
    {
        var epoch = await ClaimAsync("Account/1");
        var r1 = new DedupEntry("req-b", 1, 111, Bytes("reply 1"));
        var r2 = new DedupEntry("req-a", 2, 222, Bytes(""));
        await AppendAsync(Group("Account/1", epoch, 1, 3, Checkpoint(3, epoch, r1, r2)));
        await ReopenIfPossibleAsync();

        // A store deriving from LogStoreBase stores every record with its checksum (RecordChecksum) and checks it on reading.
        Assert.All(await Store.ReadAsync("Account/1", 1, 3), r => Assert.Equal(ChecksumStatus.Verified, r.Checksum));
        Assert.Equal(ChecksumStatus.Verified, (await Store.GetCheckpointAsync("Account/1"))!.Checksum);
        Assert.Equal(ChecksumStatus.Verified, (await Store.FindRequestAsync("Account/1", "req-b"))!.Checksum);
        var listed = await Store.ListDedupAsync("Account/1");
        Assert.Equal([("req-a", 2L, 222L, "", ChecksumStatus.Verified), ("req-b", 1L, 111L, "reply 1", ChecksumStatus.Verified)],
            listed.Select(d => (d.RequestId, d.Seq, d.ArgsHash, Text(d.Reply), d.Checksum)));
        Assert.Empty(await Store.ListDedupAsync("Account/2"));
    }

    [StoreFact]
    public async Task The_request_ids_of_a_component_are_listed_whole_or_not_at_all()
    {
        var epoch = await ClaimAsync("Account/1");
        await AppendAsync(Group("Account/1", epoch, 1, 3, Checkpoint(3, epoch, new DedupEntry("s:1", 1, 1, Bytes("1")), new DedupEntry("s:2", 2, 2, Bytes("2")))));
        await AppendAsync(Group("Account/1", epoch, 4, 5, Checkpoint(5, epoch, new DedupEntry("s:4", 4, 4, Bytes("4")))));
        await ReopenIfPossibleAsync();

        // What an activation past its checkpoint relies on to tell new ids from recorded ones: never a partial list.
        if (await Store.ListRequestIdsAsync("Account/1", 3) is { } all)
        {
            Assert.Equal(["s:1", "s:2", "s:4"], all.Order(StringComparer.Ordinal));
            Assert.Null(await Store.ListRequestIdsAsync("Account/1", 2));
            Assert.Empty((await Store.ListRequestIdsAsync("Account/2", 3))!);
        }
    }

    [StoreFact]
    public async Task Truncation_without_a_checkpoint_at_or_after_the_cut_is_refused_and_deletes_nothing()
    {
        var epoch = await ClaimAsync("Account/1");
        await AppendAsync(Group("Account/1", epoch, 1, 6, Checkpoint(2, epoch)));

        var error = await Assert.ThrowsAsync<StoreContractException>(() => Store.TruncateAsync("Account/1", 5));
        Assert.Contains("Account/1", error.Message);
        Assert.Contains("checkpoint", error.Message);
        Assert.Equal(Range(1, 6), await SeqsAsync("Account/1"));

        var other = await ClaimAsync("Account/2");
        await AppendAsync(Group("Account/2", other, 1, 2));
        await Assert.ThrowsAsync<StoreContractException>(() => Store.TruncateAsync("Account/2", 2));
        Assert.Equal(Range(1, 2), await SeqsAsync("Account/2"));
        Assert.Equal(0, await Store.TruncateAsync("Unknown/1", 10));
    }

    [StoreFact]
    public async Task Truncation_keeps_the_latest_checkpoint_and_every_later_record()
    {
        var epoch = await ClaimAsync("Account/1");
        await AppendAsync(Group("Account/1", epoch, 1, 5, Checkpoint(4, epoch)));
        await AppendAsync(Group("Account/1", epoch, 6, 5, Checkpoint(7, epoch)));

        Assert.Equal(7, await Store.TruncateAsync("Account/1", 8));
        Assert.Equal(Range(8, 10), await SeqsAsync("Account/1"));
        Assert.Empty(await Store.ReadAsync("Account/1", 1, 7));
        Assert.Equal(7, (await Store.GetCheckpointAsync("Account/1"))!.Seq);
        Assert.Equal(new ComponentHead("Account/1", epoch, "runtime-1", 10, 7), await Store.GetHeadAsync("Account/1"));

        Assert.Equal(0, await Store.TruncateAsync("Account/1", 8));
        Assert.Equal(AppendStatus.Ok, await AppendAsync(Group("Account/1", epoch, 11, 1)));
        await ReopenIfPossibleAsync();
        Assert.Equal(Range(8, 11), await SeqsAsync("Account/1"));
        Assert.Equal(Range(9, 10), await SeqsAsync("Account/1", 9, 10));
    }

    [StoreFact]
    public async Task A_log_truncated_to_nothing_continues_at_the_next_seq()
    {
        var a = await ClaimAsync("A/1");
        var b = await ClaimAsync("B/1");
        await AppendAsync(Group("B/1", b, 1, 2));
        await AppendAsync(Group("A/1", a, 1, 3, Checkpoint(3, a)));

        // A's records are the newest rows of the whole log; deleting all of them must not confuse what comes next.
        Assert.Equal(3, await Store.TruncateAsync("A/1", 4));
        Assert.Empty(await Store.ReadAsync("A/1", 1, long.MaxValue));
        Assert.Equal(3, (await Store.GetHeadAsync("A/1"))!.LastSeq);
        Assert.Equal(AppendStatus.SeqConflict, await AppendAsync(Group("A/1", a, 1, 1)));

        var statuses = await Store.AppendAsync([Group("B/1", b, 3, 1), Group("A/1", a, 4, 2)]);
        Assert.Equal([AppendStatus.Ok, AppendStatus.Ok], statuses);
        Assert.Equal(AppendStatus.Ok, await AppendAsync(Group("A/1", a, 6, 1)));
        await ReopenIfPossibleAsync();

        Assert.Equal(Range(4, 6), await SeqsAsync("A/1"));
        Assert.Empty(await SeqsAsync("A/1", 1, 3));
        Assert.Equal(Range(1, 3), await SeqsAsync("B/1"));
        Assert.Equal(3, (await Store.GetCheckpointAsync("A/1"))!.Seq);
    }
}
