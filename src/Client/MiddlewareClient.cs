using System.Collections.Concurrent;
using System.Net.Sockets;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Protocol;
using Middleware.Protocol.Control;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace Middleware.Client;

/// <summary>
/// The application's entry to a cluster: typed component proxies and untyped invokes over the binary protocol, with
/// one shared connection per gateway and retries that always resend the same request id (the silos run each request
/// id once, so a retry after a lost reply returns the first outcome instead of running the request again).
/// </summary>
public sealed class MiddlewareClient : IAsyncDisposable
{
    private readonly MiddlewareClientOptions _options;
    private readonly ConnectionOptions _connectionOptions;
    private volatile PeerConnection[] _gateways;
    private readonly ConcurrentDictionary<string, PeerConnection> _movedTargets = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<(string Type, string Key), PeerConnection> _owners = new();
    private readonly ResiliencePipeline<ReplyMessage> _pipeline;
    private readonly SessionIds _ids;
    private long _nextGateway;
    private long _attempts;

    private MiddlewareClient(MiddlewareClientOptions options, IReadOnlyList<string> gateways)
    {
        _options = options;
        SessionId = options.SessionId ?? "";
        _connectionOptions = new ConnectionOptions
        {
            SenderId = options.ClientName,
            Role = PeerRole.Client,
            ClusterKey = options.ClusterKey,
            ConnectTimeout = options.ConnectTimeout,
            HandshakeTimeout = options.ConnectTimeout,
            // Per-attempt deadlines come from the pipeline's timeout; the connection's own sweep is only a backstop.
            RequestTimeout = options.AttemptTimeout + TimeSpan.FromSeconds(1),
        };
        _gateways = gateways.Select(g => new PeerConnection(g, _connectionOptions)).ToArray();
        _pipeline = BuildPipeline(options);
        _ids = new SessionIds(this);
    }

    /// <summary>
    /// The virtual session whose request ids this client issues (<c>SessionId:n</c>). It lives in the cluster's store:
    /// save it and pass it as <see cref="MiddlewareClientOptions.SessionId"/> to continue the same session after this
    /// process restarts; the numbers it was given are never handed out again.
    /// </summary>
    public string SessionId { get; private set; }

    internal void SetSession(string sessionId) => SessionId = sessionId;

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
                    $"The gateway {gateway.Address} refused this client: {e.Reason}. Check MiddlewareClientOptions.ClusterKey and that client and silo run the same protocol version.", e);
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
    /// with that id. Calls are bounded by <see cref="MiddlewareClientOptions.RequestTimeout"/>. Component exceptions
    /// arrive as the component's own exception type when this process has it.
    /// </summary>
    public T GetComponent<T>(string key)
        where T : IRecoverableComponent =>
        ComponentProxy.Create<T>(inv => InvokeAsync(inv, CancellationToken.None), key, NextRequestId, SessionId);

    /// <summary>
    /// A typed proxy whose calls all use <paramref name="requestId"/>: one request, which a later process can resend (for
    /// example after a crash) and get its single outcome.
    /// </summary>
    public T Call<T>(string key, string requestId)
        where T : IRecoverableComponent
    {
        ArgumentException.ThrowIfNullOrEmpty(requestId);
        return ComponentProxy.Create<T>(inv => InvokeAsync(inv, CancellationToken.None), key, () => requestId, SessionId);
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
    /// <see cref="ArgumentException"/> for a request the silo calls malformed, <see cref="UnknownComponentException"/>
    /// for an unknown type or method, <see cref="ClusterUnavailableException"/> when retries run out,
    /// <see cref="TimeoutException"/> past <see cref="MiddlewareClientOptions.RequestTimeout"/> (only when
    /// <paramref name="cancellationToken"/> cannot be canceled), and <see cref="OperationCanceledException"/> on cancellation.
    /// </summary>
    public async Task<ComponentReply> InvokeAsync(Invocation invocation, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(invocation);
        ArgumentException.ThrowIfNullOrEmpty(invocation.RequestId);
        var flags = _options.RouteToOwners ? InvokeFlags.PreferMoved : InvokeFlags.None;
        var message = new InvokeMessage(invocation.Target.Type, invocation.Target.Key, invocation.Method, invocation.RequestId, invocation.SessionId, invocation.Caller, invocation.Args, flags);
        return ReplyMapping.ToReply(await SendAsync(message, cancellationToken).ConfigureAwait(false), message);
    }

    /// <summary>
    /// Sends one message through the retry pipeline (same request id on every attempt) and returns the last reply, which
    /// may still be Unavailable or Moved when retries ran out.
    /// </summary>
    private async Task<ReplyMessage> SendAsync(InvokeMessage message, CancellationToken cancellationToken)
    {
        // The caller's token rules when it can fire; otherwise the client's default deadline bounds the call.
        using var deadline = !cancellationToken.CanBeCanceled && _options.RequestTimeout != Timeout.InfiniteTimeSpan
            ? new CancellationTokenSource(_options.RequestTimeout)
            : null;
        var token = deadline?.Token ?? cancellationToken;
        var call = new CallState(this, message);
        try
        {
            var reply = await _pipeline.ExecuteAsync(static (state, ct) => state.Client.AttemptAsync(state, ct), call, token).ConfigureAwait(false);
            return reply.Status is ReplyStatus.Unavailable or ReplyStatus.Moved
                ? throw new ClusterUnavailableException(message.RequestId, call.Attempts, reply.Status == ReplyStatus.Moved ? "the component kept moving, last to " + reply.Detail : "the silo is unavailable: " + reply.Detail)
                : reply;
        }
        catch (OperationCanceledException) when (deadline is { IsCancellationRequested: true })
        {
            throw new TimeoutException($"Request {message.RequestId} ({message.ComponentType}/{message.Key}.{message.Method}) took longer than MiddlewareClientOptions.RequestTimeout ({_options.RequestTimeout}) over {call.Attempts} attempt(s); it may or may not have run, retry it with the same request id.");
        }
        catch (Exception e) when (IsTransient(e))
        {
            throw new ClusterUnavailableException(message.RequestId, call.Attempts, Describe(e), e);
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

    /// <summary>Closes every gateway connection; calls in flight fail.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var gateway in _gateways.Concat(_movedTargets.Values)) await gateway.DisposeAsync().ConfigureAwait(false);
    }

    private async ValueTask<ReplyMessage> AttemptAsync(CallState call, CancellationToken cancellationToken)
    {
        var message = call.Message;
        var routed = (message.Flags & InvokeFlags.PreferMoved) != 0;
        var component = (message.ComponentType, message.Key);
        PeerConnection? cachedOwner = null;
        var gateway = call.MovedTo
            ?? (routed && call.Attempts == 0 && _owners.TryGetValue(component, out cachedOwner) ? cachedOwner : null)
            ?? PickGateway(call);
        call.MovedTo = null;
        call.LastGateway = gateway;
        // Only a first attempt asks for a redirect: a retry lets the gateway hold and forward it through a failover.
        if (routed && call.Attempts > 0) message = message with { Flags = message.Flags & ~InvokeFlags.PreferMoved };
        call.Attempts++;
        Interlocked.Increment(ref _attempts);
        ReplyMessage reply;
        try
        {
            var connection = await gateway.GetAsync(cancellationToken).ConfigureAwait(false);
            reply = await connection.InvokeAsync(message, cancellationToken).ConfigureAwait(false);
        }
        catch when (cachedOwner is not null)
        {
            _owners.TryRemove(new KeyValuePair<(string, string), PeerConnection>(component, cachedOwner));
            throw;
        }

        // A Moved reply names the owner: the retry goes there (immediately, see the delay generator) with the same id,
        // and so do later calls to the component until the owner fails or moves.
        if (reply.Status == ReplyStatus.Moved && !string.IsNullOrEmpty(reply.Detail))
        {
            call.MovedTo = GatewayFor(reply.Detail);
            if (routed)
            {
                if (_owners.Count > 100_000) _owners.Clear();
                _owners[component] = call.MovedTo;
            }
        }
        else if (reply.Status == ReplyStatus.Unavailable && cachedOwner is not null)
        {
            _owners.TryRemove(new KeyValuePair<(string, string), PeerConnection>(component, cachedOwner));
        }

        return reply;
    }

    /// <summary>Round-robin over the gateways, preferring one whose connection is up; a retry starts past the last one tried.</summary>
    private PeerConnection PickGateway(CallState call)
    {
        var gateways = _gateways;
        var start = call.LastGateway is null
            ? (int)(Interlocked.Increment(ref _nextGateway) % gateways.Length)
            : Array.IndexOf(gateways, call.LastGateway) + 1;
        for (var i = 0; i < gateways.Length; i++)
        {
            var candidate = gateways[(start + i) % gateways.Length];
            if (candidate.IsHealthy && candidate != call.LastGateway) return candidate;
        }

        return gateways[(start % gateways.Length + gateways.Length) % gateways.Length];
    }

    private PeerConnection GatewayFor(string address)
    {
        foreach (var gateway in _gateways)
        {
            if (string.Equals(gateway.Address, address, StringComparison.OrdinalIgnoreCase)) return gateway;
        }

        MiddlewareClientOptions.ParseGateway(address);
        return _movedTargets.GetOrAdd(address, a => new PeerConnection(a, _connectionOptions));
    }

    private static ResiliencePipeline<ReplyMessage> BuildPipeline(MiddlewareClientOptions options)
    {
        var builder = new ResiliencePipelineBuilder<ReplyMessage>();
        if (options.MaxAttempts > 1)
        {
            builder.AddRetry(new RetryStrategyOptions<ReplyMessage>
            {
                MaxRetryAttempts = options.MaxAttempts - 1,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = options.RetryBaseDelay,
                MaxDelay = options.RetryMaxDelay,
                ShouldHandle = args => ValueTask.FromResult(args.Outcome switch
                {
                    { Exception: { } e } => IsTransient(e),
                    { Result: { } r } => r.Status is ReplyStatus.Unavailable or ReplyStatus.Moved,
                    _ => false,
                }),
                // A redirect is not a failure of the cluster: follow it at once instead of backing off.
                DelayGenerator = args => ValueTask.FromResult(args.Outcome.Result?.Status == ReplyStatus.Moved ? TimeSpan.Zero : (TimeSpan?)null),
            });
        }

        return builder.AddTimeout(options.AttemptTimeout).Build();
    }

    /// <summary>
    /// Failures after which the request may be resent with the same id: the connection dropped or could not be made,
    /// or an attempt ran out of time. Handshake refusals, oversized frames and cancellation are not among them.
    /// </summary>
    private static bool IsTransient(Exception e) =>
        e is ConnectionLostException or SocketException or TimeoutException or TimeoutRejectedException or IOException;

    private static string Describe(Exception e) => e switch
    {
        TimeoutRejectedException => "the last attempt timed out (MiddlewareClientOptions.AttemptTimeout)",
        _ => e.Message,
    };

    private sealed class CallState(MiddlewareClient client, InvokeMessage message)
    {
        public MiddlewareClient Client { get; } = client;

        public InvokeMessage Message { get; } = message;

        public int Attempts { get; set; }

        public PeerConnection? MovedTo { get; set; }

        public PeerConnection? LastGateway { get; set; }
    }
}
