using System.Diagnostics;
using Middleware.Protocol;
using Middleware.Transport;
using Middleware.Tests.Support;

namespace Middleware.Tests.Transport;

/// <summary>
/// Connections are bounded: a peer that never reads, a slow sender, idle connections and too many connections cost the
/// silo a bounded amount of memory and time, and every limit that triggers is counted.
/// </summary>
public sealed class ConnectionLimitsTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);

    private static Task WaitUntilAsync(Func<bool> condition, string what) => Eventually.TrueAsync(condition, what, Patience);

    /// <summary>Echo requests whose replies (64 KiB each) fill the socket buffers of a peer that never reads.</summary>
    private static byte[] Echoes(int count, int size = 64 * 1024)
    {
        var payload = new byte[size];
        return Enumerable.Range(1, count).SelectMany(i => FrameWriter.ToArray((ulong)i, new EchoMessage(payload))).ToArray();
    }

    [Fact]
    public async Task A_peer_that_fills_its_window_without_reading_and_disconnects_is_released()
    {
        var options = new TransportOptions { SiloId = "limits", MaxInFlightPerConnection = 16 };
        await using var server = await TransportTestServer.StartAsync(DelegateHandler.EchoRequestId(), options);
        await using (var peer = await RawPeer.ConnectAsync(server.EndPoint))
        {
            await peer.HandshakeAsync();
            // More replies than the socket buffers hold and more requests than the window: the server stops reading.
            var send = peer.SendAsync(Echoes(200));
            await WaitUntilAsync(() => server.Metrics.FramesIn >= 16, "the server to take a window of requests");
            await Task.WhenAny(send, Task.Delay(500)); // a bound, not a condition: the send ends, or the server stops reading it; either leaves replies queued
            // The send fails with a broken pipe once the peer is gone; observed here so it never reaches another test's finalizer check.
            _ = send.ContinueWith(static t => _ = t.Exception, TaskScheduler.Default);
        }

        // The peer is gone: its connection, its queued replies and its handler tasks must go too.
        await WaitUntilAsync(() => server.Metrics.ConnectionsActive == 0, "the abandoned connection to be closed");
    }

    [Fact]
    public async Task Replies_a_peer_does_not_read_stop_the_reading_at_the_byte_limit_instead_of_growing()
    {
        var options = new TransportOptions { SiloId = "limits", MaxQueuedReplyBytes = 1024 * 1024 };
        await using var server = await TransportTestServer.StartAsync(DelegateHandler.EchoRequestId(), options);
        await using var peer = await RawPeer.ConnectAsync(server.EndPoint);
        await peer.HandshakeAsync();
        // 2000 x 64 KiB = 125 MiB of replies asked for; the server must hold about its 1 MiB limit plus socket buffers.
        var send = peer.SendAsync(Echoes(2000));
        // Observed at once: if an assertion below fails, the send's broken pipe must not reach another test's finalizer check.
        _ = send.ContinueWith(static t => _ = t.Exception, TaskScheduler.Default);
        await WaitUntilAsync(() => server.Metrics.ReadPauses > 0, "the connection to stop reading at its byte limit");
        await Task.Delay(300); // "nothing happens within T": paused, the server must not take more requests meanwhile
        var taken = server.Metrics.FramesIn;
        Assert.True(taken < 400, $"the server took {taken} requests whose replies nobody read");

        // The peer reads again: everything is answered, in order.
        for (var i = 1; i <= 2000; i++)
        {
            var (correlation, message) = (await peer.ReadFrameAsync())!.Value;
            Assert.Equal((ulong)i, correlation);
            Assert.IsType<EchoReplyMessage>(message);
        }

        await send;
    }

    [Fact]
    public async Task Frames_of_one_size_that_each_arrive_in_time_are_not_judged_as_one_slow_frame()
    {
        // Every read ends inside a frame (the rest of one frame and the start of the next arrive together), each frame is
        // complete within a few tens of milliseconds, and all frames have one length: each gets its own allowance (grace +
        // size at the minimum rate), not the first partial frame's start. The run lasts well past one allowance.
        var options = new TransportOptions { SiloId = "limits", MinDataRate = 1024, MinDataRateGrace = TimeSpan.FromMilliseconds(700) };
        await using var server = await TransportTestServer.StartAsync(DelegateHandler.EchoRequestId(), options);
        await using var peer = await RawPeer.ConnectAsync(server.EndPoint);
        await peer.HandshakeAsync();
        const int Frames = 40;
        var frames = Enumerable.Range(1, Frames).Select(i => FrameWriter.ToArray((ulong)i, new EchoMessage(new byte[200]))).ToArray();
        var half = frames[0].Length / 2;
        await peer.SendAsync(frames[0][..half]);
        for (var i = 1; i < Frames; i++)
        {
            await Task.Delay(50); // the peer's pacing: one frame per 50 ms, far above 1 KiB/s; not a wait for anything
            await peer.SendAsync([.. frames[i - 1][half..], .. frames[i][..half]]);
        }

        await peer.SendAsync(frames[^1][half..]);
        for (var i = 1; i <= Frames; i++)
        {
            var (correlation, message) = (await peer.ReadFrameAsync())!.Value;
            Assert.True(message is EchoReplyMessage, $"reply {i}: {message}");
            Assert.Equal((ulong)i, correlation);
        }

        Assert.Equal(0, server.Metrics.SlowClosed);
    }

    [Fact]
    public async Task A_frame_that_trickles_in_is_closed_with_a_bad_request_naming_the_rate()
    {
        var options = new TransportOptions { SiloId = "limits", MinDataRate = 1024, MinDataRateGrace = TimeSpan.FromMilliseconds(500) };
        await using var server = await TransportTestServer.StartAsync(DelegateHandler.EchoRequestId(), options);
        await using var peer = await RawPeer.ConnectAsync(server.EndPoint);
        await peer.HandshakeAsync();
        var frame = FrameWriter.ToArray(1, new EchoMessage(new byte[100]));
        await peer.SendAsync(frame[..20]); // and nothing more
        var (_, message) = (await peer.ReadFrameAsync())!.Value;
        Assert.Contains("slower than 1024 bytes/s", Assert.IsType<ReplyMessage>(message).Detail);
        Assert.Null(await peer.ReadFrameAsync());
        Assert.Equal(1, server.Metrics.SlowClosed);
    }

    [Fact]
    public async Task An_idle_connection_is_closed_after_the_idle_timeout_but_one_with_work_in_flight_is_not()
    {
        var release = new TaskCompletionSource<ReplyMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        var handler = new DelegateHandler((m, _) => m.RequestId == "slow" ? new ValueTask<ReplyMessage>(release.Task) : ValueTask.FromResult(ReplyMessage.Ok("1"u8.ToArray())));
        var options = new TransportOptions { SiloId = "limits", IdleTimeout = TimeSpan.FromSeconds(1) };
        await using var server = await TransportTestServer.StartAsync(handler, options);

        await using var idle = await RawPeer.ConnectAsync(server.EndPoint);
        await idle.HandshakeAsync();
        await using var busy = await server.ConnectAsync();
        var slow = busy.InvokeAsync(new InvokeMessage("A", "k", "M", "slow", null, null, "[]"u8.ToArray()));

        Assert.Null(await idle.ReadFrameAsync()); // closed by the server after about a second of silence
        Assert.Equal(1, server.Metrics.IdleClosed);
        await Task.Delay(1500); // "nothing happens within T": past the idle timeout, the busy connection must stay open
        release.SetResult(ReplyMessage.Ok("2"u8.ToArray()));
        Assert.Equal(ReplyStatus.Ok, (await slow).Status); // the busy one outlived the timeout: its reply still arrived
    }

    [Fact]
    public async Task Connections_past_the_cap_are_refused_at_once_naming_the_limit()
    {
        var options = new TransportOptions { SiloId = "limits", MaxConnections = 2 };
        await using var server = await TransportTestServer.StartAsync(DelegateHandler.EchoRequestId(), options);
        await using var first = await RawPeer.ConnectAsync(server.EndPoint);
        await first.HandshakeAsync();
        await using var second = await RawPeer.ConnectAsync(server.EndPoint);
        await second.HandshakeAsync();
        await using var third = await RawPeer.ConnectAsync(server.EndPoint);
        var (_, refusal) = (await third.ReadFrameAsync())!.Value;
        Assert.Contains("connection limit (2", Assert.IsType<HelloRejectedMessage>(refusal).Reason);
        Assert.Equal(1, server.Metrics.ConnectionsRefused);
    }
}
