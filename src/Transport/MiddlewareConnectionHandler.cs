using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Middleware.Protocol;

namespace Middleware.Transport;

/// <summary>
/// The Kestrel connection handler of the Middleware protocol: it performs the handshake, then runs a
/// <see cref="ServerConnection"/> that dispatches requests to the <see cref="IFrameHandler"/> without waiting for one
/// before reading the next. Anything wrong with one connection closes that connection only.
/// </summary>
public sealed class MiddlewareConnectionHandler : ConnectionHandler
{
    private readonly IFrameHandler _handler;
    private readonly TransportOptions _options;
    private readonly TimeProvider _time;
    private readonly TransportMetrics _metrics;
    private readonly ILogger _logger;
    private readonly CancellationToken _stopping;

    /// <summary>
    /// Creates the handler of one listener; <paramref name="options"/> are validated here. When
    /// <paramref name="stopping"/> fires (the host is shutting down), each connection stops reading, lets the requests
    /// it already took finish and reply (up to <see cref="TransportOptions.CloseTimeout"/>), and closes: peers then
    /// reconnect to another silo instead of holding this one open until Kestrel's shutdown timeout.
    /// </summary>
    public MiddlewareConnectionHandler(IFrameHandler handler, TransportOptions options, TransportMetrics metrics, ILogger<MiddlewareConnectionHandler> logger, CancellationToken stopping = default, TimeProvider? time = null)
    {
        options.Validate();
        _time = time ?? TimeProvider.System;
        _handler = handler;
        _options = options;
        _metrics = metrics;
        _logger = logger;
        _stopping = stopping;
    }

    /// <inheritdoc />
    public override async Task OnConnectedAsync(ConnectionContext connection)
    {
        _metrics.ConnectionOpened();
        try
        {
            if (_metrics.ConnectionsActive > _options.MaxConnections)
            {
                // Refused before anything is buffered for it: the cap is what bounds the memory of many peers.
                _metrics.ConnectionRefused();
                await RefuseAsync(connection, $"the silo is at its connection limit ({_options.MaxConnections}, TransportOptions.MaxConnections); retry later or use another silo").ConfigureAwait(false);
                return;
            }

            var hello = await HandshakeAsync(connection).ConfigureAwait(false);
            if (hello is null) return;
            _logger.LogDebug("Connection {ConnectionId} from {Remote}: {Role} '{Sender}' accepted", connection.ConnectionId, connection.RemoteEndPoint, hello.Role, hello.SenderId);
            var session = new ServerConnection(connection, hello, _handler, _options, _metrics, _logger, _time);
            await using var onStopping = _stopping.Register(static c => ((ServerConnection)c!).StopReading(), session);
            await session.RunAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is ConnectionResetException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            // The peer vanished (reset, abort, shutdown): an ordinary end of a connection, not a server fault.
            _logger.LogDebug("Connection {ConnectionId} ended: {Reason}", connection.ConnectionId, e.Message);
        }
        finally
        {
            _metrics.ConnectionClosed();
        }
    }

    /// <summary>Reads the first frame within the handshake timeout; answers HelloOk, or HelloRejected and returns null.</summary>
    private async Task<HelloMessage?> HandshakeAsync(ConnectionContext connection)
    {
        var input = connection.Transport.Input;
        using var timeout = new CancellationTokenSource(_options.HandshakeTimeout);
        while (true)
        {
            ReadResult result;
            try
            {
                result = await input.ReadAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested)
            {
                return await RejectAsync(connection, $"handshake timeout: no Hello within {_options.HandshakeTimeout.TotalSeconds:0.###} s of connecting").ConfigureAwait(false);
            }

            var buffer = result.Buffer;
            // Until the peer is accepted it may make us buffer one small frame only.
            var status = FrameParser.TryRead(ref buffer, Math.Min(TransportOptions.HandshakeMaxFrameSize, _options.MaxFrameSize), out var frame, out var error);
            if (status == FrameParseStatus.NeedMoreData)
            {
                input.AdvanceTo(buffer.Start, buffer.End);
                if (!result.IsCompleted) continue;
                _metrics.HandshakeRejected();
                return null;
            }

            if (status == FrameParseStatus.Error)
            {
                input.AdvanceTo(buffer.Start, buffer.End);
                _metrics.ProtocolError();
                return await RejectAsync(connection, $"the first frame is invalid ({error!.Message}); send Hello first").ConfigureAwait(false);
            }

            var outcome = Handshake.Evaluate(frame, ProtocolConstants.Version, _options.ClusterKey);
            // Consumed up to the Hello only: a peer may pipeline requests right behind it.
            input.AdvanceTo(buffer.Start);
            if (!outcome.Accepted) return await RejectAsync(connection, outcome.RejectReason!).ConfigureAwait(false);
            // The connection speaks the peer's version (an older peer is answered in its own).
            FrameWriter.Write(connection.Transport.Output, 0, new HelloOkMessage(outcome.Hello!.ProtocolVersion, _options.SiloId, _options.MaxFrameSize));
            await connection.Transport.Output.FlushAsync().ConfigureAwait(false);
            return outcome.Hello;
        }
    }

    private async Task<HelloMessage?> RejectAsync(ConnectionContext connection, string reason)
    {
        _metrics.HandshakeRejected();
        _logger.LogInformation("Connection {ConnectionId} from {Remote} refused: {Reason}", connection.ConnectionId, connection.RemoteEndPoint, reason);
        await RefuseAsync(connection, reason).ConfigureAwait(false);
        return null;
    }

    private async Task RefuseAsync(ConnectionContext connection, string reason)
    {
        FrameWriter.Write(connection.Transport.Output, 0, new HelloRejectedMessage(reason));
        using var timeout = new CancellationTokenSource(_options.CloseTimeout);
        await connection.Transport.Output.FlushAsync(timeout.Token).ConfigureAwait(false);
    }
}
