using System.Text;
using Middleware.Protocol;
using Middleware.Transport;

namespace Middleware.Tests.Transport;

/// <summary>The handshake proves knowledge of the key without sending it, both ways.</summary>
public sealed class HandshakeAuthTests
{
    private const string Key = "k3y-that-must-stay-home-5f1c2a";

    [Fact]
    public async Task The_key_never_appears_in_the_bytes_a_client_sends()
    {
        await using var server = await TransportTestServer.StartAsync(DelegateHandler.EchoRequestId(), new TransportOptions { SiloId = "s", ClusterKey = Key });
        await using var proxy = RecordingProxy.Start(server.EndPoint);
        await using (var connection = await MiddlewareConnection.ConnectAsync(proxy.EndPoint, new ConnectionOptions { SenderId = "c", ClusterKey = Key }))
        {
            var reply = await connection.InvokeAsync(new InvokeMessage("A", "k", "M", "r-1", null, null, "[]"u8.ToArray()));
            Assert.Equal(ReplyStatus.Ok, reply.Status);
        }

        var sent = proxy.ClientBytes;
        Assert.NotEmpty(sent);
        Assert.Equal(-1, sent.AsSpan().IndexOf(Encoding.UTF8.GetBytes(Key)));
        Assert.Equal(-1, sent.AsSpan().IndexOf(Encoding.Unicode.GetBytes(Key)));
        Assert.Equal(-1, proxy.ServerBytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(Key)));
    }

    [Theory]
    [InlineData("line\nbreak")]
    [InlineData("\u001b[31mred")]
    [InlineData("")]
    public async Task A_sender_id_with_control_characters_or_none_is_refused(string sender)
    {
        await using var server = await TransportTestServer.StartAsync(DelegateHandler.EchoRequestId());
        await using var peer = await RawPeer.ConnectAsync(server.EndPoint);
        await peer.SendAsync(FrameWriter.ToArray(0, new HelloMessage(ProtocolConstants.Version, PeerRole.Client, sender, null)));
        var rejected = Assert.IsType<HelloRejectedMessage>(Assert.Single(await peer.ReadUntilClosedAsync()));
        Assert.Contains("sender id", rejected.Reason);
    }
}
