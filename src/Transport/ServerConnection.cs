using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Middleware.Protocol;

namespace Middleware.Transport;

/// <summary>
/// One accepted connection after its handshake. The reader loop parses frames and starts each request without
/// awaiting it; replies go through a <see cref="FrameOutbox"/> whose writer loop flushes once per drain. A protocol
/// violation answers BadRequest (correlation id of the offending frame when known) and closes this connection.
/// </summary>
internal sealed class ServerConnection
{
    private readonly ConnectionContext _connection;
    private readonly HelloMessage _hello;
    private readonly IFrameHandler _handler;
    private readonly TransportOptions _options;
    private readonly TimeProvider _time;
    private readonly TransportMetrics _metrics;
    private readonly ILogger _logger;
    private readonly FrameOutbox _outbox;
    private readonly SemaphoreSlim _slots;
    private readonly CancellationTokenSource _lifetime = new();
    private volatile bool _stopReading;

    public ServerConnection(ConnectionContext connection, HelloMessage hello, IFrameHandler handler, TransportOptions options, TransportMetrics metrics, ILogger logger, TimeProvider time)
    {
        _time = time;
        _connection = connection;
        _hello = hello;
        _handler = handler;
        _options = options;
        _metrics = metrics;
        _logger = logger;
        _slots = new SemaphoreSlim(options.MaxInFlightPerConnection, options.MaxInFlightPerConnection);
        _outbox = new FrameOutbox(connection.Transport.Output) { Drained = OnDrained };
    }

    /// <summary>The host is stopping: take no new request; the ones in flight still reply before the connection closes.</summary>
    public void StopReading()
    {
        _stopReading = true;
        _connection.Transport.Input.CancelPendingRead();
    }

    public async Task RunAsync()
    {
        var writeLoop = WriteLoopAsync();
        (ulong CorrelationId, ProtocolError Error)? violation = null;
        try
        {
            violation = await ReadLoopAsync().ConfigureAwait(false);
        }
        finally
        {
            if (_stopReading && violation is null)
            {
                // Graceful stop: the requests already taken finish and reply first.
                var deadline = _time.GetUtcNow() + _options.CloseTimeout;
                while (_slots.CurrentCount < _options.MaxInFlightPerConnection && _time.GetUtcNow() < deadline)
                    await Task.Delay(TimeSpan.FromMilliseconds(10), _time).ConfigureAwait(false);
            }

            // Handlers still running learn that their replies have nowhere to go.
            await _lifetime.CancelAsync().ConfigureAwait(false);
            if (violation is { } v)
            {
                _metrics.ProtocolError();
                _logger.LogInformation("Connection {ConnectionId} ({Sender}) closed for a protocol violation: {Error}", _connection.ConnectionId, _hello.SenderId, v.Error);
                _outbox.TryEnqueue(v.CorrelationId, ReplyMessage.BadRequest($"protocol violation, closing the connection: {v.Error.Message}"));
            }

            _outbox.Complete();
            // A peer that stopped reading must not keep this connection (and its handler task) alive forever.
            if (await Task.WhenAny(writeLoop, Task.Delay(_options.CloseTimeout, _time)).ConfigureAwait(false) != writeLoop) _connection.Abort();
            await writeLoop.ConfigureAwait(false);
            _lifetime.Dispose();
        }
    }

    /// <summary>Reads and dispatches frames until the peer closes; returns the violation that ended it, if any.</summary>
    private async Task<(ulong, ProtocolError)?> ReadLoopAsync()
    {
        var input = _connection.Transport.Input;
        while (true)
        {
            var result = await input.ReadAsync().ConfigureAwait(false);
            var buffer = result.Buffer;
            try
            {
                while (true)
                {
                    var status = FrameParser.TryRead(ref buffer, _options.MaxFrameSize, out var frame, out var error);
                    if (status == FrameParseStatus.NeedMoreData) break;
                    if (status == FrameParseStatus.Error) return (0, error!);
                    _metrics.FrameIn();
                    if (!TryDecodeRequest(frame, out var message, out error)) return (frame.CorrelationId, error!);
                    // At the in-flight limit, stop reading: the peer meets TCP back-pressure.
                    if (!_slots.Wait(0)) await _slots.WaitAsync(_lifetime.Token).ConfigureAwait(false);
                    Dispatch(frame.CorrelationId, message!);
                }
            }
            finally
            {
                input.AdvanceTo(buffer.Start, buffer.End);
            }

            if (result.IsCanceled && _stopReading) return null;
            if (result.IsCompleted || result.IsCanceled)
                return FrameParser.AtEndOfStream(buffer) is { } truncated ? (0, truncated) : null;
        }
    }

    private static bool TryDecodeRequest(in Frame frame, out ProtocolMessage? message, out ProtocolError? error)
    {
        if (frame.Type is not (MessageType.Invoke or MessageType.Echo or MessageType.Ping))
        {
            message = null;
            error = new ProtocolError(ProtocolErrorKind.UnexpectedMessage, $"a {frame.Type} frame is not a request; after the handshake send Invoke, Echo or Ping");
            return false;
        }

        return MessageCodec.TryDecode(frame, out message, out error);
    }

    private void Dispatch(ulong correlationId, ProtocolMessage message)
    {
        switch (message)
        {
            case EchoMessage echo:
                Send(correlationId, new EchoReplyMessage(echo.Payload));
                return;
            case PingMessage:
                Send(correlationId, PongMessage.Instance);
                return;
        }

        ValueTask<ReplyMessage> pending;
        try
        {
            pending = _handler.HandleAsync((InvokeMessage)message, _lifetime.Token);
        }
        catch (Exception e)
        {
            Send(correlationId, Failed(e));
            return;
        }

        if (pending.IsCompletedSuccessfully)
        {
            Send(correlationId, pending.Result);
        }
        else
        {
            _ = CompleteAsync(correlationId, pending);
        }
    }

    private async Task CompleteAsync(ulong correlationId, ValueTask<ReplyMessage> pending)
    {
        ReplyMessage reply;
        try
        {
            reply = await pending.ConfigureAwait(false);
        }
        catch (Exception e)
        {
            reply = Failed(e);
        }

        Send(correlationId, reply);
    }

    private ReplyMessage Failed(Exception e)
    {
        _metrics.HandlerFailure();
        return e is OperationCanceledException && _lifetime.IsCancellationRequested
            ? ReplyMessage.Unavailable("the connection closed while the request ran")
            : ReplyMessage.Error(e.GetType().FullName ?? e.GetType().Name, e.Message);
    }

    private void Send(ulong correlationId, ProtocolMessage reply)
    {
        // A peer of an older protocol version gets replies it can decode (without the fields it does not know).
        if (reply is ReplyMessage r && _hello.ProtocolVersion < ProtocolConstants.Version) reply = r.ForVersion(_hello.ProtocolVersion);
        var length = reply.GetFrameLength();
        if (length > _options.MaxFrameSize)
        {
            reply = ReplyMessage.Error("Middleware.ReplyTooLarge", $"the reply encodes to a {length}-byte frame, over the maximum frame size {_options.MaxFrameSize} (TransportOptions.MaxFrameSize)");
        }

        if (!_outbox.TryEnqueue(correlationId, reply))
        {
            _metrics.ReplyDropped();
            ReleaseSlots(1);
        }
    }

    private async Task WriteLoopAsync()
    {
        // Yield first so the read loop starts at once; the writer only wakes when replies are queued.
        await Task.Yield();
        try
        {
            await _outbox.RunAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ConnectionResetException or ObjectDisposedException or OperationCanceledException)
        {
            _logger.LogDebug("Connection {ConnectionId}: writing failed: {Reason}", _connection.ConnectionId, e.Message);
            _connection.Abort();
        }
    }

    private void OnDrained(int count)
    {
        _metrics.FramesWritten(count);
        ReleaseSlots(count);
    }

    /// <summary>
    /// Frees in-flight slots. Never more than are held: the closing BadRequest holds none. Only this path releases, and
    /// a concurrent acquire only raises the held count, so the bound is safe without a lock.
    /// </summary>
    private void ReleaseSlots(int count)
    {
        var held = _options.MaxInFlightPerConnection - _slots.CurrentCount;
        var release = Math.Min(count, held);
        if (release > 0) _slots.Release(release);
    }
}
