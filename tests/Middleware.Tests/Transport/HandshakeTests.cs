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
    public async Task A_missing_or_wrong_key_is_refused_and_the_right_one_is_accepted()
    {
        await using var server = await TransportTestServer.StartAsync(DelegateHandler.EchoRequestId(), new TransportOptions { SiloId = "s", Keys = HandshakeKeys.Shared("blue-cluster") });

        var missing = await Assert.ThrowsAsync<HandshakeRejectedException>(() => server.ConnectAsync(key: null));
        Assert.Contains("requires a client key", missing.Reason);
        var wrong = await Assert.ThrowsAsync<HandshakeRejectedException>(() => server.ConnectAsync(key: "green-cluster"));
        Assert.StartsWith("client key mismatch", wrong.Reason);
        Assert.DoesNotContain("blue-cluster", wrong.Reason);

        await using var ok = await server.ConnectAsync(key: "blue-cluster");
        var reply = await ok.InvokeAsync(new InvokeMessage("A", "k", "M", "r-1", null, null, "[]"u8.ToArray()));
        Assert.Equal("\"r-1\"", System.Text.Encoding.UTF8.GetString(reply.Result.Span));
        // The client without a key gives up on the challenge (it has nothing to prove with): only the wrong proof is refused.
        Assert.Equal(1, server.Metrics.HandshakeCredentialFailures);
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

        var nonce = new byte[ProtocolConstants.NonceSize];
        var open = new ServerHandshake(HandshakeKeys.None, "s", 4096);
        Assert.NotNull(open.Receive(FrameOf(HelloMessage.Legacy(1, PeerRole.Silo, "s", null))).Accepted);

        // A key in clear is refused even where it is right: this server never takes one (upgrade the peer).
        var keyed = new ServerHandshake(HandshakeKeys.Shared("k"), "s", 4096);
        var clear = keyed.Receive(FrameOf(HelloMessage.Legacy(2, PeerRole.Silo, "s", "k")));
        Assert.Equal(HandshakeFailure.Credential, clear.Failure);
        Assert.Contains("upgrade the peer to protocol version 3", clear.RejectReason);

        // Version 3: challenge, proof, HelloOk with the server's proof.
        var challenge = keyed.Receive(FrameOf(new HelloMessage(3, PeerRole.Silo, "s2", nonce)));
        var serverNonce = Assert.IsType<HelloChallengeMessage>(challenge.Reply).ServerNonce.ToArray();
        var proof = HandshakeProof.Client("k"u8, 3, PeerRole.Silo, "s2", nonce, serverNonce);
        var accepted = keyed.Receive(FrameOf(new HelloProofMessage(proof)));
        Assert.Equal(new PeerIdentity("s2", PeerRole.Silo, 3, true), accepted.Accepted);
        var ok = Assert.IsType<HelloOkMessage>(accepted.Reply);
        Assert.True(HandshakeProof.Matches(HandshakeProof.Server("k"u8, 3, PeerRole.Silo, "s2", nonce, serverNonce, "s"), ok.ServerProof.Span));

        // The client's proof is not valid as the server's, nor for another role or sender.
        Assert.False(HandshakeProof.Matches(proof, ok.ServerProof.Span));
        Assert.False(HandshakeProof.Matches(proof, HandshakeProof.Client("k"u8, 3, PeerRole.Admin, "s2", nonce, serverNonce)));
        Assert.False(HandshakeProof.Matches(proof, HandshakeProof.Client("k"u8, 3, PeerRole.Silo, "s3", nonce, serverNonce)));

        Assert.Contains("first frame must be Hello", open.Receive(FrameOf(PingMessage.Instance)).RejectReason);
    }

    [Fact]
    public void Invalid_options_are_refused_with_the_setting_named()
    {
        Assert.Contains("TransportOptions.MaxFrameSize", Assert.Throws<ArgumentException>(() => new TransportOptions { MaxFrameSize = 10 }.Validate()).Message);
        Assert.Contains("TransportOptions.HandshakeTimeout", Assert.Throws<ArgumentException>(() => new TransportOptions { HandshakeTimeout = TimeSpan.Zero }.Validate()).Message);
        Assert.Contains("ConnectionOptions.Key", Assert.Throws<ArgumentException>(() => new ConnectionOptions { Key = "" }.Validate()).Message);
        Assert.Contains("HandshakeThrottleOptions.Allowance", Assert.Throws<ArgumentException>(() => new TransportOptions { HandshakeThrottle = new() { Allowance = 0 } }.Validate()).Message);
        Assert.Contains("TransportOptions.MaxInFlightPerConnection", Assert.Throws<ArgumentException>(() => new TransportOptions { MaxInFlightPerConnection = 0 }.Validate()).Message);
        Assert.Contains("TransportOptions.SiloId", Assert.Throws<ArgumentException>(() => new TransportOptions { SiloId = "" }.Validate()).Message);
        Assert.Contains("ConnectionOptions.RequestTimeout", Assert.Throws<ArgumentException>(() => new ConnectionOptions { RequestTimeout = TimeSpan.FromSeconds(-1) }.Validate()).Message);
        Assert.Contains("ConnectionOptions.MaxFrameSize", Assert.Throws<ArgumentException>(() => new ConnectionOptions { MaxFrameSize = int.MaxValue }.Validate()).Message);
    }
}
