using System.Buffers;
using System.Runtime.InteropServices;
using Middleware.Core;
using Middleware.Protocol;
using Middleware.Recovery.Log;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;

namespace Middleware.Tests.Runtime;

/// <summary>
/// The per-request cuts of issue 18 (third round), checked where a mistake would show: a turn record encoded with room for
/// the checksum header is sealed in place (no copy) and reads back verified and byte for byte; a record whose payload was
/// replaced is sealed by copy and the old array is left alone; a connection's repeated type, method and session id decode
/// to the same strings, and anything else decodes as before; the group-commit writer releases
/// a failed batch's waiters and leaves nothing pending at dispose.
/// </summary>
public sealed class HotPathSealAndStringsTests
{
    private static byte[] TurnWithRoom(string requestId) =>
        RecordCodec.EncodeTurn(requestId, "s", null, "Deposit", "[5]"u8, [new RecordedValue(NondeterminismKind.UtcNow, 42)], 0, [], partial: false,
            new ComponentReply("7"u8.ToArray()), RecordChecksum.HeaderLength);

    [Fact]
    public async Task A_turn_record_with_room_is_sealed_in_place_and_reads_back_verified()
    {
        var withRoom = TurnWithRoom("r1");
        var payload = withRoom.AsMemory(RecordChecksum.HeaderLength);
        var expected = payload.ToArray();
        // The payload after the room is exactly what the encoder writes without room.
        Assert.Equal(RecordCodec.EncodeTurn("r1", "s", null, "Deposit", "[5]"u8, [new RecordedValue(NondeterminismKind.UtcNow, 42)], 0, [], partial: false,
            new ComponentReply("7"u8.ToArray())), expected);
        var record = new LogRecord(1, 1, RecordKind.Turn, payload) { SealRoom = withRoom };

        var sealedGroups = Checksums.Seal([new AppendGroup("Account/1", 1, [record])]);
        var sealedRecord = sealedGroups[0].Records[0];
        Assert.True(MemoryMarshal.TryGetArray(sealedRecord.Payload, out var segment));
        Assert.Same(withRoom, segment.Array); // no copy
        Assert.Equal(0, segment.Offset);
        Assert.Equal(withRoom.Length, segment.Count);
        Assert.Null(sealedRecord.SealRoom);
        Assert.Equal(RecordChecksum.Marker, withRoom[0]);
        Assert.Equal(RecordChecksum.SealRecord("Account/1", new LogRecord(1, 1, RecordKind.Turn, expected)), withRoom);

        var store = new MemoryLogStore();
        Assert.NotNull((await store.ClaimAsync(new ClaimRequest("Account/1", 0, "runtime-1", ClaimMode.EpochOnly))).Claimed);
        Assert.Equal(AppendStatus.Ok, (await store.AppendAsync([new AppendGroup("Account/1", 1, [record])]))[0]);
        var read = Assert.Single(await store.ReadAsync("Account/1", 1, 1));
        Assert.Equal(ChecksumStatus.Verified, read.Checksum);
        Assert.Equal(expected, read.Payload.ToArray());
        Assert.Equal(expected, payload.ToArray()); // the unsealed record (the mirror's copy) is unchanged
    }

    [Fact]
    public void A_record_whose_payload_was_replaced_is_sealed_by_copy_and_the_old_array_is_left_alone()
    {
        var withRoom = TurnWithRoom("r1");
        var other = TurnWithRoom("r2").AsSpan(RecordChecksum.HeaderLength).ToArray();
        var record = new LogRecord(1, 1, RecordKind.Turn, withRoom.AsMemory(RecordChecksum.HeaderLength)) { SealRoom = withRoom } with { Payload = other };

        var sealedRecord = Checksums.Seal([new AppendGroup("Account/1", 1, [record])])[0].Records[0];
        Assert.True(MemoryMarshal.TryGetArray(sealedRecord.Payload, out var segment));
        Assert.NotSame(withRoom, segment.Array);
        Assert.Equal(new byte[RecordChecksum.HeaderLength], withRoom.AsSpan(0, RecordChecksum.HeaderLength).ToArray());
        Assert.Equal(RecordChecksum.SealRecord("Account/1", new LogRecord(1, 1, RecordKind.Turn, other)), sealedRecord.Payload.ToArray());

        // A slice that does not start right after the room is not sealed in place either.
        var shifted = new LogRecord(1, 1, RecordKind.Turn, withRoom.AsMemory(RecordChecksum.HeaderLength + 1)) { SealRoom = withRoom };
        var sealedShifted = Checksums.Seal([new AppendGroup("Account/1", 1, [shifted])])[0].Records[0];
        Assert.True(MemoryMarshal.TryGetArray(sealedShifted.Payload, out var shiftedSegment));
        Assert.NotSame(withRoom, shiftedSegment.Array);
        Assert.Equal(new byte[RecordChecksum.HeaderLength], withRoom.AsSpan(0, RecordChecksum.HeaderLength).ToArray());
    }

    private static InvokeMessage Decode(InvokeMessage message, RecentStrings? recent)
    {
        var bytes = FrameWriter.ToArray(1, message)[ProtocolConstants.HeaderSize..];
        var frame = new Frame(MessageType.Invoke, 1, new ReadOnlySequence<byte>(bytes));
        Assert.True(MessageCodec.TryDecode(frame, out var decoded, out var error, ProtocolConstants.Version, recent), error?.ToString());
        return (InvokeMessage)decoded!;
    }

    [Fact]
    public void A_connections_repeated_type_method_and_session_decode_to_the_same_strings()
    {
        var recent = new RecentStrings();
        var first = Decode(new InvokeMessage("Account", "1", "Deposit", "s:1", "session-ä", null, "[5]"u8.ToArray()), recent);
        var second = Decode(new InvokeMessage("Account", "2", "Deposit", "s:2", "session-ä", null, "[6]"u8.ToArray()), recent);
        Assert.Equal(new InvokeMessage("Account", "2", "Deposit", "s:2", "session-ä", null, "[6]"u8.ToArray()), second);
        Assert.Same(first.ComponentType, second.ComponentType);
        Assert.Same(first.Method, second.Method);
        Assert.Same(first.SessionId, second.SessionId);
        Assert.NotSame(first.Key, second.Key);

        // Other values in the same fields, more than the slots hold, then the first ones again: always the right text.
        for (var i = 0; i < 10; i++)
        {
            var m = Decode(new InvokeMessage($"Type{i}", "k", $"Method{i}", $"s:{i}", i % 2 == 0 ? null : $"session{i}", null, "[]"u8.ToArray()), recent);
            Assert.Equal(($"Type{i}", $"Method{i}", i % 2 == 0 ? null : $"session{i}"), (m.ComponentType, m.Method, m.SessionId));
        }

        var again = Decode(new InvokeMessage("Account", "3", "Withdraw", "s:3", "session-ä", null, "[7]"u8.ToArray()), recent);
        Assert.Equal(("Account", "Withdraw", "session-ä"), (again.ComponentType, again.Method, again.SessionId));
    }

    [Fact]
    public void Invalid_utf8_in_a_type_is_refused_with_or_without_the_connections_strings()
    {
        var recent = new RecentStrings();
        Decode(new InvokeMessage("Account", "1", "Deposit", "s:1", null, null, "[5]"u8.ToArray()), recent);
        var bytes = FrameWriter.ToArray(1, new InvokeMessage("Accoun\u00e4", "1", "Deposit", "s:1", null, null, "[5]"u8.ToArray()))[ProtocolConstants.HeaderSize..];
        // Break the second byte of the two-byte "ä": the type is no longer valid UTF-8.
        var at = Array.IndexOf(bytes, (byte)0xC3);
        bytes[at + 1] = 0x41;
        var frame = new Frame(MessageType.Invoke, 1, new ReadOnlySequence<byte>(bytes));
        Assert.False(MessageCodec.TryDecode(frame, out _, out var error, ProtocolConstants.Version, recent));
        Assert.Equal(ProtocolErrorKind.MalformedPayload, error!.Kind);
        Assert.False(MessageCodec.TryDecode(frame, out _, out _, ProtocolConstants.Version, recent));
    }

    [Fact]
    public async Task A_failed_batch_releases_every_waiter_and_dispose_leaves_nothing_pending()
    {
        var store = new MemoryLogStore();
        var writer = new GroupCommitWriter(store, maxBatch: 4);
        // Never claimed: the store refuses the groups (fenced); every waiter hears so before dispose returns.
        var tasks = Enumerable.Range(1, 40).Select(i => writer.Enqueue($"Account/{i % 7}", 1, new LogRecord(1 + i / 7, 1, RecordKind.Turn, new byte[] { 1 }))).ToList();
        await writer.DisposeAsync();
        Assert.All(tasks, t => Assert.True(t.IsCompleted, "every waiter is released by the time the writer is disposed"));
        Assert.All(tasks, t => Assert.NotEqual(AppendStatus.Ok, t.Result));
    }
}
