using System.Buffers;
using System.IO.Pipelines;
using System.Net;

namespace Middleware.Protocol;

/// <summary>The reader loop, the timeout sweep and closing.</summary>
public sealed partial class MiddlewareConnection
{
    private void Start()
    {
        _readLoop = Task.Run(ReadLoopAsync);
        _writeLoop = Task.Run(WriteLoopAsync);
        if (_options.RequestTimeout != Timeout.InfiniteTimeSpan)
        {
            var period = TimeSpan.FromTicks(Math.Min(TimeSpan.FromSeconds(1).Ticks, Math.Max(TimeSpan.FromMilliseconds(10).Ticks, _options.RequestTimeout.Ticks / 4)));
            _sweep = _options.TimeProvider.CreateTimer(static s => ((MiddlewareConnection)s!).SweepTimeouts(), this, period, period);
        }
    }

    private async Task ReadLoopAsync()
    {
        Exception reason;
        try
        {
            while (true)
            {
                var result = await _input.ReadAsync().ConfigureAwait(false);
                var buffer = result.Buffer;
                while (true)
                {
                    var status = FrameParser.TryRead(ref buffer, _options.MaxFrameSize, out var frame, out var error);
                    if (status == FrameParseStatus.NeedMoreData) break;
                    if (status == FrameParseStatus.Error) throw new ProtocolViolationException(error!);
                    Dispatch(frame);
                }

                _input.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    reason = FrameParser.AtEndOfStream(buffer) is { } truncated
                        ? new ProtocolViolationException(truncated)
                        : new ConnectionLostException($"{RemoteEndPoint} closed the connection.");
                    break;
                }
            }
        }
        catch (Exception e)
        {
            // A socket error, a protocol violation or our own close: all end the connection the same way.
            reason = e;
        }

        Close(reason);
        await CompleteQuietlyAsync(_input.CompleteAsync()).ConfigureAwait(false);
    }

    /// <summary>
    /// Completes a pipe end after <see cref="Close"/> disposed the stream under it: completing may still try to flush
    /// what was buffered, which can only fail now, and the requests it carried have already failed together.
    /// </summary>
    private static async ValueTask CompleteQuietlyAsync(ValueTask complete)
    {
        try
        {
            await complete.ConfigureAwait(false);
        }
        catch (Exception e) when (e is ObjectDisposedException or IOException or InvalidOperationException or System.Net.Sockets.SocketException)
        {
            // Nothing left to deliver it to.
        }
    }

    private void Dispatch(in Frame frame)
    {
        if (frame.Type == MessageType.Ping)
        {
            // The server may probe liveness; answering is the reader loop's job so it works even with no requests.
            _outbox.TryEnqueue(frame.CorrelationId, PongMessage.Instance);
            return;
        }

        if (frame.Type is not (MessageType.Reply or MessageType.EchoReply or MessageType.Pong))
            throw new ProtocolViolationException(new ProtocolError(ProtocolErrorKind.UnexpectedMessage, $"a server does not send {frame.Type} after the handshake"));
        // A reply to a request that was canceled or timed out finds nothing here and is dropped.
        if (!_pending.TryRemove(frame.CorrelationId, out var pending)) return;
        if (pending.ExpectedReply != frame.Type)
        {
            pending.Fail(new ProtocolViolationException(new ProtocolError(ProtocolErrorKind.UnexpectedMessage, $"expected {pending.ExpectedReply} for correlation id {frame.CorrelationId}, got {frame.Type}")));
            throw new ProtocolViolationException(new ProtocolError(ProtocolErrorKind.UnexpectedMessage, $"{frame.Type} answered a request expecting {pending.ExpectedReply}"));
        }

        if (!MessageCodec.TryDecode(frame, out var message, out var error, ProtocolVersion))
        {
            pending.Fail(new ProtocolViolationException(error!));
            throw new ProtocolViolationException(error!);
        }

        pending.Complete(message!);
    }

    private async Task WriteLoopAsync()
    {
        try
        {
            await _outbox.RunAsync().ConfigureAwait(false);
            Close(new ConnectionLostException($"{RemoteEndPoint} stopped reading."));
        }
        catch (Exception e)
        {
            Close(e);
        }

        await CompleteQuietlyAsync(_output.CompleteAsync()).ConfigureAwait(false);
    }

    private void SweepTimeouts()
    {
        var now = _options.TimeProvider.GetTimestamp();
        foreach (var pending in _pending.RemoveExpired(now))
        {
            pending.Fail(new TimeoutException(
                $"No reply from {RemoteSiloId} within ConnectionOptions.RequestTimeout ({_options.RequestTimeout}); the request may still run, so retry it with the same request id."));
        }
    }

    /// <summary>Ends the connection once: stops both loops and fails every pending request together.</summary>
    private void Close(Exception reason)
    {
        if (Interlocked.CompareExchange(ref _closeReason, reason, null) is not null) return;
        Interlocked.Exchange(ref _isClosed, 1);
        _outbox.Complete();
        _sweep?.Dispose();
        // Unblocks the reader loop if it is waiting on the socket.
        _input.CancelPendingRead();
        try
        {
            _socket.Shutdown(System.Net.Sockets.SocketShutdown.Both);
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or ObjectDisposedException)
        {
            // Already disconnected: nothing left to shut down.
        }

        _socket.Dispose();
        _stream.Dispose();
        foreach (var pending in _pending.Close())
        {
            // One exception per request: a shared instance would have its stack trace rewritten by every awaiter.
            pending.Fail(LostException());
        }

        _closed.TrySetResult();
    }
}
