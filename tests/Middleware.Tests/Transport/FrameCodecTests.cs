using System.Buffers;
using System.Text;
using Middleware.Protocol;

namespace Middleware.Tests.Transport;

public sealed class FrameCodecTests
{
    public static TheoryData<string> Messages() => new(AllMessages().Keys);

    internal static Dictionary<string, ProtocolMessage> AllMessages() => new()
    {
        ["hello"] = new HelloMessage(ProtocolConstants.Version, PeerRole.Silo, "silo-a", Enumerable.Range(0, 32).Select(i => (byte)i).ToArray()),
        ["hello-admin"] = new HelloMessage(ProtocolConstants.Version, PeerRole.Admin, "mw", new byte[32]),
        ["hello-v2-key"] = HelloMessage.Legacy(2, PeerRole.Silo, "silo-a", "sécret-ключ"),
        ["hello-v1-nokey"] = HelloMessage.Legacy(1, PeerRole.Client, "c", null),
        ["hello-challenge"] = new HelloChallengeMessage(Enumerable.Range(100, 32).Select(i => (byte)i).ToArray()),
        ["hello-proof"] = new HelloProofMessage(new byte[32]),
        ["hello-ok"] = new HelloOkMessage(ProtocolConstants.Version, "silo-b", 65536, HelloFlags.SessionsMustBeProven, new byte[] { 9, 8, 7 }),
        ["hello-ok-v2"] = new HelloOkMessage(2, "silo-b", 65536),
        ["hello-rejected"] = new HelloRejectedMessage("cluster key mismatch"),
        ["invoke"] = new InvokeMessage("Account", "acct-1", "Deposit", "s1:17", "s1", "Bank/x", "[250]"u8.ToArray(), InvokeFlags.Forwarded),
        ["invoke-minimal"] = new InvokeMessage("A", "", "M", "r", null, null, ReadOnlyMemory<byte>.Empty),
        // Every flag but TraceContext, which the encoder sets from TraceParent (the "invoke-traced" case).
        ["invoke-big"] = new InvokeMessage(new string('t', 300), "k", "m", "r", "", null, new byte[70_000], (InvokeFlags)0xFFFF_FFFF & ~InvokeFlags.TraceContext),
        ["invoke-traced"] = new InvokeMessage("T", "k", "m", "r", null, null, "[]"u8.ToArray(), InvokeFlags.Forwarded) { TraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", TraceState = "a=b" },
        ["reply-ok"] = ReplyMessage.Ok("1250"u8.ToArray()),
        ["reply-void"] = ReplyMessage.Ok(ReadOnlyMemory<byte>.Empty),
        ["reply-error"] = ReplyMessage.Error("System.InvalidOperationException", "insufficient funds: 5 < 10"),
        ["reply-error-data"] = ReplyMessage.Error("Bank.OverdraftException", "no", """{"Balance":5,"Hints":["x"]}"""u8.ToArray()),
        ["reply-badrequest-reused"] = ReplyMessage.BadRequest("id reused", ReplyCondition.RequestIdReused),
        ["reply-notfound-condition"] = ReplyMessage.NotFound("future", (ReplyCondition)300),
        ["reply-moved"] = ReplyMessage.Moved("10.0.0.7:11111"),
        ["reply-unavailable"] = ReplyMessage.Unavailable("shutting down"),
        ["reply-badrequest"] = ReplyMessage.BadRequest("no method"),
        ["reply-notfound"] = ReplyMessage.NotFound("unknown type Foo"),
        ["echo"] = new EchoMessage(new byte[] { 1, 2, 3 }),
        ["echo-reply"] = new EchoReplyMessage(new byte[1000]),
        ["ping"] = PingMessage.Instance,
        ["pong"] = PongMessage.Instance,
    };

    [Theory]
    [MemberData(nameof(Messages))]
    public void Every_message_round_trips_through_a_frame_also_when_split_into_tiny_segments(string name)
    {
        var original = AllMessages()[name];
        var bytes = FrameWriter.ToArray(0xDEAD_BEEF_0000_0042, original);
        Assert.Equal(ProtocolConstants.HeaderSize + original.GetPayloadSize(), bytes.Length);
        foreach (var segment in new[] { bytes.Length, 7, 1 })
        {
            var buffer = SegmentedSequence.Split(bytes, segment);
            Assert.Equal(FrameParseStatus.Frame, FrameParser.TryRead(ref buffer, ProtocolConstants.DefaultMaxFrameSize, out var frame, out var error));
            Assert.Null(error);
            Assert.True(buffer.IsEmpty);
            Assert.Equal(original.Type, frame.Type);
            Assert.Equal(0xDEAD_BEEF_0000_0042UL, frame.CorrelationId);
            Assert.True(MessageCodec.TryDecode(frame, out var decoded, out error), error?.ToString());
            Assert.Equal(Encode(original), Encode(decoded!));
            if (original is InvokeMessage or ReplyMessage) Assert.Equal(original, decoded);
        }
    }

    [Fact]
    public void Consecutive_frames_parse_one_by_one_and_a_partial_tail_needs_more_data()
    {
        var a = FrameWriter.ToArray(1, ReplyMessage.Ok("1"u8.ToArray()));
        var b = FrameWriter.ToArray(2, new EchoMessage("xy"u8.ToArray()));
        var bytes = a.Concat(b).Concat(b.Take(b.Length - 1)).ToArray();
        var buffer = SegmentedSequence.Split(bytes, 5);
        Assert.Equal(FrameParseStatus.Frame, FrameParser.TryRead(ref buffer, 4096, out var first, out _));
        Assert.Equal(1UL, first.CorrelationId);
        Assert.Equal(FrameParseStatus.Frame, FrameParser.TryRead(ref buffer, 4096, out var second, out _));
        Assert.Equal(MessageType.Echo, second.Type);
        var before = buffer.Length;
        Assert.Equal(FrameParseStatus.NeedMoreData, FrameParser.TryRead(ref buffer, 4096, out _, out _));
        Assert.Equal(before, buffer.Length);
        Assert.Equal(ProtocolErrorKind.Truncated, FrameParser.AtEndOfStream(buffer)!.Kind);
        Assert.Null(FrameParser.AtEndOfStream(ReadOnlySequence<byte>.Empty));
    }

    [Fact]
    public void The_wire_layout_is_length_type_correlation_payload_little_endian()
    {
        var bytes = FrameWriter.ToArray(0x0102030405060708, PingMessage.Instance);
        Assert.Equal(new byte[] { 9, 0, 0, 0, 30, 8, 7, 6, 5, 4, 3, 2, 1 }, bytes);
        var hello = FrameWriter.ToArray(0, new HelloMessage(ProtocolConstants.Version, PeerRole.Client, "c", new byte[32]));
        Assert.Equal("MWP", Encoding.ASCII.GetString(hello, ProtocolConstants.HeaderSize, 3));
    }

    [Fact]
    public void An_oversized_declared_length_is_refused_from_the_header_alone()
    {
        // Only the 5 header bytes exist: the parser must not wait for (or allocate) 4 GiB of body.
        var buffer = new ReadOnlySequence<byte>(new byte[] { 0xFF, 0xFF, 0xFF, 0xFF, (byte)MessageType.Invoke });
        Assert.Equal(FrameParseStatus.Error, FrameParser.TryRead(ref buffer, ProtocolConstants.DefaultMaxFrameSize, out _, out var error));
        Assert.Equal(ProtocolErrorKind.Oversized, error!.Kind);
        Assert.Contains("4294967295", error.Message);
        Assert.Contains("1048576", error.Message);
    }

    [Fact]
    public void Unknown_types_undersized_lengths_trailing_bytes_and_invalid_utf8_are_protocol_errors()
    {
        var unknown = new ReadOnlySequence<byte>(new byte[] { 9, 0, 0, 0, 99 });
        Assert.Equal(FrameParseStatus.Error, FrameParser.TryRead(ref unknown, 4096, out _, out var error));
        Assert.Equal(ProtocolErrorKind.UnknownType, error!.Kind);

        var undersized = new ReadOnlySequence<byte>(new byte[] { 3, 0, 0, 0, 30, 0, 0 });
        Assert.Equal(FrameParseStatus.Error, FrameParser.TryRead(ref undersized, 4096, out _, out error));
        Assert.Equal(ProtocolErrorKind.Undersized, error!.Kind);

        var trailing = new Frame(MessageType.Ping, 1, new ReadOnlySequence<byte>(new byte[] { 0 }));
        Assert.False(MessageCodec.TryDecode(trailing, out _, out error));
        Assert.Equal(ProtocolErrorKind.MalformedPayload, error!.Kind);

        var badUtf8 = new Frame(MessageType.HelloRejected, 0, new ReadOnlySequence<byte>(new byte[] { 2, 0xC3, 0x28 }));
        Assert.False(MessageCodec.TryDecode(badUtf8, out _, out _));

        var overlongVarint = new Frame(MessageType.Echo, 0, new ReadOnlySequence<byte>(new byte[] { 0xFF, 0xFF, 0xFF, 0xFF, 0x7F }));
        Assert.False(MessageCodec.TryDecode(overlongVarint, out _, out _));

        var unknownStatus = new Frame(MessageType.Reply, 0, new ReadOnlySequence<byte>(new byte[] { 42, 0 }));
        Assert.False(MessageCodec.TryDecode(unknownStatus, out _, out _));
    }

    private static byte[] Encode(ProtocolMessage message) => FrameWriter.ToArray(0, message);
}
