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
    private readonly HandshakeThrottle _throttle;

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
        _throttle = new HandshakeThrottle(options.HandshakeThrottle, _time, logger, metrics);
        // The throttle's log timer lives as long as the listener.
        stopping.Register(static t => ((HandshakeThrottle)t!).Dispose(), _throttle);
    }

    /// <summary>Failed handshakes per address of this listener (tests read it).</summary>
    internal HandshakeThrottle Throttle => _throttle;

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

            var peer = await HandshakeAsync(connection).ConfigureAwait(false);
            if (peer is null) return;
            _logger.LogDebug("Connection {ConnectionId} from {Remote}: {Peer} accepted (key proven: {Proven})", connection.ConnectionId, connection.RemoteEndPoint, peer, peer.Identity.ProvedKey);
            var session = new ServerConnection(connection, peer, _handler, _options, _metrics, _logger, _time);
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

    /// <summary>
    /// Runs the server's side of the handshake (<see cref="ServerHandshake"/>) within the handshake timeout: the Hello,
    /// and when the listener holds a key for the claimed role, the challenge and the peer's proof. Returns who was
    /// accepted, or null after answering HelloRejected. An address locked out by <see cref="HandshakeThrottle"/> is
    /// refused before anything is read; every refusal is counted there and logged at most once per interval.
    /// </summary>
    private async Task<PeerContext?> HandshakeAsync(ConnectionContext connection)
    {
        var address = HandshakeThrottle.AddressOf(connection.RemoteEndPoint);
        if (_throttle.LockedOut(address) is { } wait)
        {
            _metrics.HandshakeThrottled();
            return await RejectAsync(connection, address, null, throttled: true,
                $"too many failed handshakes from {address}; this address may try again in {Math.Ceiling(wait.TotalSeconds):0} s (fix the key or protocol version first)").ConfigureAwait(false);
        }

        var handshake = new ServerHandshake(_options.Keys, _options.SiloId, _options.MaxFrameSize);
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
                return await RejectAsync(connection, address, Claimed(handshake), throttled: false,
                    $"handshake timeout: the handshake did not finish within {_options.HandshakeTimeout.TotalSeconds:0.###} s of connecting").ConfigureAwait(false);
            }

            var buffer = result.Buffer;
            // Until the peer is accepted it may make us buffer one small frame only.
            var status = FrameParser.TryRead(ref buffer, Math.Min(TransportOptions.HandshakeMaxFrameSize, _options.MaxFrameSize), out var frame, out var error);
            if (status == FrameParseStatus.NeedMoreData)
            {
                input.AdvanceTo(buffer.Start, buffer.End);
                if (!result.IsCompleted) continue;
                // The peer left before finishing (a port probe, a client giving up): nothing was guessed, nothing to log.
                _metrics.HandshakeRejected();
                return null;
            }

            if (status == FrameParseStatus.Error)
            {
                input.AdvanceTo(buffer.Start, buffer.End);
                _metrics.ProtocolError();
                return await RejectAsync(connection, address, Claimed(handshake), throttled: false, $"{(handshake.ClaimedRole is null ? "the first frame" : "a handshake frame")} is invalid ({error!.Message}); send Hello first").ConfigureAwait(false);
            }

            var step = handshake.Receive(frame);
            // Consumed up to this frame only: a peer may pipeline requests right behind its last handshake frame.
            input.AdvanceTo(buffer.Start);
            if (step.RejectReason is { } reason)
            {
                if (step.Failure == HandshakeFailure.Credential) _metrics.CredentialFailure();
                return await RejectAsync(connection, address, Claimed(handshake), throttled: false, reason).ConfigureAwait(false);
            }

            FrameWriter.Write(connection.Transport.Output, 0, step.Reply);
            await connection.Transport.Output.FlushAsync(timeout.Token).ConfigureAwait(false);
            if (step.Accepted is { } identity) return new PeerContext(identity, connection.RemoteEndPoint, _options.Keys.Enforced);
        }
    }

    /// <summary>What the peer claimed to be, escaped for the log ("client 'name'"), or null before a Hello was decoded.</summary>
    private static string? Claimed(ServerHandshake handshake) =>
        handshake.ClaimedRole is { } role ? $"{ServerHandshake.RoleName(role)} {LogText.Quote(handshake.ClaimedSender)}" : null;

    private async Task<PeerContext?> RejectAsync(ConnectionContext connection, string address, string? sender, bool throttled, string reason)
    {
        _metrics.HandshakeRejected();
        _throttle.Failed(address, reason, sender, throttled);
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
