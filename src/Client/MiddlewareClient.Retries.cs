using System.Diagnostics;
using System.Net.Sockets;
using Middleware.Core;
using Middleware.Protocol;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace Middleware.Client;

/// <summary>
/// One call's attempts: the retry pipeline (same request id every time), the choice of gateway per attempt, and the
/// deadline and last cause a failed call reports.
/// </summary>
public sealed partial class MiddlewareClient
{
    /// <summary>
    /// Sends one message through the retry pipeline (same request id on every attempt) until a final reply, the call's
    /// deadline (<see cref="MiddlewareClientOptions.RequestTimeout"/>), the caller's token, the attempt cap or disposal.
    /// The first attempt goes out directly (no pipeline, no cancellation source: its timeout is the connection's own
    /// sweep, set to <see cref="MiddlewareClientOptions.AttemptTimeout"/>); only a call whose first attempt did not end in a
    /// final reply enters the pipeline, which takes that first outcome as its own first attempt and retries from there.
    /// </summary>
    private async Task<ReplyMessage> SendAsync(InvokeMessage message, CancellationToken cancellationToken, TimeSpan? timeout = null)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var call = new CallState(this, message, cancellationToken) { Timeout = timeout ?? _options.RequestTimeout };
        if (!_directFirstAttempt || (timeout is { } given && given != Timeout.InfiniteTimeSpan && given < _directFirstAttemptMinimum))
            return await SendWithRetriesAsync(call, 0, cancellationToken).ConfigureAwait(false);
        var started = Stopwatch.GetTimestamp();
        try
        {
            // The attempt of AttemptAsync, awaited here when the connection and the session's proof are ready (the usual
            // case): one async method (and its box) per call instead of two (issue 18).
            var attempt = BeginAttempt(call);
            Task<MiddlewareConnection>? connecting = null;
            Task? proving = null;
            try
            {
                connecting = attempt.Gateway.GetAsync(cancellationToken);
                if (connecting.IsCompletedSuccessfully) proving = _proofs.EnsureAsync(connecting.Result, cancellationToken);
            }
            catch (Exception e)
            {
                AttemptFailed(call, attempt, e, sent: false);
                throw;
            }

            ReplyMessage reply;
            if (proving is { IsCompletedSuccessfully: true })
            {
                try
                {
                    reply = await connecting.Result.InvokeAsync(attempt.Message, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e)
                {
                    AttemptFailed(call, attempt, e, sent: true);
                    throw;
                }

                reply = AttemptEnded(call, attempt, reply);
            }
            else
            {
                reply = await AttemptCoreAsync(call, attempt, connecting, proving, cancellationToken).ConfigureAwait(false);
            }

            if (reply.Status is not (ReplyStatus.Unavailable or ReplyStatus.Moved)) return reply;
            call.FirstReply = reply;
        }
        catch (Exception e)
        {
            call.FirstFailure = e;
        }

        return await SendWithRetriesAsync(call, started, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The attempts after a first one that was not final (or every attempt, when the first cannot go out directly).</summary>
    private async Task<ReplyMessage> SendWithRetriesAsync(CallState call, long started, CancellationToken cancellationToken)
    {
        var message = call.Message;
        // The deadline bounds every call, with or without a caller's token; either one (or disposal) ends the retries.
        var timeout = call.Timeout;
        if (timeout != Timeout.InfiniteTimeSpan && started != 0)
            timeout = TimeSpan.FromTicks(Math.Max(TimeSpan.TicksPerMillisecond, (timeout - Stopwatch.GetElapsedTime(started)).Ticks));
        using var deadline = timeout == Timeout.InfiniteTimeSpan ? null : new CancellationTokenSource(timeout);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline?.Token ?? CancellationToken.None, _disposing.Token);
        call.CallToken = linked.Token;
        try
        {
            var reply = await _pipeline.ExecuteAsync(static (state, ct) => state.TakeFirst() ?? state.Client.AttemptAsync(state, ct), call, linked.Token).ConfigureAwait(false);
            if (reply.Status is not (ReplyStatus.Unavailable or ReplyStatus.Moved)) return reply;
            ClientTelemetry.Unavailable(_logger, message.RequestId, Describe(message), call.Attempts, call.LastCause ?? reply.ToString());
            throw new ClusterUnavailableException(message.RequestId, call.Attempts, call.LastCause ?? reply.ToString(), call.LastException);
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException && !cancellationToken.IsCancellationRequested)
        {
            if (Volatile.Read(ref _disposed) != 0)
            {
                throw new ObjectDisposedException(nameof(MiddlewareClient),
                    $"The client was disposed while request {message.RequestId} ({Describe(message)}) was in flight; it may or may not have run: resend it with the same request id from a new client.");
            }

            if (deadline is { IsCancellationRequested: true })
            {
                // Settle the id through the outcome protocol, as a component call's deadline does: the real reply if it
                // committed meanwhile, else a durable fence (it never runs) and CallTimeoutException. When the owner cannot
                // be reached within SettleTimeout either, the answer stays "may or may not have run".
                if (await TrySettleAsync(message, cancellationToken).ConfigureAwait(false) is { } settled)
                {
                    if (settled.Status == ReplyStatus.Error && settled.ErrorType == RequestOutcome.FencedErrorType)
                    {
                        throw new CallTimeoutException(
                            $"Request {message.RequestId} ({Describe(message)}) got no final answer within its deadline ({call.Timeout}); the client then settled it " +
                            "through the outcome protocol: it had not committed, and its id is now fenced, so it will never run. Send the operation again (a new " +
                            "request id) if it is still wanted, or give calls more time (MiddlewareClientOptions.RequestTimeout, or GetComponent<T>(key, timeout)).");
                    }

                    return settled;
                }

                ClientTelemetry.Unavailable(_logger, message.RequestId, Describe(message), call.Attempts, call.LastCause ?? "no final answer within the request timeout");
                throw new TimeoutException(
                    $"Request {message.RequestId} ({Describe(message)}) got no final answer within MiddlewareClientOptions.RequestTimeout ({_options.RequestTimeout}) " +
                    $"over {call.Attempts} attempt(s); last cause: {call.LastCause ?? "the first attempt had not ended"}. It may or may not have run: retry it with the same request id.",
                    call.LastException);
            }

            throw;
        }
        catch (Exception e) when (IsTransient(e))
        {
            ClientTelemetry.Unavailable(_logger, message.RequestId, Describe(message), call.Attempts, call.LastCause ?? Describe(e));
            throw new ClusterUnavailableException(message.RequestId, call.Attempts, call.LastCause ?? Describe(e), e);
        }
    }

    /// <summary>
    /// After a call's deadline: asks the component's owner for the call's outcome, for at most
    /// <see cref="MiddlewareClientOptions.SettleTimeout"/>. Returns the owner's answer (the recorded reply, or the fenced
    /// error), or null when it could not be had (settling off, an outcome or control message, the owner unreachable).
    /// </summary>
    private async Task<ReplyMessage?> TrySettleAsync(InvokeMessage message, CancellationToken cancellationToken)
    {
        if (_options.SettleTimeout <= TimeSpan.Zero || (message.Flags & (InvokeFlags.Outcome | InvokeFlags.Control)) != 0 || cancellationToken.IsCancellationRequested)
            return null;
        var query = new InvokeMessage(message.ComponentType, message.Key, "$outcome", message.RequestId, message.SessionId, null, ReadOnlyMemory<byte>.Empty, InvokeFlags.Outcome);
        try
        {
            ClientTelemetry.CountRetry("settle");
            return await SendWithRetriesAsync(new CallState(this, query, cancellationToken) { Timeout = _options.SettleTimeout }, 0, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is TimeoutException or ClusterUnavailableException && !cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    private ValueTask<ReplyMessage> AttemptAsync(CallState call, CancellationToken cancellationToken) =>
        AttemptCoreAsync(call, BeginAttempt(call), null, null, cancellationToken);

    /// <summary>
    /// One attempt after <see cref="BeginAttempt"/>: connects (unless <paramref name="connecting"/> is under way), proves
    /// the session (unless <paramref name="proving"/> is), sends, and keeps what the outcome says for the next attempt.
    /// </summary>
    private async ValueTask<ReplyMessage> AttemptCoreAsync(CallState call, Attempt attempt, Task<MiddlewareConnection>? connecting, Task? proving,
        CancellationToken cancellationToken)
    {
        ReplyMessage reply;
        var sent = false;
        try
        {
            var connection = await (connecting ?? attempt.Gateway.GetAsync(cancellationToken)).ConfigureAwait(false);
            await (proving ?? _proofs.EnsureAsync(connection, cancellationToken)).ConfigureAwait(false);
            sent = true;
            reply = await connection.InvokeAsync(attempt.Message, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            AttemptFailed(call, attempt, e, sent);
            throw;
        }

        return AttemptEnded(call, attempt, reply);
    }

    /// <summary>An attempt's gateway and message, chosen by <see cref="BeginAttempt"/>.</summary>
    private readonly record struct Attempt(PeerConnection Gateway, InvokeMessage Message, (string, string) Component, PeerConnection? CachedOwner, bool Routed);

    /// <summary>Chooses the attempt's gateway (a redirect's target, the known owner, or the next gateway) and counts it.</summary>
    private Attempt BeginAttempt(CallState call)
    {
        var message = call.Message;
        var routed = (message.Flags & InvokeFlags.PreferMoved) != 0;
        var component = (message.ComponentType, message.Key);
        PeerConnection? cachedOwner = null;
        var gateway = call.MovedTo
            ?? (routed && call.Attempts == 0 && _owners.TryGetValue(component, out cachedOwner) ? cachedOwner : null)
            ?? PickGateway(call);
        if (call.Attempts > 0)
        {
            var reason = call.MovedTo is not null ? "moved" : call.LastException is not null ? "transport" : "unavailable";
            ClientTelemetry.CountRetry(reason);
            ClientTelemetry.Retried(_logger, message.RequestId, Describe(message), call.Attempts, call.LastCause ?? reason);
        }

        call.MovedTo = null;
        call.LastGateway = gateway;
        // Only a first attempt asks for a redirect: a retry lets the gateway hold and forward it through a failover.
        if (routed && call.Attempts > 0) message = message with { Flags = message.Flags & ~InvokeFlags.PreferMoved };
        call.Attempts++;
        Interlocked.Increment(ref _attempts);
        return new Attempt(gateway, message, component, cachedOwner, routed);
    }

    /// <summary>What a failed attempt leaves for the next one and for the caller's error (the caller rethrows).</summary>
    private void AttemptFailed(CallState call, in Attempt attempt, Exception e, bool sent)
    {
        var gateway = attempt.Gateway;
        if (attempt.CachedOwner is { } cachedOwner) _owners.TryRemove(new KeyValuePair<(string, string), PeerConnection>(attempt.Component, cachedOwner));
        // What the caller is told if this was the last attempt. The per-attempt timeout cancels only this attempt's
        // token; the end of the whole call (deadline, caller, disposal) is not a cause and keeps the previous one.
        if (sent && e is TimeoutException)
        {
            // The connection's sweep (ConnectionOptions.RequestTimeout = AttemptTimeout) ended the attempt.
            call.LastCause = $"{gateway.Address}: no reply within MiddlewareClientOptions.AttemptTimeout ({_options.AttemptTimeout})";
            call.LastException = e;
        }
        else if (e is not OperationCanceledException)
        {
            call.LastCause = $"{gateway.Address}: {Describe(e)}";
            call.LastException = e;
        }
        else if (!call.CallToken.IsCancellationRequested)
        {
            call.LastCause = $"{gateway.Address}: no reply within MiddlewareClientOptions.AttemptTimeout ({_options.AttemptTimeout})";
        }
    }

    /// <summary>What an attempt's reply leaves for the next attempt: a redirect's target, or why the cluster was unavailable.</summary>
    private ReplyMessage AttemptEnded(CallState call, in Attempt attempt, ReplyMessage reply)
    {
        var gateway = attempt.Gateway;
        // A Moved reply names the owner: the retry goes there (immediately, see the delay generator) with the same id,
        // and so do later calls to the component until the owner fails or moves.
        if (reply.Status == ReplyStatus.Moved && !string.IsNullOrEmpty(reply.Detail))
        {
            call.LastCause = $"{gateway.Address}: the component moved to {reply.Detail}";
            call.MovedTo = GatewayFor(reply.Detail);
            if (attempt.Routed)
            {
                if (_owners.Count > 100_000) _owners.Clear();
                _owners[attempt.Component] = call.MovedTo;
            }
        }
        else if (reply.Status == ReplyStatus.Unavailable)
        {
            call.LastCause = $"{gateway.Address}: unavailable: {reply.Detail}";
            if (attempt.CachedOwner is { } cachedOwner) _owners.TryRemove(new KeyValuePair<(string, string), PeerConnection>(attempt.Component, cachedOwner));
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

    /// <summary>
    /// Capped exponential backoff with jitter (<see cref="MiddlewareClientOptions.RetryBaseDelay"/> doubling up to
    /// <see cref="MiddlewareClientOptions.RetryMaxDelay"/>) for as long as the call's deadline allows, or at most
    /// <see cref="MiddlewareClientOptions.MaxAttempts"/> attempts when set; each attempt bounded by AttemptTimeout.
    /// </summary>
    private static ResiliencePipeline<ReplyMessage> BuildPipeline(MiddlewareClientOptions options)
    {
        var builder = new ResiliencePipelineBuilder<ReplyMessage>();
        var retries = options.MaxAttempts is { } max ? max - 1 : int.MaxValue;
        if (retries > 0)
        {
            builder.AddRetry(new RetryStrategyOptions<ReplyMessage>
            {
                MaxRetryAttempts = retries,
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
                // A redirect is not a failure of the cluster: follow it at once instead of backing off. Neither is the first
                // lost or refused connection (a gateway or owner process died): the retry goes to another gateway, which
                // holds it through the failover, so waiting first would only add the backoff to the client's pause.
                DelayGenerator = args => ValueTask.FromResult(
                    args.Outcome.Result?.Status == ReplyStatus.Moved || (args.AttemptNumber == 0 && IsConnectionFailure(args.Outcome.Exception))
                        ? TimeSpan.Zero
                        : (TimeSpan?)null),
            });
        }

        return builder.AddTimeout(options.AttemptTimeout).Build();
    }

    /// <summary>
    /// Failures after which the request may be resent with the same id: the connection dropped or could not be made,
    /// or an attempt ran out of time. Handshake refusals, oversized frames and cancellation are not among them.
    /// </summary>
    private static bool IsTransient(Exception e) =>
        e is ConnectionLostException or SocketException or TimeoutException or TimeoutRejectedException or IOException or Core.RequestNotAcknowledgedException;

    /// <summary>The connection to the gateway was lost or could not be made (not a timeout: a slow cluster is left to back off).</summary>
    private static bool IsConnectionFailure(Exception? e) => e is ConnectionLostException or SocketException or IOException;

    private static string Describe(Exception e) => e switch
    {
        TimeoutRejectedException => "the last attempt timed out (MiddlewareClientOptions.AttemptTimeout)",
        _ => e.Message,
    };

    private static string Describe(InvokeMessage message) => $"{message.ComponentType}/{message.Key}.{message.Method}";

    private sealed class CallState(MiddlewareClient client, InvokeMessage message, CancellationToken callToken)
    {
        public MiddlewareClient Client { get; } = client;

        public InvokeMessage Message { get; } = message;

        /// <summary>The call's deadline: the per-call timeout, else <see cref="MiddlewareClientOptions.RequestTimeout"/>.</summary>
        public TimeSpan Timeout { get; init; } = client._options.RequestTimeout;

        /// <summary>The whole call's token (deadline, caller, disposal); an attempt's own token also has the attempt timeout.</summary>
        public CancellationToken CallToken { get; set; } = callToken;

        /// <summary>The outcome of a first attempt sent directly, which the pipeline takes as its first attempt.</summary>
        public ReplyMessage? FirstReply { get; set; }

        /// <summary>
        /// How a first attempt sent directly failed. Kept as the exception, not a faulted task: the pipeline may end (the
        /// call's token canceled) without taking it, and a faulted task nobody awaited would surface as unobserved.
        /// </summary>
        public Exception? FirstFailure { get; set; }

        public ValueTask<ReplyMessage>? TakeFirst()
        {
            ValueTask<ReplyMessage>? first = FirstReply is { } reply ? ValueTask.FromResult(reply)
                : FirstFailure is { } failure ? ValueTask.FromException<ReplyMessage>(failure)
                : null;
            FirstReply = null;
            FirstFailure = null;
            return first;
        }

        public int Attempts { get; set; }

        public PeerConnection? MovedTo { get; set; }

        public PeerConnection? LastGateway { get; set; }

        /// <summary>Why the latest attempt failed (a reply's detail or an exception's message), for the caller's error.</summary>
        public string? LastCause { get; set; }

        public Exception? LastException { get; set; }
    }
}
