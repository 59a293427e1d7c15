using Middleware.Core;
using Middleware.Recovery.Log;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;

namespace Middleware.Tests.Runtime;

/// <summary>
/// What the per-request cuts of issue 18 reuse or size exactly, checked where a mistake would show: the group-commit
/// writer's look-up table, group counts and pending lists are reused from batch to batch (a stale entry would give an
/// item another component's status or put a record in another group), and the turn record is encoded into one array of
/// exactly its length (a wrong size would grow and copy it, or cut it).
/// </summary>
public sealed class HotPathReuseTests
{
    [Fact]
    public async Task Every_record_gets_its_own_components_status_and_order_across_many_reused_batches()
    {
        var store = new MemoryLogStore();
        var components = Enumerable.Range(1, 12).Select(i => $"Account/{i}").ToList();
        foreach (var id in components) Assert.NotNull((await store.ClaimAsync(new ClaimRequest(id, 0, "runtime-1", ClaimMode.EpochOnly))).Claimed);
        // Claimed twice: epoch 2 in the store, so records written with epoch 1 are fenced, batch after batch.
        const string stale = "Account/stale";
        Assert.NotNull((await store.ClaimAsync(new ClaimRequest(stale, 0, "runtime-1", ClaimMode.EpochOnly))).Claimed);
        Assert.NotNull((await store.ClaimAsync(new ClaimRequest(stale, 1, "runtime-2", ClaimMode.EpochOnly))).Claimed);

        var writer = new GroupCommitWriter(store, maxBatch: 5);
        var ok = new List<Task<AppendStatus>>();
        var fenced = new List<Task<AppendStatus>>();
        const int rounds = 20;
        for (var seq = 1; seq <= rounds; seq++)
        {
            foreach (var id in components) ok.Add(writer.Enqueue(id, 1, new LogRecord(seq, 1, RecordKind.Turn, Payload(id, seq))));
            fenced.Add(writer.Enqueue(stale, 1, new LogRecord(seq, 1, RecordKind.Turn, Payload(stale, seq))));
            if (seq % 3 == 0) await Task.Yield(); // let batches form at different points
        }

        Assert.All(await Task.WhenAll(ok), status => Assert.Equal(AppendStatus.Ok, status));
        Assert.All(await Task.WhenAll(fenced), status => Assert.NotEqual(AppendStatus.Ok, status));
        Assert.True(writer.Batches > 10, $"expected many batches (reused lists), got {writer.Batches}");
        foreach (var id in components)
        {
            var records = await store.ReadAsync(id, 1, rounds);
            Assert.Equal(Enumerable.Range(1, rounds).Select(s => (long)s), records.Select(r => r.Seq));
            Assert.All(records, r => Assert.Equal(Payload(id, r.Seq), r.Payload.ToArray()));
        }

        Assert.Empty(await store.ReadAsync(stale, 1, rounds));
        await writer.DisposeAsync();
    }

    [Fact]
    public void A_turn_record_is_encoded_into_one_array_of_exactly_its_length()
    {
        IReadOnlyList<RecordedValue> values =
        [
            new RecordedValue(NondeterminismKind.UtcNow, 638_700_000_000_000_000),
            new RecordedValue(NondeterminismKind.Guid, 0, Guid.Parse("2f1e3d4c-0000-0000-0000-000000000001")),
            new RecordedValue(NondeterminismKind.SessionItem, 1, default, "wert-ä"u8.ToArray()),
            new RecordedValue(NondeterminismKind.BackendRead, 0, default, new byte[200]),
            new RecordedValue(NondeterminismKind.RandomSeed, -5),
        ];
        IReadOnlyList<OutboundCall> outbound = [new OutboundCall(300, OutboundKind.Component, "Ledger/€", "Account/a:7:300", "Post", "[1]"u8.ToArray(), new ComponentReply("17"u8.ToArray()))];
        var reply = new ComponentReply(ReadOnlyMemory<byte>.Empty, "Bank.Überzogen", new string('x', 200)) { ErrorData = "{\"a\":1}"u8.ToArray() };
        var turn = new TurnRecord("client-1:request-ü-42", "session-ß", "Teller/t", "Withdraw", "[250]"u8.ToArray(), values, reply) { TurnSeq = 1234567, Outbound = outbound };

        byte[] Encode() => RecordCodec.EncodeTurn(turn.RequestId, turn.SessionId, turn.Caller, turn.Method, turn.Args.Span, values, turn.TurnSeq, outbound, partial: false, reply);
        Encode(); // compiled before it is measured
        var before = GC.GetAllocatedBytesForCurrentThread();
        var payload = Encode();
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(RecordCodec.EncodeTurn(turn), payload);
        var back = RecordCodec.DecodeTurn(payload);
        Assert.Equal(turn.RequestId, back.RequestId);
        Assert.Equal(values, back.Values.Select(v => v with { Bytes = v.Bytes.ToArray() }).ToArray(), new RecordedValueBytes());
        Assert.True(back.Reply.SameAs(reply));
        Assert.Equal(1234567, back.TurnSeq);
        // One byte array of the payload's length (its header and padding on top), nothing grown and copied.
        Assert.InRange(allocated, payload.Length, payload.Length + 40);
    }

    private static byte[] Payload(string id, long seq) => System.Text.Encoding.UTF8.GetBytes($"{id}#{seq}");

    private sealed class RecordedValueBytes : IEqualityComparer<RecordedValue>
    {
        public bool Equals(RecordedValue a, RecordedValue b) =>
            a.Kind == b.Kind && a.Value == b.Value && a.GuidValue == b.GuidValue && a.Bytes.Span.SequenceEqual(b.Bytes.Span);

        public int GetHashCode(RecordedValue v) => HashCode.Combine(v.Kind, v.Value);
    }
}
