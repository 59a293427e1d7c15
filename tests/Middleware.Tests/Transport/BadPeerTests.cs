using System.Buffers.Binary;
using System.Text;
using Middleware.Protocol;
using Middleware.Transport;

namespace Middleware.Tests.Transport;

/// <summary>A misbehaving peer loses its own connection and nothing else.</summary>
public sealed class BadPeerTests
{
    [Fact]
    public async Task An_oversized_frame_closes_only_the_offending_connection()
    {
        await using var server = await TransportTestServer.StartAsync(DelegateHandler.EchoRequestId(), new TransportOptions { SiloId = "s", MaxFrameSize = 4096 });
        await using var good = await server.ConnectAsync();
        await AssertServesAsync(good, "before");

        await using var bad = await RawPeer.ConnectAsync(server.EndPoint);
        await bad.HandshakeAsync();
        // Declares 1 GiB; only the header is sent, so the server must refuse it from the header alone.
        var header = new byte[ProtocolConstants.HeaderSize];
        BinaryPrimitives.WriteUInt32LittleEndian(header, 1 << 30);
        header[4] = (byte)MessageType.Invoke;
        await bad.SendAsync(header);
        var reply = Assert.IsType<ReplyMessage>(Assert.Single(await bad.ReadUntilClosedAsync()));
        Assert.Equal(ReplyStatus.BadRequest, reply.Status);
        Assert.Contains("exceeds the maximum frame size 4096", reply.Detail);

        await AssertServesAsync(good, "after");
        Assert.Equal(1, server.Metrics.ProtocolErrors);
    }

    [Fact]
    public async Task A_garbage_frame_closes_only_the_offending_connection()
    {
        await using var server = await TransportTestServer.StartAsync(DelegateHandler.EchoRequestId());
        await using var good = await server.ConnectAsync();

        await using var bad = await RawPeer.ConnectAsync(server.EndPoint);
        await bad.HandshakeAsync();
        // A well-framed Invoke whose payload is random bytes, and then more garbage behind it.
        var garbage = new byte[64];
        new Random(3).NextBytes(garbage);
        var frame = new byte[ProtocolConstants.HeaderSize + garbage.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(frame, (uint)(ProtocolConstants.FixedHeaderSize + garbage.Length));
        frame[4] = (byte)MessageType.Invoke;
        BinaryPrimitives.WriteUInt64LittleEndian(frame.AsSpan(5), 77);
        garbage.CopyTo(frame, ProtocolConstants.HeaderSize);
        await bad.SendAsync([.. frame, .. garbage]);
        var reply = Assert.IsType<ReplyMessage>(Assert.Single(await bad.ReadUntilClosedAsync()));
        Assert.Equal(ReplyStatus.BadRequest, reply.Status);
        Assert.Contains("Invoke payload", reply.Detail);

        await AssertServesAsync(good, "after");
        Assert.Equal(1, server.Metrics.ProtocolErrors);
    }

    [Fact]
    public async Task A_frame_of_an_unknown_type_or_a_server_only_type_closes_the_connection()
    {
        await using var server = await TransportTestServer.StartAsync(DelegateHandler.EchoRequestId());
        await using var good = await server.ConnectAsync();
        foreach (var bytes in new[] { new byte[] { 9, 0, 0, 0, 200, 0, 0, 0, 0, 0, 0, 0, 0 }, FrameWriter.ToArray(4, ReplyMessage.Ok(default)) })
        {
            await using var bad = await RawPeer.ConnectAsync(server.EndPoint);
            await bad.HandshakeAsync();
            await bad.SendAsync(bytes);
            var reply = Assert.IsType<ReplyMessage>(Assert.Single(await bad.ReadUntilClosedAsync()));
            Assert.Equal(ReplyStatus.BadRequest, reply.Status);
        }

        await AssertServesAsync(good, "after");
        Assert.Equal(2, server.Metrics.ProtocolErrors);
    }

    [Fact]
    public async Task Requests_pipelined_behind_the_Hello_are_served()
    {
        await using var server = await TransportTestServer.StartAsync(DelegateHandler.EchoRequestId());
        await using var peer = await RawPeer.ConnectAsync(server.EndPoint);
        await peer.SendAsync([.. RawPeer.Hello(), .. FrameWriter.ToArray(5, new EchoMessage("hi"u8.ToArray())), .. FrameWriter.ToArray(6, PingMessage.Instance)]);
        Assert.IsType<HelloOkMessage>((await peer.ReadFrameAsync())!.Value.Message);
        var echo = (await peer.ReadFrameAsync())!.Value;
        Assert.Equal(5UL, echo.CorrelationId);
        Assert.Equal("hi", Encoding.UTF8.GetString(Assert.IsType<EchoReplyMessage>(echo.Message).Payload.Span));
        var pong = (await peer.ReadFrameAsync())!.Value;
        Assert.Equal(6UL, pong.CorrelationId);
        Assert.IsType<PongMessage>(pong.Message);
    }

    private static async Task AssertServesAsync(MiddlewareConnection connection, string tag)
    {
        var reply = await connection.InvokeAsync(new InvokeMessage("A", "k", "M", tag, null, null, "[]"u8.ToArray()));
        Assert.Equal(ReplyStatus.Ok, reply.Status);
        Assert.Equal($"\"{tag}\"", Encoding.UTF8.GetString(reply.Result.Span));
        Assert.Equal("x", Encoding.UTF8.GetString((await connection.EchoAsync("x"u8.ToArray())).Span));
    }
}
