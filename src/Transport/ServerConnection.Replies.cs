using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Middleware.Protocol;

namespace Middleware.Transport;

/// <summary>Dispatch of requests, the reply queue and its accounting, and the connection's deadlines.</summary>
internal sealed partial class ServerConnection
{
    private const int NoDeadline = 0, IdleDeadline = 1, SlowDeadline = 2;
    private ITimer? _deadline;
    private int _deadlineKind;
    private int _expiredKind;
    private long _partialSinceTicks;
    private long _partialExpected;

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

        if (_handler is IDirectFrameHandler direct)
        {
            // The handler replies through Reply below, exactly once; it does not throw (a throw is taken as "no reply yet").
            try
            {
                direct.Handle((InvokeMessage)message, _peer, correlationId, this, _lifetime.Token);
            }
            catch (Exception e)
            {
                Send(correlationId, Failed(e));
            }

            return;
        }

        ValueTask<ReplyMessage> pending;
        try
        {
            pending = _handler.HandleAsync((InvokeMessage)message, _peer, _lifetime.Token);
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

    /// <inheritdoc />
    void IReplySink.Reply(ulong correlationId, ReplyMessage reply) => Send(correlationId, reply);

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
        if (reply is ReplyMessage r && _peer.ProtocolVersion < ProtocolConstants.Version) reply = r.ForVersion(_peer.ProtocolVersion);
        var length = reply.GetFrameLength();
        if (length > _options.MaxFrameSize)
        {
            reply = ReplyMessage.Error("Middleware.ReplyTooLarge", $"the reply encodes to a {length}-byte frame, over the maximum frame size {_options.MaxFrameSize} (TransportOptions.MaxFrameSize)");
            length = reply.GetFrameLength();
        }

        // Counted before it is queued, so the writer never subtracts bytes not yet added.
        Interlocked.Add(ref _queuedBytes, length + ProtocolConstants.LengthPrefixSize);
        if (_ended || !_outbox.TryEnqueue(correlationId, reply))
        {
            Interlocked.Add(ref _queuedBytes, -(length + ProtocolConstants.LengthPrefixSize));
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

        // The writer stopped before the connection ended (the peer stopped reading and the socket failed, or it closed):
        // no reply will be written any more, so nothing must wait for one.
        if (!_ended) PeerGone();
    }

    private void OnDrained(int count, long bytes)
    {
        _metrics.FramesWritten(count, bytes);
        ReleaseSlots(count);
        if (Interlocked.Add(ref _queuedBytes, -bytes) <= _options.MaxQueuedReplyBytes)
        {
            TaskCompletionSource? room;
            lock (_gate)
            {
                room = _room;
                _room = null;
            }

            room?.TrySetResult();
        }
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

    /// <summary>
    /// After each read: with part of a frame buffered, the frame must be complete by its start + grace + size at the
    /// minimum data rate; otherwise the connection must not stay silent with nothing in flight for the idle timeout.
    /// </summary>
    private void ArmDeadline(long buffered, long expectedLength)
    {
        var now = _time.GetTimestamp();
        if (buffered > 0)
        {
            if (_deadlineKind != SlowDeadline || expectedLength != _partialExpected)
            {
                if (_deadlineKind != SlowDeadline) _partialSinceTicks = now;
                _partialExpected = expectedLength;
                _deadlineKind = SlowDeadline;
                var allowed = _options.MinDataRateGrace + TimeSpan.FromSeconds((double)Math.Max(expectedLength, buffered) / _options.MinDataRate);
                _deadline?.Change(Remaining(_partialSinceTicks, allowed), Timeout.InfiniteTimeSpan);
            }

            return;
        }

        _deadlineKind = IdleDeadline;
        _deadline?.Change(_options.IdleTimeout, Timeout.InfiniteTimeSpan);
    }

    /// <summary>
    /// A frame that was partial is complete: no deadline until <see cref="ArmDeadline"/> after this read. The timer is not
    /// touched (this runs on most reads at load): if it fires meanwhile, <see cref="OnDeadline"/> sees no deadline and does
    /// nothing, and <see cref="ArmDeadline"/> re-arms it after the read.
    /// </summary>
    private void DisarmSlowDeadline() => _deadlineKind = NoDeadline;

    private TimeSpan Remaining(long sinceTicks, TimeSpan allowed)
    {
        var left = allowed - _time.GetElapsedTime(sinceTicks);
        return left > TimeSpan.Zero ? left : TimeSpan.Zero;
    }

    /// <summary>The deadline passed: an idle connection that still has work in flight gets another period; else it ends.</summary>
    private void OnDeadline()
    {
        var kind = _deadlineKind;
        if (kind == IdleDeadline && (_slots.CurrentCount < _options.MaxInFlightPerConnection || Interlocked.Read(ref _queuedBytes) > 0))
        {
            _deadline?.Change(_options.IdleTimeout, Timeout.InfiniteTimeSpan);
            return;
        }

        if (kind == NoDeadline) return;
        Volatile.Write(ref _expiredKind, kind);
        _connection.Transport.Input.CancelPendingRead();
    }

    /// <summary>After a cancelled read: null to go on, else how the connection ends (idle: quietly; too slow: a violation).</summary>
    private (ulong, ProtocolError)? Expired()
    {
        switch (Interlocked.Exchange(ref _expiredKind, NoDeadline))
        {
            case IdleDeadline:
                _metrics.IdleClose();
                _logger.LogDebug("Connection {ConnectionId} ({Peer}) closed: idle for {Timeout}", _connection.ConnectionId, _peer, _options.IdleTimeout);
                _stopReading = true;
                return null;
            case SlowDeadline:
                _metrics.SlowClose();
                return (0, new ProtocolError(ProtocolErrorKind.TooSlow,
                    $"a frame of {_partialExpected} bytes arrived slower than {_options.MinDataRate} bytes/s after a grace of {_options.MinDataRateGrace.TotalSeconds:0.#} s (TransportOptions.MinDataRate)"));
            default:
                return null;
        }
    }
}
