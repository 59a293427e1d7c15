using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;

namespace Middleware.Protocol;

/// <summary>
/// One multiplexed connection to a silo: many requests in flight, each matched to its reply by correlation id. A
/// reader loop completes replies; a batching writer loop (<see cref="FrameOutbox"/>) sends requests. When the
/// connection is lost every pending request fails at once with <see cref="ConnectionLostException"/>, so a retry layer
/// can resend them (same request ids) over another connection. Thread-safe; create one per silo and share it.
/// </summary>
public sealed partial class MiddlewareConnection : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly Stream _stream;
    private readonly PipeReader _input;
    private readonly PipeWriter _output;
    private readonly FrameOutbox _outbox;
    private readonly ConnectionOptions _options;
    private readonly PendingTable _pending = new();
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly int _sendLimit;
    private long _lastCorrelationId;
    private int _isClosed;
    private Exception? _closeReason;
    private Task _readLoop = Task.CompletedTask;
    private Task _writeLoop = Task.CompletedTask;
    private ITimer? _sweep;

    private MiddlewareConnection(Socket socket, Stream stream, ConnectionOptions options, HelloOkMessage welcome, PipeReader input, PipeWriter output)
    {
        _socket = socket;
        _stream = stream;
        _options = options;
        _input = input;
        _output = output;
        _outbox = new FrameOutbox(output);
        RemoteEndPoint = socket.RemoteEndPoint!;
        RemoteSiloId = welcome.SiloId;
        RemoteMaxFrameSize = welcome.MaxFrameSize;
        ProtocolVersion = welcome.ProtocolVersion;
        ServerFlags = welcome.Flags;
        _sendLimit = welcome.MaxFrameSize;
    }

    /// <summary>
    /// What the server said of itself in HelloOk; with <see cref="HelloFlags.SessionsMustBeProven"/> a client proves each
    /// session it uses on this connection before invoking with its ids.
    /// </summary>
    public HelloFlags ServerFlags { get; }

    /// <summary>The protocol version the server answered in (HelloOk): the newest both sides speak.</summary>
    public ushort ProtocolVersion { get; }

    /// <summary>The silo id the server announced in HelloOk.</summary>
    public string RemoteSiloId { get; }

    /// <summary>The largest frame the server accepts; larger requests fail locally with <see cref="FrameTooLargeException"/>.</summary>
    public int RemoteMaxFrameSize { get; }

    /// <summary>The server's address.</summary>
    public EndPoint RemoteEndPoint { get; }

    /// <summary>True until the connection is lost or disposed.</summary>
    public bool IsConnected => Volatile.Read(ref _isClosed) == 0;

    /// <summary>Requests waiting for replies.</summary>
    public int PendingCount => _pending.Count;

    /// <summary>Completes when the connection has closed, for any reason; <see cref="CloseReason"/> then says why.</summary>
    public Task Closed => _closed.Task;

    /// <summary>Why the connection closed, once it has.</summary>
    public Exception? CloseReason => Volatile.Read(ref _closeReason);

    /// <summary>Frames sent and socket flushes so far; their ratio is the write batching achieved.</summary>
    public (long Frames, long Flushes) SendStats => (_outbox.FramesWritten, _outbox.Flushes);

    /// <summary>Connects to <paramref name="host"/>:<paramref name="port"/> and performs the handshake.</summary>
    public static Task<MiddlewareConnection> ConnectAsync(string host, int port, ConnectionOptions options, CancellationToken cancellationToken = default) =>
        ConnectAsync(IPAddress.TryParse(host, out var ip) ? new IPEndPoint(ip, port) : new DnsEndPoint(host, port), options, cancellationToken);

    /// <summary>
    /// Connects to <paramref name="endpoint"/> and performs the handshake. Throws <see cref="HandshakeRejectedException"/>
    /// when the server refuses (version, key, sender id), <see cref="PeerAuthenticationException"/> when this side holds a
    /// key and the server did not prove it knows it, <see cref="TimeoutException"/> when connect or handshake take too
    /// long, and <see cref="ConnectionLostException"/> when the server closes the connection first.
    /// </summary>
    public static async Task<MiddlewareConnection> ConnectAsync(EndPoint endpoint, ConnectionOptions options, CancellationToken cancellationToken = default)
    {
        options.Validate();
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using (var connectTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                connectTimeout.CancelAfter(options.ConnectTimeout);
                try
                {
                    await socket.ConnectAsync(endpoint, connectTimeout.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    throw new TimeoutException($"Connecting to {endpoint} took longer than ConnectionOptions.ConnectTimeout ({options.ConnectTimeout}).");
                }
            }

            var stream = await Tls.TlsClientStream.OpenAsync(socket, endpoint, options, cancellationToken).ConfigureAwait(false);
            var input = PipeReader.Create(stream, new StreamPipeReaderOptions(leaveOpen: true));
            var output = PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true));
            var welcome = await HandshakeAsync(endpoint, input, output, options, cancellationToken).ConfigureAwait(false);
            var connection = new MiddlewareConnection(socket, stream, options, welcome, input, output);
            connection.Start();
            return connection;
        }
        catch
        {
            // The socket is ours until the connection object exists; any failure before that must not leak it.
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Sends <paramref name="request"/> and returns its reply. Fails with <see cref="ConnectionLostException"/> if the
    /// connection is or becomes lost, <see cref="TimeoutException"/> after <see cref="ConnectionOptions.RequestTimeout"/>,
    /// <see cref="FrameTooLargeException"/> if the server would refuse its size, and is canceled by the token.
    /// </summary>
    public Task<ReplyMessage> InvokeAsync(InvokeMessage request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        // A peer of an older version would refuse the trace context's fields as trailing bytes: it goes without.
        if (request.TraceParent is not null && ProtocolVersion < ProtocolConstants.TraceContextVersion)
            request = request with { TraceParent = null, TraceState = null };
        return SendAsync(new PendingInvoke(DeadlineNow()), request, cancellationToken);
    }

    /// <summary>Sends <paramref name="payload"/> through the transport and returns the bytes the server sent back.</summary>
    public Task<ReadOnlyMemory<byte>> EchoAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default) =>
        SendAsync(new PendingEcho(DeadlineNow()), new EchoMessage(payload), cancellationToken);

    /// <summary>Completes when the server answers a ping: the connection and the server's reader loop are alive.</summary>
    public Task PingAsync(CancellationToken cancellationToken = default) =>
        SendAsync(new PendingPing(DeadlineNow()), PingMessage.Instance, cancellationToken);

    /// <summary>Closes the connection; pending requests fail with <see cref="ConnectionLostException"/>.</summary>
    public async ValueTask DisposeAsync()
    {
        Close(new ConnectionLostException($"The connection to {RemoteEndPoint} was closed by this side."));
        await Task.WhenAll(_readLoop, _writeLoop).ConfigureAwait(false);
    }

    private Task<T> SendAsync<T>(PendingRequest<T> pending, ProtocolMessage message, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested) return Task.FromCanceled<T>(cancellationToken);
        var length = message.GetFrameLength();
        if (length > _sendLimit)
        {
            return Task.FromException<T>(new FrameTooLargeException(
                $"The {message.Type} encodes to a {length}-byte frame, but {RemoteSiloId} accepts frames up to {_sendLimit} bytes (its MaxFrameSize); send smaller arguments or raise the server's limit."));
        }

        var id = (ulong)Interlocked.Increment(ref _lastCorrelationId);
        if (cancellationToken.CanBeCanceled)
        {
            pending.Register(cancellationToken.UnsafeRegister(static (state, token) =>
            {
                var (connection, id, request) = ((MiddlewareConnection, ulong, IPendingRequest))state!;
                connection._pending.TryRemove(id, out _);
                request.Cancel(token);
            }, (this, id, (IPendingRequest)pending)));
        }

        if (!_pending.TryAdd(id, pending))
        {
            pending.Fail(LostException());
        }
        else if (pending.Task.IsCompleted)
        {
            // Canceled while registering: nothing to send, nothing to wait for.
            _pending.TryRemove(id, out _);
        }
        else if (!_outbox.TryEnqueue(id, message) && _pending.TryRemove(id, out _))
        {
            pending.Fail(LostException());
        }

        return pending.Task;
    }

    /// <summary>The <see cref="ConnectionOptions.TimeProvider"/> timestamp after which a request sent now times out.</summary>
    private long DeadlineNow() =>
        _options.RequestTimeout == Timeout.InfiniteTimeSpan
            ? long.MaxValue
            : _options.TimeProvider.GetTimestamp() + (long)(_options.RequestTimeout.TotalSeconds * _options.TimeProvider.TimestampFrequency);

    private ConnectionLostException LostException()
    {
        var reason = CloseReason;
        return new ConnectionLostException(
            $"The connection to {RemoteEndPoint} ({RemoteSiloId}) was lost{(reason is null ? "" : " (" + reason.Message + ")")}; retry the request with the same request id.", reason);
    }
}
