using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Middleware.Protocol;
using Middleware.Tests.Support;
using Middleware.Transport;

namespace Middleware.Tests.Transport;

/// <summary>The handshake proves knowledge of the key without sending it, both ways, and refusals are throttled and summarized.</summary>
public sealed class HandshakeAuthTests
{
    private const string Key = "k3y-that-must-stay-home-5f1c2a";

    [Fact]
    public async Task The_key_never_crosses_the_wire_in_either_direction()
    {
        await using var server = await TransportTestServer.StartAsync(DelegateHandler.EchoRequestId(), new TransportOptions { SiloId = "s", Keys = HandshakeKeys.Shared(Key) });
        await using var proxy = RecordingProxy.Start(server.EndPoint);
        await using (var connection = await MiddlewareConnection.ConnectAsync(proxy.EndPoint, new ConnectionOptions { SenderId = "c", Key = Key }))
        {
            var reply = await connection.InvokeAsync(new InvokeMessage("A", "k", "M", "r-1", null, null, "[]"u8.ToArray()));
            Assert.Equal(ReplyStatus.Ok, reply.Status);
        }

        var sent = proxy.ClientBytes;
        var received = proxy.ServerBytes;
        // The handshake did happen through the proxy, with a challenge and a proof.
        Assert.Contains((byte)MessageType.HelloProof, FrameTypes(sent));
        Assert.Contains((byte)MessageType.HelloChallenge, FrameTypes(received));
        foreach (var form in new[] { Encoding.UTF8.GetBytes(Key), Encoding.Unicode.GetBytes(Key), Encoding.UTF8.GetBytes(Convert.ToBase64String(Encoding.UTF8.GetBytes(Key))) })
        {
            Assert.Equal(-1, sent.AsSpan().IndexOf(form));
            Assert.Equal(-1, received.AsSpan().IndexOf(form));
        }

        // The same exchange with a protocol-2 client would have shown it: the recording is able to see a key.
        Assert.NotEqual(-1, RawPeer.Hello(2, clearKey: Key).AsSpan().IndexOf(Encoding.UTF8.GetBytes(Key)));
    }

    [Fact]
    public async Task A_wrong_key_or_a_role_without_a_key_is_refused_naming_the_fix()
    {
        await using var server = await TransportTestServer.StartAsync(DelegateHandler.EchoRequestId(), new TransportOptions { SiloId = "s", Keys = new HandshakeKeys("client-k", "silo-k", null) });

        var wrong = await Assert.ThrowsAsync<HandshakeRejectedException>(() => server.ConnectAsync(key: "silo-k"));
        Assert.Contains("client key mismatch", wrong.Reason);
        Assert.DoesNotContain("client-k", wrong.Reason);
        var admin = await Assert.ThrowsAsync<HandshakeRejectedException>(() => server.ConnectAsync(key: "anything", role: PeerRole.Admin));
        Assert.Contains("no admin key configured", admin.Reason);
        var siloWithClientKey = await Assert.ThrowsAsync<HandshakeRejectedException>(() => server.ConnectAsync(key: "client-k", role: PeerRole.Silo));
        Assert.Contains("silo key mismatch", siloWithClientKey.Reason);

        await using var silo = await server.ConnectAsync(key: "silo-k", role: PeerRole.Silo);
        await silo.InvokeAsync(new InvokeMessage("A", "k", "M", "r-1", null, null, "[]"u8.ToArray()));
        Assert.Equal(3, server.Metrics.HandshakeCredentialFailures);
    }

    [Fact]
    public async Task A_key_sent_in_clear_by_an_old_client_is_refused_saying_to_upgrade()
    {
        await using var server = await TransportTestServer.StartAsync(DelegateHandler.EchoRequestId(), new TransportOptions { SiloId = "s", Keys = HandshakeKeys.Shared(Key) });
        await using var peer = await RawPeer.ConnectAsync(server.EndPoint);
        await peer.SendAsync(RawPeer.Hello(2, clearKey: Key));
        var rejected = Assert.IsType<HelloRejectedMessage>(Assert.Single(await peer.ReadUntilClosedAsync()));
        Assert.Contains("carries a key in clear", rejected.Reason);
        Assert.Contains("upgrade the peer to protocol version 3", rejected.Reason);
    }

    [Fact]
    public async Task A_client_holding_a_key_refuses_a_server_that_cannot_prove_it()
    {
        // A server without any key welcomes everyone, so it proves nothing: a client with a key must not trust it.
        await using var open = await TransportTestServer.StartAsync(DelegateHandler.EchoRequestId());
        var unproven = await Assert.ThrowsAsync<PeerAuthenticationException>(() => open.ConnectAsync(key: Key));
        Assert.Contains("without asking for its key", unproven.Message);

        // An impostor that challenges and answers HelloOk with a made-up proof is refused as well.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var impostor = Task.Run(async () =>
        {
            using var socket = await listener.AcceptSocketAsync();
            await using var stream = new NetworkStream(socket);
            var buffer = new byte[4096];
            _ = await stream.ReadAsync(buffer);
            await stream.WriteAsync(FrameWriter.ToArray(0, new HelloChallengeMessage(new byte[ProtocolConstants.NonceSize])));
            _ = await stream.ReadAsync(buffer);
            await stream.WriteAsync(FrameWriter.ToArray(0, new HelloOkMessage(ProtocolConstants.Version, "impostor", 1 << 20, HelloFlags.None, new byte[ProtocolConstants.ProofSize])));
            _ = await stream.ReadAsync(buffer);
        });
        var forged = await Assert.ThrowsAsync<PeerAuthenticationException>(() =>
            MiddlewareConnection.ConnectAsync((IPEndPoint)listener.LocalEndpoint, new ConnectionOptions { SenderId = "c", Key = Key }));
        Assert.Contains("did not prove that it knows the client key", forged.Message);
        await impostor.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Theory]
    [InlineData("line\nbreak")]
    [InlineData("\u001b[31mred")]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("bidi\u202Eevil")]
    public async Task A_sender_id_with_control_characters_or_none_is_refused(string sender)
    {
        var logs = new RecordingLogger { MinimumLevel = LogLevel.Debug };
        await using var server = await TransportTestServer.StartAsync(DelegateHandler.EchoRequestId(), logs: logs);
        await using var peer = await RawPeer.ConnectAsync(server.EndPoint);
        await peer.SendAsync(RawPeer.Hello(sender: sender));
        var rejected = Assert.IsType<HelloRejectedMessage>(Assert.Single(await peer.ReadUntilClosedAsync()));
        Assert.Contains("sender id", rejected.Reason);
        // Whatever the peer sent reaches the log escaped: no line break, no escape character.
        Assert.All(logs.Entries, e => Assert.DoesNotContain(e.Message, c => c is '\n' or '\u001b' or '\u202E'));
        Assert.Throws<ArgumentException>(() => new ConnectionOptions { SenderId = sender }.Validate());
    }

    [Fact]
    public async Task A_sender_id_over_128_characters_is_refused_and_128_printable_ones_are_welcome()
    {
        await using var server = await TransportTestServer.StartAsync(DelegateHandler.EchoRequestId());
        await using (var peer = await RawPeer.ConnectAsync(server.EndPoint))
        {
            await peer.SendAsync(RawPeer.Hello(sender: new string('x', 129)));
            Assert.Contains("over the limit of 128", Assert.IsType<HelloRejectedMessage>(Assert.Single(await peer.ReadUntilClosedAsync())).Reason);
        }

        await using var ok = await RawPeer.ConnectAsync(server.EndPoint);
        await ok.SendAsync(RawPeer.Hello(sender: "client:héllo-" + new string('y', 115)));
        Assert.IsType<HelloOkMessage>((await ok.ReadFrameAsync())!.Value.Message);
    }

    [Fact]
    public async Task Failed_handshakes_lock_the_address_out_and_are_logged_as_one_line_per_interval_with_a_count()
    {
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-12-06T12:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var logs = new RecordingLogger();
        var throttle = new HandshakeThrottleOptions { Allowance = 3, Window = TimeSpan.FromSeconds(30), FirstLockout = TimeSpan.FromSeconds(10), LogInterval = TimeSpan.FromSeconds(60) };
        await using var server = await TransportTestServer.StartAsync(DelegateHandler.EchoRequestId(),
            new TransportOptions { SiloId = "s", Keys = HandshakeKeys.Shared(Key), HandshakeThrottle = throttle }, logs, time);

        var reasons = new List<string>();
        for (var i = 0; i < 10; i++)
            reasons.Add((await Assert.ThrowsAsync<HandshakeRejectedException>(() => server.ConnectAsync(key: "guess-" + i))).Reason);

        // Three wrong keys are told so; then the address is locked out, and even the right key waits.
        Assert.All(reasons.Take(3), r => Assert.StartsWith("client key mismatch", r));
        Assert.All(reasons.Skip(3), r => Assert.StartsWith("too many failed handshakes from 127.0.0.1", r));
        Assert.StartsWith("too many failed handshakes", (await Assert.ThrowsAsync<HandshakeRejectedException>(() => server.ConnectAsync(key: Key))).Reason);
        Assert.Equal((3, 8, 1), (server.Metrics.HandshakeCredentialFailures, server.Metrics.HandshakesThrottled, server.Metrics.AddressLockouts));

        // Eleven refusals, one line: the first, at once, with its reason. The rest are counted for the next report.
        var first = Assert.Single(logs.At(LogLevel.Warning));
        Assert.Contains("Handshake from 127.0.0.1 (client 'test-client') refused: client key mismatch", first);
        Assert.Contains("[1 refused from this address since the last report", first);

        time.Advance(TimeSpan.FromSeconds(61));
        var lines = logs.At(LogLevel.Warning);
        Assert.Equal(2, lines.Count);
        Assert.Contains("[10 refused from this address since the last report, 8 of them while locked out", lines[1]);
        // Nothing else about the refusals reached the log (no line per failure at Information, as before).
        Assert.Equal(2, logs.At(LogLevel.Information).Count(l => l.Contains("refused", StringComparison.Ordinal)));

        // The lockout ran out: the right key is welcome again.
        await using var welcome = await server.ConnectAsync(key: Key);
        await welcome.PingAsync();
    }

    /// <summary>The type byte of each frame in a recorded byte stream.</summary>
    private static List<byte> FrameTypes(byte[] bytes)
    {
        var types = new List<byte>();
        for (var at = 0; at + ProtocolConstants.HeaderSize <= bytes.Length;)
        {
            var length = BitConverter.ToInt32(bytes, at);
            types.Add(bytes[at + 4]);
            at += 4 + length;
        }

        return types;
    }
}
