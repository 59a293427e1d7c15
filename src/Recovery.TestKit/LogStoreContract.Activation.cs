using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;

namespace Middleware.Recovery.TestKit;

/// <summary>
/// The activation read (<see cref="ILogStore.ReadForActivationAsync(string, CancellationToken)"/>): whatever way a store answers it, it returns what
/// the separate reads return (head, latest checkpoint at or before the last seq, the records after it).
/// </summary>
public abstract partial class LogStoreContract<TStores>
{
    [StoreFact]
    public async Task The_activation_read_of_an_unknown_or_empty_component_finds_nothing_or_just_its_head()
    {
        var nothing = await Store.ReadForActivationAsync("Nobody/1");
        Assert.Null(nothing.Head);
        Assert.Null(nothing.Checkpoint);
        Assert.Empty(nothing.Tail);

        var epoch = await ClaimAsync("Empty/1");
        var empty = await Store.ReadForActivationAsync("Empty/1");
        Assert.Equal(new ComponentHead("Empty/1", epoch, "runtime-1", 0, 0), empty.Head);
        Assert.Null(empty.Checkpoint);
        Assert.Empty(empty.Tail);
        Assert.True(empty.IsComplete);
    }

    [StoreFact]
    public async Task The_activation_read_returns_what_the_head_checkpoint_and_range_reads_return()
    {
        // No checkpoint: the whole log.
        var a = await ClaimAsync("Account/a");
        await AppendAsync(Group("Account/a", a, 1, 3));
        // A checkpoint and a short tail after it, with older checkpoints before.
        var b = await ClaimAsync("Account/b");
        await AppendAsync(Group("Account/b", b, 1, 3, Checkpoint(2, b)));
        await AppendAsync(Group("Account/b", b, 4, 3, Checkpoint(5, b)));
        await AppendAsync(Group("Account/b", b, 7, 2));
        // A checkpoint at the last seq: no tail. Another component's records in between must not leak in.
        var c = await ClaimAsync("Account/c");
        await AppendAsync(Group("Account/c", c, 1, 4, Checkpoint(4, c)));
        // The log before the checkpoint truncated, then a new owner.
        var d = await ClaimAsync("Account/d");
        await AppendAsync(Group("Account/d", d, 1, 5, Checkpoint(3, d)));
        Assert.Equal(2, await Store.TruncateAsync("Account/d", 3));
        d = await ClaimAsync("Account/d", d, "runtime-2");
        await AppendAsync(Group("Account/d", d, 6, 1));
        await ReopenIfPossibleAsync();

        foreach (var (id, checkpointSeq, tail) in new[] { ("Account/a", 0L, Range(1, 3)), ("Account/b", 5L, Range(6, 8)), ("Account/c", 4L, []), ("Account/d", 3L, Range(4, 6)) })
        {
            var read = await Store.ReadForActivationAsync(id);
            var head = await Store.GetHeadAsync(id);
            var checkpoint = await Store.GetCheckpointAsync(id, head!.LastSeq);
            var records = await Store.ReadAsync(id, (checkpoint?.Seq ?? 0) + 1, head.LastSeq);

            Assert.Equal(head, read.Head);
            Assert.Equal(checkpointSeq, read.Checkpoint?.Seq ?? 0);
            Assert.Equal(Describe(checkpoint), Describe(read.Checkpoint));
            Assert.Equal(tail, read.Tail.Select(r => r.Seq).ToList());
            Assert.Equal(records.Select(Describe).ToList(), read.Tail.Select(Describe).ToList());
            Assert.True(read.IsComplete, $"the activation read of {id} runs from its checkpoint to its head without a gap");

            var composed = await ActivationRead.ComposeAsync(Store, id, CancellationToken.None);
            Assert.Equal(composed.Head, read.Head);
            Assert.Equal(Describe(composed.Checkpoint), Describe(read.Checkpoint));
            Assert.Equal(composed.Tail.Select(Describe).ToList(), read.Tail.Select(Describe).ToList());
        }
    }

    [StoreFact]
    public async Task The_activation_read_with_a_request_id_says_it_unrecorded_only_when_no_checkpoint_recorded_it()
    {
        var epoch = await ClaimAsync("Account/1");
        await AppendAsync(Group("Account/1", epoch, 1, 3, Checkpoint(2, epoch, new DedupEntry("req-1", 1, 111, Bytes("reply 1")))));
        await ReopenIfPossibleAsync();

        // Recorded with the checkpoint: not named (the activation then looks it up as before and gets the recorded reply).
        var recorded = await Store.ReadForActivationAsync("Account/1", "req-1");
        Assert.Null(recorded.RequestNotRecorded);
        // Unknown to the dedup table (whether or not a turn of the tail ran it): named, with the same read as without an id.
        var unknown = await Store.ReadForActivationAsync("Account/1", "req-9");
        var plain = await Store.ReadForActivationAsync("Account/1");
        Assert.Equal("req-9", unknown.RequestNotRecorded);
        Assert.Null(plain.RequestNotRecorded);
        Assert.Equal(plain.Head, unknown.Head);
        Assert.Equal(Describe(plain.Checkpoint), Describe(unknown.Checkpoint));
        Assert.Equal(plain.Tail.Select(Describe).ToList(), unknown.Tail.Select(Describe).ToList());
        // The same id on another component is another request; an unknown component has nothing to say.
        Assert.Null((await Store.ReadForActivationAsync("Nobody/1", "req-1")).Head);
        var other = await ClaimAsync("Account/2");
        Assert.Equal("req-1", (await Store.ReadForActivationAsync("Account/2", "req-1")).RequestNotRecorded);
        Assert.Equal(other, (await Store.GetHeadAsync("Account/2"))!.Epoch);
    }

    private static string Describe(CheckpointRecord? c) =>
        c is null ? "none" : $"{c.Seq}/{c.Epoch}/{c.StateHash}/{Text(c.State)}/{c.CreatedAtTicks}/{c.Checksum}";

    private static string Describe(LogRecord r) => $"{r.Seq}/{r.Epoch}/{r.Kind}/{Text(r.Payload)}/{r.CommittedAtTicks}/{r.Checksum}";
}
