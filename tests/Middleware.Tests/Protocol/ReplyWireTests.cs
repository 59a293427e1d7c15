using System.Buffers;
using Middleware.Protocol;
using Middleware.Tests.Transport;

namespace Middleware.Tests.Protocol;

/// <summary>Protocol version 2 of the Reply payload: error data and conditions, and how a version-1 peer is still served.</summary>
public sealed class ReplyWireTests
{
    private static readonly byte[] Data = """{"Balance":10}"""u8.ToArray();

    private static ReplyMessage? Decode(byte[] payload, ushort version = ProtocolConstants.Version)
    {
        var frame = new Frame(MessageType.Reply, 1, new ReadOnlySequence<byte>(payload));
        return MessageCodec.TryDecode(frame, out var message, out _, version) ? (ReplyMessage)message! : null;
    }

    private static byte[] Payload(ReplyMessage reply) => FrameWriter.ToArray(1, reply)[ProtocolConstants.HeaderSize..];

    [Fact]
    public void Error_data_and_conditions_round_trip_in_version_2()
    {
        var error = ReplyMessage.Error("Bank.OverdraftException", "no", Data);
        Assert.Equal(error, Decode(Payload(error)));
        Assert.Equal(Data, Decode(Payload(error))!.ErrorData.ToArray());
        var reused = ReplyMessage.BadRequest("used", ReplyCondition.RequestIdReused);
        Assert.Equal(ReplyCondition.RequestIdReused, Decode(Payload(reused))!.Condition);
        Assert.True(Decode(Payload(ReplyMessage.Error("T", "m")))!.ErrorData.IsEmpty);
        Assert.Same(error, error.ForVersion(2));
    }

    [Fact]
    public void A_reply_for_a_version_1_peer_is_the_version_1_layout_without_data_or_condition()
    {
        // Version 1's Error: status, type, message; its BadRequest: status, detail. Nothing after.
        byte[] v1Error = [2, 1, (byte)'T', 2, (byte)'n', (byte)'o'];
        Assert.Equal(v1Error, Payload(ReplyMessage.Error("T", "no", Data).ForVersion(1)));
        Assert.Equal([5, 1, (byte)'x'], Payload(ReplyMessage.BadRequest("x", ReplyCondition.RequestIdReused).ForVersion(1)));
        var decoded = Decode(v1Error, version: 1)!;
        Assert.Equal(("T", "no", 0), (decoded.ErrorType, decoded.ErrorMessage, decoded.ErrorData.Length));

        // Each version decodes its own layout exactly: the other's is short or has trailing bytes.
        Assert.Null(Decode(v1Error));
        Assert.Null(Decode(Payload(ReplyMessage.Error("T", "no", Data)), version: 1));
        Assert.Null(Decode([.. Payload(ReplyMessage.Moved("h:1")), 1]));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task A_server_answers_each_peer_in_the_protocol_version_of_its_hello(ushort version)
    {
        await using var server = await TransportTestServer.StartAsync(new DelegateHandler((m, _) => ValueTask.FromResult(
            m.Method == "Fail" ? ReplyMessage.Error("Bank.OverdraftException", "no", Data) : ReplyMessage.BadRequest("used", ReplyCondition.RequestIdReused))));
        await using var peer = await RawPeer.ConnectAsync(server.EndPoint);
        await peer.SendAsync(RawPeer.Hello(version));
        var (_, welcome) = (await peer.ReadFrameAsync(version))!.Value;
        Assert.Equal(version, Assert.IsType<HelloOkMessage>(welcome).ProtocolVersion);

        await peer.SendAsync(FrameWriter.ToArray(5, new InvokeMessage("Vault", "v", "Fail", "r1", null, null, "[]"u8.ToArray())));
        await peer.SendAsync(FrameWriter.ToArray(6, new InvokeMessage("Vault", "v", "Reuse", "r2", null, null, "[]"u8.ToArray())));
        var replies = new Dictionary<ulong, ReplyMessage>();
        for (var i = 0; i < 2; i++)
        {
            var (id, message) = (await peer.ReadFrameAsync(version))!.Value;
            replies[id] = Assert.IsType<ReplyMessage>(message);
        }

        Assert.Equal(version >= 2 ? Data : [], replies[5].ErrorData.ToArray());
        Assert.Equal("no", replies[5].ErrorMessage);
        Assert.Equal(version >= 2 ? ReplyCondition.RequestIdReused : ReplyCondition.None, replies[6].Condition);
    }

    [Fact]
    public void The_client_offers_the_newest_version_and_a_server_refuses_only_versions_outside_its_range()
    {
        Assert.Equal(4, ProtocolConstants.Version);
        static HandshakeStep Judge(byte[] hello) => new ServerHandshake(HandshakeKeys.None, "s", ProtocolConstants.DefaultMaxFrameSize).Receive(FrameOf(hello));
        Assert.NotNull(Judge(RawPeer.Hello(1)).Accepted);
        Assert.NotNull(Judge(RawPeer.Hello(2)).Accepted);
        Assert.NotNull(Judge(RawPeer.Hello(3)).Accepted);
        Assert.NotNull(Judge(RawPeer.Hello(4)).Accepted);
        var newer = new ServerHandshake(HandshakeKeys.None, "s", ProtocolConstants.DefaultMaxFrameSize, serverVersion: 2).Receive(FrameOf(RawPeer.Hello(3)));
        Assert.Contains("serves peers down to version 1", newer.RejectReason);
        Assert.Null(Judge(RawPeer.Hello(0)).Accepted);
    }

    private static Frame FrameOf(byte[] bytes)
    {
        var buffer = new ReadOnlySequence<byte>(bytes);
        Assert.Equal(FrameParseStatus.Frame, FrameParser.TryRead(ref buffer, ProtocolConstants.DefaultMaxFrameSize, out var frame, out _));
        return frame;
    }
}
