using Middleware.Protocol;
using Middleware.Transport;

namespace Middleware.Tests.Transport;

public sealed class HandshakeTests
{
    [Fact]
    public async Task A_client_of_the_same_version_is_welcomed_with_the_silo_id_and_frame_limit()
    {
        await using var server = await TransportTestServer.StartAsync(DelegateHandler.EchoRequestId(), new TransportOptions { SiloId = "silo-7", MaxFrameSize = 8192 });
        await using var connection = await server.ConnectAsync();
        Assert.Equal("silo-7", connection.RemoteSiloId);
        Assert.Equal(8192, connection.RemoteMaxFrameSize);
        await connection.PingAsync();
        Assert.Equal(1, server.Metrics.ConnectionsActive);
    }

    [Fact]
    public async Task Another_protocol_version_is_rejected_naming_both_versions_and_closed()
    {
        await using var server = await TransportTestServer.StartAsync(DelegateHandler.EchoRequestId());
        await using var peer = await RawPeer.ConnectAsync(server.EndPoint);
        await peer.SendAsync(RawPeer.Hello(version: 99));
        var frames = await peer.ReadUntilClosedAsync();
        var rejected = Assert.IsType<HelloRejectedMessage>(Assert.Single(frames));
        Assert.Contains("protocol version 99", rejected.Reason);
        Assert.Contains($"protocol version {ProtocolConstants.Version}", rejected.Reason);
        Assert.Equal(1, server.Metrics.HandshakesRejected);
    }

    [Fact]
    public async Task A_missing_or_wrong_cluster_key_is_refused_and_the_right_one_is_accepted()
    {
        await using var server = await TransportTestServer.StartAsync(DelegateHandler.EchoRequestId(), new TransportOptions { SiloId = "s", ClusterKey = "blue-cluster" });

        var missing = await Assert.ThrowsAsync<HandshakeRejectedException>(() => server.ConnectAsync(clusterKey: null));
        Assert.StartsWith("cluster key required", missing.Reason);
        var wrong = await Assert.ThrowsAsync<HandshakeRejectedException>(() => server.ConnectAsync(clusterKey: "green-cluster"));
        Assert.StartsWith("cluster key mismatch", wrong.Reason);
        Assert.DoesNotContain("blue-cluster", wrong.Reason);

        await using var ok = await server.ConnectAsync(clusterKey: "blue-cluster");
        var reply = await ok.InvokeAsync(new InvokeMessage("A", "k", "M", "r-1", null, null, "[]"u8.ToArray()));
        Assert.Equal("\"r-1\"", System.Text.Encoding.UTF8.GetString(reply.Result.Span));
        Assert.Equal(2, server.Metrics.HandshakesRejected);
    }

    [Fact]
    public async Task A_first_frame_that_is_not_Hello_is_rejected_and_closed()
    {
        var calls = 0;
        await using var server = await TransportTestServer.StartAsync(new DelegateHandler((_, _) =>
        {
            Interlocked.Increment(ref calls);
            return ValueTask.FromResult(ReplyMessage.Ok(default));
        }));
        await using var peer = await RawPeer.ConnectAsync(server.EndPoint);
        await peer.SendAsync(FrameWriter.ToArray(1, new InvokeMessage("A", "k", "M", "r", null, null, "[]"u8.ToArray())));
        var rejected = Assert.IsType<HelloRejectedMessage>(Assert.Single(await peer.ReadUntilClosedAsync()));
        Assert.Contains("first frame must be Hello", rejected.Reason);
        Assert.Equal(0, calls);
    }

    [Fact]
    public async Task Bytes_of_another_protocol_are_refused_at_the_handshake()
    {
        await using var server = await TransportTestServer.StartAsync(DelegateHandler.EchoRequestId());
        await using var peer = await RawPeer.ConnectAsync(server.EndPoint);
        // An HTTP request line: its first four bytes read as a length far over the handshake limit.
        await peer.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray());
        var rejected = Assert.IsType<HelloRejectedMessage>(Assert.Single(await peer.ReadUntilClosedAsync()));
        Assert.Contains("first frame is invalid", rejected.Reason);
    }

    [Fact]
    public async Task A_peer_that_sends_nothing_is_closed_after_the_handshake_timeout()
    {
        await using var server = await TransportTestServer.StartAsync(DelegateHandler.EchoRequestId(), new TransportOptions { SiloId = "s", HandshakeTimeout = TimeSpan.FromMilliseconds(200) });
        await using var peer = await RawPeer.ConnectAsync(server.EndPoint);
        var rejected = Assert.IsType<HelloRejectedMessage>(Assert.Single(await peer.ReadUntilClosedAsync()));
        Assert.Contains("handshake timeout", rejected.Reason);
    }

    [Fact]
    public void Rules_hold_without_sockets_too()
    {
        static Frame FrameOf(ProtocolMessage m)
        {
            var buffer = new System.Buffers.ReadOnlySequence<byte>(FrameWriter.ToArray(0, m));
            Assert.Equal(FrameParseStatus.Frame, FrameParser.TryRead(ref buffer, 4096, out var frame, out _));
            return frame;
        }

        Assert.True(Handshake.Evaluate(FrameOf(new HelloMessage(1, PeerRole.Silo, "s", null)), 1, null).Accepted);
        Assert.True(Handshake.Evaluate(FrameOf(new HelloMessage(1, PeerRole.Silo, "s", "k")), 1, "k").Accepted);
        Assert.False(Handshake.Evaluate(FrameOf(new HelloMessage(1, PeerRole.Silo, "s", "")), 1, "k").Accepted);
        Assert.Contains("version 2", Handshake.Evaluate(FrameOf(new HelloMessage(2, PeerRole.Silo, "s", "k")), 1, "k").RejectReason);
        Assert.Contains("first frame must be Hello", Handshake.Evaluate(FrameOf(PingMessage.Instance), 1, null).RejectReason);
    }

    [Fact]
    public void Invalid_options_are_refused_with_the_setting_named()
    {
        Assert.Contains("TransportOptions.MaxFrameSize", Assert.Throws<ArgumentException>(() => new TransportOptions { MaxFrameSize = 10 }.Validate()).Message);
        Assert.Contains("TransportOptions.HandshakeTimeout", Assert.Throws<ArgumentException>(() => new TransportOptions { HandshakeTimeout = TimeSpan.Zero }.Validate()).Message);
        Assert.Contains("TransportOptions.ClusterKey", Assert.Throws<ArgumentException>(() => new TransportOptions { ClusterKey = "  " }.Validate()).Message);
        Assert.Contains("TransportOptions.MaxInFlightPerConnection", Assert.Throws<ArgumentException>(() => new TransportOptions { MaxInFlightPerConnection = 0 }.Validate()).Message);
        Assert.Contains("TransportOptions.SiloId", Assert.Throws<ArgumentException>(() => new TransportOptions { SiloId = "" }.Validate()).Message);
        Assert.Contains("ConnectionOptions.RequestTimeout", Assert.Throws<ArgumentException>(() => new ConnectionOptions { RequestTimeout = TimeSpan.FromSeconds(-1) }.Validate()).Message);
        Assert.Contains("ConnectionOptions.MaxFrameSize", Assert.Throws<ArgumentException>(() => new ConnectionOptions { MaxFrameSize = int.MaxValue }.Validate()).Message);
    }
}
