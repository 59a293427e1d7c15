using System.Diagnostics;
using System.Collections.Concurrent;
using System.Net.Sockets;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Protocol;
using Middleware.Protocol.Control;
using Polly;

namespace Middleware.Client;

/// <summary>
/// The application's entry to a cluster: typed component proxies and untyped invokes over the binary protocol, with
/// one shared connection per gateway and retries that always resend the same request id (the silos run each request
/// id once, so a retry after a lost reply returns the first outcome instead of running the request again).
/// </summary>
public sealed partial class MiddlewareClient : IComponentFactory, IAsyncDisposable
{
    private readonly MiddlewareClientOptions _options;
    private readonly ConnectionOptions _connectionOptions;
    private volatile PeerConnection[] _gateways;
    private readonly ConcurrentDictionary<string, PeerConnection> _movedTargets = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<(string Type, string Key), PeerConnection> _owners = new();
    private readonly ResiliencePipeline<ReplyMessage> _pipeline;
    private readonly bool _directFirstAttempt;
    private readonly TimeSpan _directFirstAttemptMinimum;
    private readonly SessionIds _ids;
    private readonly SessionProofs _proofs;
    private readonly CancellationTokenSource _disposing = new();
    private long _nextGateway;
    private readonly Microsoft.Extensions.Logging.ILogger _logger;
    private long _attempts;
    private int _disposed;

    private MiddlewareClient(MiddlewareClientOptions options, IReadOnlyList<string> gateways)
    {
        _options = options;
        _logger = (Microsoft.Extensions.Logging.ILogger?)options.LoggerFactory?.CreateLogger(ClientTelemetry.Name) ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        SessionId = options.SessionId ?? "";
        SessionToken = options.SessionToken;
        _connectionOptions = new ConnectionOptions
        {
            SenderId = options.ClientName,
            Role = PeerRole.Client,
            Key = options.ResolveKey(),
            ConnectTimeout = options.ConnectTimeout,
            HandshakeTimeout = options.ConnectTimeout,
            // The connection's own sweep ends a first attempt (sent without the pipeline, see SendAsync) after
            // AttemptTimeout; later attempts also have the pipeline's timeout.
            RequestTimeout = options.AttemptTimeout,
            Tls = options.Tls,
        };
        _gateways = gateways.Select(g => new PeerConnection(g, _connectionOptions)).ToArray();
        _pipeline = BuildPipeline(options);
        // A first attempt without the pipeline ends by the connection's sweep, up to one sweep period late: it goes out
        // directly only when that cannot outlast the call's deadline.
        var sweepPeriod = TimeSpan.FromTicks(Math.Min(TimeSpan.FromSeconds(1).Ticks, Math.Max(TimeSpan.FromMilliseconds(10).Ticks, options.AttemptTimeout.Ticks / 4)));
        _directFirstAttemptMinimum = options.AttemptTimeout + sweepPeriod;
        _directFirstAttempt = options.RequestTimeout == Timeout.InfiniteTimeSpan || options.RequestTimeout >= _directFirstAttemptMinimum;
        _ids = new SessionIds(this);
        _proofs = new SessionProofs(this);
    }

    /// <summary>
    /// The virtual session whose request ids this client issues (<c>SessionId:n</c>). It lives in the cluster's store:
    /// save it and pass it as <see cref="MiddlewareClientOptions.SessionId"/> to continue the same session after this
    /// process restarts; the numbers it was given are never handed out again.
    /// </summary>
    public string SessionId { get; private set; }

    /// <summary>
    /// The session's token: given by the cluster when this client created the session (or passed in
    /// <see cref="MiddlewareClientOptions.SessionToken"/> to resume it). A silo that holds keys serves the session's
    /// requests only to a client proving it, on each connection. Save it with <see cref="SessionId"/>, as a secret. Null
    /// for a session resumed without one (possible only on a silo without keys).
    /// </summary>
    public string? SessionToken { get; private set; }

    internal void SetSession(string sessionId, string? token)
    {
        SessionId = sessionId;
        if (token is not null) SessionToken = token;
        ClientTelemetry.CountSession();
        ClientTelemetry.SessionOpened(_logger, sessionId, string.Join(", ", _gateways.Select(g => g.Address)));
    }

    /// <summary>Attempts sent so far, retries included (diagnostics and tests).</summary>
    public long Attempts => Interlocked.Read(ref _attempts);

    /// <summary>
    /// Validates <paramref name="options"/> (an <see cref="ArgumentException"/> names the setting), then connects to the
    /// first gateway that answers so a wrong address or cluster key fails here, not at the first call. Throws
    /// <see cref="ClientConnectException"/> when a gateway refuses the handshake or none can be reached.
    /// </summary>
    public static async Task<MiddlewareClient> ConnectAsync(MiddlewareClientOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        IReadOnlyList<string> gateways = [.. options.Gateways ?? []];
        if (gateways.Count == 0 && options.GatewayProvider is { } provider)
        {
            gateways = await provider.GetGatewaysAsync(cancellationToken).ConfigureAwait(false);
            if (gateways.Count == 0)
                throw new ClientConnectException($"{provider.Description} lists no live silo (MiddlewareClientOptions.GatewayProvider); start a silo, or check that the provider reads the store the silos use.");
        }

        var client = new MiddlewareClient(options, gateways);
        var failures = new List<Exception>();
        foreach (var gateway in client._gateways)
        {
            try
            {
                await gateway.GetAsync(cancellationToken).ConfigureAwait(false);
                await client._ids.OpenAsync(cancellationToken).ConfigureAwait(false);
                if (options.DiscoverGateways) await client.DiscoverGatewaysAsync(cancellationToken).ConfigureAwait(false);
                return client;
            }
            catch (HandshakeRejectedException e)
            {
                await client.DisposeAsync().ConfigureAwait(false);
                throw new ClientConnectException(
                    $"The gateway {gateway.Address} refused this client: {e.Reason}. Check MiddlewareClientOptions.ClientKey (or ClientKeyFile) and that client and silo run the same protocol version.", e);
            }
            catch (Exception e) when (e is PeerAuthenticationException or AccessDeniedException)
            {
                await client.DisposeAsync().ConfigureAwait(false);
                throw new ClientConnectException($"The gateway {gateway.Address} could not be trusted or refused this client's session: {e.Message}", e);
            }
            catch (Protocol.Tls.TlsRefusedException e)
            {
                // A certificate this client does not trust is not a silo being down: trying the others would hide it.
                await client.DisposeAsync().ConfigureAwait(false);
                throw new ClientConnectException($"The gateway {gateway.Address}: {e.Message}", e);
            }
            catch (Exception e) when (e is SocketException or TimeoutException or ConnectionLostException or IOException)
            {
                // Try the next gateway: one silo being down must not stop the client from starting.
                failures.Add(e);
            }
            catch
            {
                await client.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }

        await client.DisposeAsync().ConfigureAwait(false);
        throw new ClientConnectException(
            $"None of the gateways could be reached ({string.Join("; ", client._gateways.Zip(failures, (g, f) => $"{g.Address}: {f.Message}"))}). Check MiddlewareClientOptions.Gateways and that the silos are running.",
            new AggregateException(failures));
    }

    /// <summary>
    /// A typed proxy whose every call gets a new request id of this client's session (<c>SessionId:n</c>) and is retried
    /// with that id until it has a final answer or <see cref="MiddlewareClientOptions.RequestTimeout"/> passes. Component
    /// exceptions arrive as the component's own exception type, with their data properties, when this process has it.
    /// <paramref name="cancellationToken"/> bounds every call made through this proxy (component interfaces take no
    /// token): take a proxy per operation, <c>client.GetComponent&lt;IAccount&gt;("alice", ct).Deposit(5)</c>; proxies are cheap.
    /// Canceling stops the caller's wait and the retries, not a turn already running: the request may or may not have
    /// run, and resending its id (<see cref="Call{T}"/>) gets its single outcome.
    /// </summary>
    public T GetComponent<T>(string key, CancellationToken cancellationToken = default)
        where T : IRecoverableComponent =>
        ComponentProxy.Create<T>(inv => InvokeAsync(inv, cancellationToken), key, NextRequestId, SessionId);

    /// <summary>
    /// As <see cref="GetComponent{T}(string, CancellationToken)"/>, with <paramref name="timeout"/> as every call's deadline
    /// instead of <see cref="MiddlewareClientOptions.RequestTimeout"/>. Past it the client settles the request through the
    /// outcome protocol: its real reply if it committed meanwhile, else it is fenced for good and the call throws
    /// <see cref="CallTimeoutException"/>.
    /// </summary>
    public T GetComponent<T>(string key, TimeSpan timeout, CancellationToken cancellationToken = default)
        where T : IRecoverableComponent
    {
        if (timeout != Timeout.InfiniteTimeSpan && timeout <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "A call's timeout must be positive (or Timeout.InfiniteTimeSpan); give the time a call may take, retries included.");
        return ComponentProxy.Create<T>(inv => InvokeAsync(inv with { Timeout = timeout }, cancellationToken), key, NextRequestId, SessionId);
    }

    /// <summary>
    /// A typed proxy whose calls all use <paramref name="requestId"/>: one request, which a later process can resend (for
    /// example after a crash) and get its single outcome. <paramref name="cancellationToken"/> bounds its calls, as for
    /// <see cref="GetComponent{T}(string, CancellationToken)"/>.
    /// </summary>
    public T Call<T>(string key, string requestId, CancellationToken cancellationToken = default)
        where T : IRecoverableComponent
    {
        ArgumentException.ThrowIfNullOrEmpty(requestId);
        return ComponentProxy.Create<T>(inv => InvokeAsync(inv, cancellationToken), key, () => requestId, SessionId);
    }

    /// <summary>A new request id of this client's session.</summary>
    public string NextRequestId() => $"{SessionId}:{_ids.Next()}";

    /// <summary>Sets (or with a null value removes) an item of this session; turns of the session read it with <c>Context.GetSessionItemAsync</c>.</summary>
    public async Task SetSessionItemAsync(string key, string? value, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        await ControlAsync(ProtocolConstants.SessionSet, "$session", SessionId, ControlCodec.Encode(new SessionItemRequest(key, value)), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Closes this session in the store: it can never be resumed, and its ids never reused.</summary>
    public Task CloseSessionAsync(CancellationToken cancellationToken = default) =>
        ControlAsync(ProtocolConstants.SessionClose, "$session", SessionId, ReadOnlyMemory<byte>.Empty, cancellationToken);

    /// <summary>
    /// The outcome of <paramref name="requestId"/> sent to <paramref name="target"/>, decided by the component's owner:
    /// committed, with its recorded reply; or not committed, in which case the owner has written a durable fence and the
    /// request can never run later (a late retry of it gets the same "not committed" answer as an error). Use it after a
    /// crash or timeout to learn whether to send a new request.
    /// </summary>
    public async Task<RequestOutcome> GetOutcomeAsync(ComponentId target, string requestId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(requestId);
        var message = new InvokeMessage(target.Type, target.Key, "$outcome", requestId, SessionId, null, ReadOnlyMemory<byte>.Empty, InvokeFlags.Outcome);
        return ReplyMapping.ToOutcome(await SendAsync(message, cancellationToken).ConfigureAwait(false), message);
    }

    /// <summary>
    /// Sends <paramref name="method"/> with JSON-array <paramref name="args"/> to <paramref name="target"/> and returns the
    /// durable reply: a result, or the recorded component error (<see cref="ComponentReply.IsError"/>; rebuild it with
    /// <see cref="ReplyDecoder.ToException"/>). A null <paramref name="requestId"/> takes the next id of the session.
    /// </summary>
    public Task<ComponentReply> InvokeAsync(ComponentId target, string method, ReadOnlyMemory<byte> args, string? requestId = null, CancellationToken cancellationToken = default) =>
        InvokeAsync(new Invocation(target, requestId ?? NextRequestId(), method, args, SessionId), cancellationToken);

    /// <summary>
    /// Sends one invocation, retrying transport failures and Unavailable/Moved replies with the same request id. Throws
    /// <see cref="RequestIdReuseException"/> for an id already used for another call, <see cref="ArgumentException"/> for
    /// a request the silo calls malformed, <see cref="UnknownComponentException"/> for an unknown type or method,
    /// <see cref="TimeoutException"/> past <see cref="MiddlewareClientOptions.RequestTimeout"/> and
    /// <see cref="ClusterUnavailableException"/> when <see cref="MiddlewareClientOptions.MaxAttempts"/> ran out (both with
    /// the last cause), <see cref="OperationCanceledException"/> when <paramref name="cancellationToken"/> fires, and
    /// <see cref="ObjectDisposedException"/> when the client is disposed meanwhile.
    /// </summary>
    public async Task<ComponentReply> InvokeAsync(Invocation invocation, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(invocation);
        ArgumentException.ThrowIfNullOrEmpty(invocation.RequestId);
        var flags = _options.RouteToOwners ? InvokeFlags.PreferMoved : InvokeFlags.None;
        var message = new InvokeMessage(invocation.Target.Type, invocation.Target.Key, invocation.Method, invocation.RequestId, invocation.SessionId, invocation.Caller, invocation.Args, flags);
        if (ClientTelemetry.Observed) return await ObservedAsync(message, cancellationToken, invocation.Timeout).ConfigureAwait(false);
        if (Activity.Current is { IdFormat: ActivityIdFormat.W3C } ambient) message = message with { TraceParent = ambient.Id, TraceState = ambient.TraceStateString };
        return ReplyMapping.ToReply(await SendAsync(message, cancellationToken, invocation.Timeout).ConfigureAwait(false), message);
    }

    /// <summary>A call under its span (the trace context the Invoke carries), with its latency recorded.</summary>
    private async Task<ComponentReply> ObservedAsync(InvokeMessage message, CancellationToken cancellationToken, TimeSpan? timeout)
    {
        var start = Stopwatch.GetTimestamp();
        using var span = ClientTelemetry.Source.StartActivity(message.ComponentType + "." + message.Method, ActivityKind.Client);
        span?.SetTag("middleware.request_id", message.RequestId);
        span?.SetTag("middleware.component_id", message.ComponentType + "/" + message.Key);
        span?.SetTag("middleware.method", message.Method);
        if ((span ?? Activity.Current) is { IdFormat: ActivityIdFormat.W3C } context) message = message with { TraceParent = context.Id, TraceState = context.TraceStateString };
        var outcome = "failed";
        try
        {
            var reply = ReplyMapping.ToReply(await SendAsync(message, cancellationToken, timeout).ConfigureAwait(false), message);
            outcome = reply.IsError ? "error" : "ok";
            return reply;
        }
        catch (Exception e)
        {
            span?.SetStatus(ActivityStatusCode.Error, e.Message);
            throw;
        }
        finally
        {
            span?.SetTag("outcome", outcome);
            ClientTelemetry.RecordCall(start, message.ComponentType, message.Method, outcome);
        }
    }

    /// <summary>A cluster operation (<see cref="InvokeFlags.Control"/>) with JSON arguments; returns the Ok result.</summary>
    internal async Task<ReadOnlyMemory<byte>> ControlAsync(string operation, string type, string key, ReadOnlyMemory<byte> args, CancellationToken cancellationToken)
    {
        var message = new InvokeMessage(type, key, operation, "$control:" + Guid.NewGuid().ToString("N"), null, null, args, InvokeFlags.Control);
        var reply = await SendAsync(message, cancellationToken).ConfigureAwait(false);
        return reply.Status switch
        {
            ReplyStatus.Ok => reply.Result,
            ReplyStatus.BadRequest when reply.Condition == ReplyCondition.Unauthorized => throw new AccessDeniedException($"The cluster refused {operation} on {key} for this client: {reply.Detail}"),
            ReplyStatus.BadRequest => throw new InvalidOperationException($"The cluster refused {operation} on {key}: {reply.Detail}"),
            _ => throw new InvalidOperationException($"{operation} on {key} failed: {reply}"),
        };
    }

    /// <summary>
    /// Adds every live silo the cluster knows to the gateways (the configured ones stay), so the client keeps going when
    /// all the silos it was configured with die. Called at connect when <see cref="MiddlewareClientOptions.DiscoverGateways"/>.
    /// </summary>
    public async Task DiscoverGatewaysAsync(CancellationToken cancellationToken = default)
    {
        var result = await ControlAsync(ProtocolConstants.ClusterSilos, "$cluster", "", ReadOnlyMemory<byte>.Empty, cancellationToken).ConfigureAwait(false);
        var known = _gateways;
        var added = new List<PeerConnection>();
        foreach (var (_, address) in ControlCodec.DecodeSilos(result, ProtocolConstants.ClusterSilos))
        {
            if (known.Any(g => string.Equals(g.Address, address, StringComparison.OrdinalIgnoreCase))) continue;
            added.Add(_movedTargets.TryRemove(address, out var moved) ? moved : new PeerConnection(address, _connectionOptions));
        }

        if (added.Count > 0) _gateways = [.. known, .. added];
    }

    /// <summary>
    /// Closes every gateway connection. Calls in flight stop retrying and fail with <see cref="ObjectDisposedException"/>
    /// (or <see cref="OperationCanceledException"/> when their own token fired first); they may or may not have run, so a
    /// new client can resend them with the same request ids. Disposing never throws.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _disposing.CancelAsync().ConfigureAwait(false);
        foreach (var gateway in _gateways.Concat(_movedTargets.Values))
        {
            try
            {
                await gateway.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is ObjectDisposedException or IOException or System.Net.Sockets.SocketException or ConnectionLostException)
            {
                // A connection that was already going down: nothing to close any more.
            }
        }
    }
}
