using System.Buffers;
using System.Buffers.Binary;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Middleware.Protocol;

namespace Middleware.Transport;

/// <summary>
/// One accepted connection after its handshake. The reader loop parses frames and starts each request without
/// awaiting it; replies go through a <see cref="FrameOutbox"/> whose writer loop flushes once per drain. A protocol
/// violation answers BadRequest (correlation id of the offending frame when known) and closes this connection.
/// <para>
/// Bounded on every side: at <see cref="TransportOptions.MaxInFlightPerConnection"/> requests or
/// <see cref="TransportOptions.MaxQueuedReplyBytes"/> of unwritten replies the reader stops (the peer meets TCP
/// back-pressure); a frame that trickles in slower than <see cref="TransportOptions.MinDataRate"/> or a connection idle
/// for <see cref="TransportOptions.IdleTimeout"/> is closed; and a peer that vanishes (or stops reading until the
/// writer fails) releases everything at once: the reader stops waiting, handlers learn their replies have nowhere to
/// go, and the queued replies are dropped with the connection.
/// </para>
/// </summary>
internal sealed partial class ServerConnection : IReplySink
{
    private readonly ConnectionContext _connection;
    private readonly PeerContext _peer;
    private readonly IFrameHandler _handler;
    private readonly TransportOptions _options;
    private readonly TimeProvider _time;
    private readonly TransportMetrics _metrics;
    private readonly ILogger _logger;
    private readonly FrameOutbox _outbox;
    private readonly SemaphoreSlim _slots;
    private readonly CancellationTokenSource _lifetime = new();
    private readonly object _gate = new();
    // The read loop's (one at a time): a request's type, method and session id repeat on a connection (issue 18).
    private readonly RecentStrings _recentStrings = new();
    private TaskCompletionSource? _room;
    private long _queuedBytes;
    private volatile bool _stopReading;
    private volatile bool _ended;

    public ServerConnection(ConnectionContext connection, PeerContext peer, IFrameHandler handler, TransportOptions options, TransportMetrics metrics, ILogger logger, TimeProvider time)
    {
        _time = time;
        _connection = connection;
        _peer = peer;
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
        using var deadline = _time.CreateTimer(static s => ((ServerConnection)s!).OnDeadline(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _deadline = deadline;
        ArmDeadline(0, 0); // a peer that handshakes and then says nothing is idle from now
        // The peer vanished (reset, close): nobody will read replies or send more; let everything go now.
        await using var closed = _connection.ConnectionClosed.Register(static s => ((ServerConnection)s!).PeerGone(), this);
        var writeLoop = WriteLoopAsync();
        (ulong CorrelationId, ProtocolError Error)? violation = null;
        try
        {
            violation = await ReadLoopAsync().ConfigureAwait(false);
        }
        finally
        {
            if (_stopReading && violation is null && !_lifetime.IsCancellationRequested)
            {
                // Graceful stop: the requests already taken finish and reply first.
                var until = _time.GetUtcNow() + _options.CloseTimeout;
                while (_slots.CurrentCount < _options.MaxInFlightPerConnection && _time.GetUtcNow() < until && !_lifetime.IsCancellationRequested)
                    await Task.Delay(TimeSpan.FromMilliseconds(10), _time).ConfigureAwait(false);
            }

            // Handlers still running learn that their replies have nowhere to go.
            _ended = true;
            await _lifetime.CancelAsync().ConfigureAwait(false);
            if (violation is { } v)
            {
                _metrics.ProtocolError();
                _logger.LogInformation("Connection {ConnectionId} ({Peer}) closed for a protocol violation: {Error}", _connection.ConnectionId, _peer, v.Error);
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
                if (result.IsCanceled && Expired() is { } expired) return expired;
                while (!_lifetime.IsCancellationRequested)
                {
                    var status = FrameParser.TryRead(ref buffer, _options.MaxFrameSize, out var frame, out var error);
                    if (status == FrameParseStatus.NeedMoreData) break;
                    if (status == FrameParseStatus.Error) return (0, error!);
                    _metrics.FrameIn(frame.Payload.Length + Protocol.ProtocolConstants.HeaderSize);
                    // The partial frame the slow deadline guarded is complete: the next partial one gets its own deadline
                    // (frames of one length are not one frame), and a wait for room below is not the peer's slowness.
                    if (_deadlineKind == SlowDeadline) DisarmSlowDeadline();
                    if (!TryDecodeRequest(frame, out var message, out error)) return (frame.CorrelationId, error!);
                    if (!await WaitForRoomAsync().ConfigureAwait(false)) return null;
                    Dispatch(frame.CorrelationId, message!);
                }

                ArmDeadline(buffer.Length, buffer.Length >= 4 ? FrameLength(buffer) : 0);
            }
            finally
            {
                input.AdvanceTo(buffer.Start, buffer.End);
            }

            if (_lifetime.IsCancellationRequested) return null; // the peer is gone
            if (result.IsCanceled && _stopReading) return null;
            if (result.IsCompleted || result.IsCanceled)
                return FrameParser.AtEndOfStream(buffer) is { } truncated ? (0, truncated) : null;
        }
    }

    /// <summary>
    /// Back-pressure before a request is taken: an in-flight slot, and room under the queued-reply bytes. While it
    /// waits the reader reads nothing, so the peer's sends stall in TCP. False when the peer went away meanwhile.
    /// </summary>
    private async ValueTask<bool> WaitForRoomAsync()
    {
        try
        {
            if (!_slots.Wait(0))
            {
                _metrics.ReadPaused();
                await _slots.WaitAsync(_lifetime.Token).ConfigureAwait(false);
            }

            while (Interlocked.Read(ref _queuedBytes) > _options.MaxQueuedReplyBytes)
            {
                _metrics.ReadPaused();
                Task room;
                lock (_gate)
                {
                    if (Interlocked.Read(ref _queuedBytes) <= _options.MaxQueuedReplyBytes) break;
                    room = (_room ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
                }

                await room.WaitAsync(_lifetime.Token).ConfigureAwait(false);
            }

            return true;
        }
        catch (OperationCanceledException) when (_lifetime.IsCancellationRequested)
        {
            return false;
        }
    }

    private static int FrameLength(System.Buffers.ReadOnlySequence<byte> buffer)
    {
        Span<byte> prefix = stackalloc byte[4];
        buffer.Slice(0, 4).CopyTo(prefix);
        return (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(prefix), int.MaxValue);
    }

    private bool TryDecodeRequest(in Frame frame, out ProtocolMessage? message, out ProtocolError? error)
    {
        if (frame.Type is not (MessageType.Invoke or MessageType.Echo or MessageType.Ping))
        {
            message = null;
            error = new ProtocolError(ProtocolErrorKind.UnexpectedMessage, $"a {frame.Type} frame is not a request; after the handshake send Invoke, Echo or Ping");
            return false;
        }

        return MessageCodec.TryDecode(frame, out message, out error, Protocol.ProtocolConstants.Version, _recentStrings);
    }

    /// <summary>The peer vanished or the writer could not write: stop waiting for anything on its behalf.</summary>
    private void PeerGone()
    {
        if (_ended) return;
        _ended = true;
        if (_slots.CurrentCount < _options.MaxInFlightPerConnection || Interlocked.Read(ref _queuedBytes) > 0) _metrics.PeerGone();
        try
        {
            _lifetime.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Already ended.
        }

        _connection.Transport.Input.CancelPendingRead();
    }
}
