using System.Collections.Concurrent;
using System.Text;
using Middleware.Protocol;
using Middleware.Transport;

namespace Middleware.Tests.Transport;

public sealed class MultiplexTests
{
    [Fact]
    public async Task Many_concurrent_invokes_on_one_connection_each_get_their_own_reply()
    {
        // Replies complete in a scrambled order (some synchronously, some later), so correlation is really tested.
        await using var server = await TransportTestServer.StartAsync(new DelegateHandler(async (m, _) =>
        {
            var n = int.Parse(m.RequestId, System.Globalization.CultureInfo.InvariantCulture);
            if (n % 3 != 0) await Task.Yield();
            return ReplyMessage.Ok(Encoding.UTF8.GetBytes($"[\"{m.Key}\",{n}]"));
        }));
        await using var connection = await server.ConnectAsync();
        var tasks = Enumerable.Range(0, 2000)
            .Select(i => connection.InvokeAsync(new InvokeMessage("Account", "k" + i, "Get", i.ToString(System.Globalization.CultureInfo.InvariantCulture), "s", null, "[]"u8.ToArray())))
            .ToArray();
        var replies = await Task.WhenAll(tasks);
        for (var i = 0; i < replies.Length; i++) Assert.Equal($"[\"k{i}\",{i}]", Encoding.UTF8.GetString(replies[i].Result.Span));
        Assert.Equal(0, connection.PendingCount);
        var (frames, flushes) = connection.SendStats;
        Assert.True(frames >= 2000);
        Assert.True(server.Metrics.FramesIn >= 2000);
    }

    [Fact]
    public async Task A_handler_exception_becomes_an_error_reply_and_the_connection_stays_usable()
    {
        await using var server = await TransportTestServer.StartAsync(new DelegateHandler(async (m, _) =>
        {
            if (m.Method == "ThrowNow") throw new InvalidOperationException("boom now");
            await Task.Yield();
            if (m.Method == "ThrowLater") throw new ArgumentException("boom later");
            return ReplyMessage.NotFound($"no method {m.Method}");
        }));
        await using var connection = await server.ConnectAsync();
        var now = await connection.InvokeAsync(Invoke("ThrowNow"));
        Assert.Equal(ReplyStatus.Error, now.Status);
        Assert.Equal("System.InvalidOperationException", now.ErrorType);
        Assert.Equal("boom now", now.ErrorMessage);
        var later = await connection.InvokeAsync(Invoke("ThrowLater"));
        Assert.Equal("System.ArgumentException", later.ErrorType);
        var other = await connection.InvokeAsync(Invoke("Other"));
        Assert.Equal(ReplyStatus.NotFound, other.Status);
        Assert.Equal("no method Other", other.Detail);
        Assert.Equal(2, server.Metrics.HandlerFailures);
    }

    [Fact]
    public async Task Losing_the_connection_fails_every_pending_request_at_once_and_later_ones_immediately()
    {
        var arrived = 0;
        var allArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var never = new TaskCompletionSource<ReplyMessage>();
        var server = await TransportTestServer.StartAsync(new DelegateHandler((_, _) =>
        {
            if (Interlocked.Increment(ref arrived) == 50) allArrived.SetResult();
            return new ValueTask<ReplyMessage>(never.Task);
        }));
        await using var connection = await server.ConnectAsync();
        var pending = Enumerable.Range(0, 50).Select(i => connection.InvokeAsync(Invoke("Hang", "r" + i))).ToArray();
        await allArrived.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(50, connection.PendingCount);

        await server.DisposeAsync();
        foreach (var task in pending)
        {
            var lost = await Assert.ThrowsAsync<ConnectionLostException>(() => task.WaitAsync(TimeSpan.FromSeconds(10)));
            Assert.Contains("retry the request with the same request id", lost.Message);
        }

        await connection.Closed.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(connection.IsConnected);
        await Assert.ThrowsAsync<ConnectionLostException>(() => connection.InvokeAsync(Invoke("After")));
        Assert.Equal(0, connection.PendingCount);
    }

    [Fact]
    public async Task Cancellation_and_timeouts_fail_only_their_own_request()
    {
        var never = new TaskCompletionSource<ReplyMessage>();
        await using var server = await TransportTestServer.StartAsync(new DelegateHandler((m, _) =>
            m.Method == "Hang" ? new ValueTask<ReplyMessage>(never.Task) : ValueTask.FromResult(ReplyMessage.Ok("1"u8.ToArray()))));
        await using var connection = await server.ConnectAsync(requestTimeout: TimeSpan.FromMilliseconds(300));
        using var cancel = new CancellationTokenSource();
        var canceled = connection.InvokeAsync(Invoke("Hang", "c"), cancel.Token);
        var timedOut = connection.InvokeAsync(Invoke("Hang", "t"));
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => canceled);
        var timeout = await Assert.ThrowsAsync<TimeoutException>(() => timedOut.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Contains("RequestTimeout", timeout.Message);
        Assert.Equal(ReplyStatus.Ok, (await connection.InvokeAsync(Invoke("Fine"))).Status);
        Assert.True(connection.IsConnected);
    }

    [Fact]
    public async Task A_request_over_the_servers_frame_limit_fails_locally_and_a_reply_over_it_becomes_an_error()
    {
        await using var server = await TransportTestServer.StartAsync(new DelegateHandler((m, _) =>
            ValueTask.FromResult(ReplyMessage.Ok(new byte[m.Method == "Big" ? 10_000 : 1]))), new TransportOptions { SiloId = "s", MaxFrameSize = 4096 });
        await using var connection = await server.ConnectAsync();
        var tooBig = await Assert.ThrowsAsync<FrameTooLargeException>(() => connection.InvokeAsync(new InvokeMessage("A", "k", "M", "r", null, null, new byte[5000])));
        Assert.Contains("4096", tooBig.Message);
        var reply = await connection.InvokeAsync(Invoke("Big"));
        Assert.Equal("Middleware.ReplyTooLarge", reply.ErrorType);
        Assert.Equal(ReplyStatus.Ok, (await connection.InvokeAsync(Invoke("Small"))).Status);
    }

    [Fact]
    public async Task The_in_flight_limit_holds_back_requests_until_replies_are_written()
    {
        var waiting = new ConcurrentQueue<TaskCompletionSource<ReplyMessage>>();
        var arrivals = new SemaphoreSlim(0);
        var current = 0;
        var peak = 0;
        await using var server = await TransportTestServer.StartAsync(new DelegateHandler((_, _) =>
        {
            var now = Interlocked.Increment(ref current);
            InterlockedMax(ref peak, now);
            var reply = new TaskCompletionSource<ReplyMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
            waiting.Enqueue(reply);
            arrivals.Release();
            return new ValueTask<ReplyMessage>(reply.Task);
        }), new TransportOptions { SiloId = "s", MaxInFlightPerConnection = 2 });
        await using var connection = await server.ConnectAsync();
        var tasks = Enumerable.Range(0, 7).Select(i => connection.InvokeAsync(Invoke("M", "r" + i))).ToArray();
        for (var served = 0; served < 7; served++)
        {
            Assert.True(await arrivals.WaitAsync(TimeSpan.FromSeconds(10)));
            Assert.True(waiting.TryDequeue(out var next));
            Interlocked.Decrement(ref current);
            next.SetResult(ReplyMessage.Ok("0"u8.ToArray()));
        }

        await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(peak <= 2, $"peak {peak} handlers ran at once with a limit of 2");
    }

    private static InvokeMessage Invoke(string method, string requestId = "r") => new("A", "k", method, requestId, null, null, "[]"u8.ToArray());

    private static void InterlockedMax(ref int target, int value)
    {
        var seen = Volatile.Read(ref target);
        while (value > seen)
        {
            var previous = Interlocked.CompareExchange(ref target, value, seen);
            if (previous == seen) return;
            seen = previous;
        }
    }
}
