using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Protocol;
using Middleware.Protocol.Control;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;

namespace Middleware.Silo;

/// <summary>
/// Makes any silo a gateway: for each request it asks <see cref="OwnerLocator"/> where the component lives (a live local
/// activation, the <see cref="DirectoryCache"/>, the store's head, else rendezvous placement), then serves it here or
/// hands it to the <see cref="Forwarder"/>. A forwarded request carries <see cref="InvokeFlags.Forwarded"/>; its
/// receiver serves it or answers Moved, never forwards again. Failures that leave the request unacknowledged (owner
/// unreachable, fenced activation, owner not yet declared dead, a turn of the component in doubt) are retried here
/// with the same request id until <see cref="RouteTimeout"/>, so a silo's death costs the caller a pause, not an error.
/// Control operations are answered by <see cref="SessionOperations"/>, <see cref="MoveOperation"/> and the silo list
/// here. The same router carries component-to-component calls made inside turns.
/// </summary>
public sealed class ClusterRouter : IOrderedLocalCaller, IAsyncDisposable
{
    private readonly SiloOptions _options;
    private readonly TimeProvider _time;
    private readonly DirectoryCache _directory = new();
    private readonly OwnerLocator _locator;
    private readonly Forwarder _forwarder;
    private readonly MoveOperation _move;
    private LocalRuntime? _runtime;
    private ILogStore? _store;
    private IClusterStore? _cluster;
    private SessionOperations? _sessions;
    private ClusterMembership? _membership;
    private long _forwarded;
    private long _served;
    private long _reroutes;

    /// <summary>A router for the silo described by <paramref name="options"/>; <see cref="Attach"/> it once the runtime exists.</summary>
    public ClusterRouter(SiloOptions options, ILogger logger, TimeProvider? time = null)
    {
        _options = options;
        _time = time ?? TimeProvider.System;
        _locator = new OwnerLocator(_directory);
        _move = new MoveOperation(options, _directory, logger, SendWarmAsync, SendPrepareAsync);
        _forwarder = new Forwarder(new ConnectionOptions
        {
            SenderId = options.SiloId,
            Role = PeerRole.Silo,
            Key = options.EffectiveSiloKey,
            ConnectTimeout = TimeSpan.FromSeconds(2),
            HandshakeTimeout = TimeSpan.FromSeconds(2),
            RequestTimeout = RouteTimeout + TimeSpan.FromSeconds(5),
            Tls = options.LoadedTls?.Peers,
        }, options, _time);
    }

    /// <summary>Mirroring and fast failover of this silo, once started (null: requests for it are refused).</summary>
    public MirrorService? Mirroring { get; set; }

    /// <summary>The connection to another silo (shared with forwarding).</summary>
    public Task<MiddlewareConnection> ConnectAsync(string address, CancellationToken cancellationToken) => _forwarder.ConnectAsync(address, cancellationToken);

    /// <summary>How long a request may wait here for its component to become reachable (owner declared dead, moved).</summary>
    public TimeSpan RouteTimeout => _options.DeadAfter + TimeSpan.FromSeconds(4);

    /// <summary>Requests served by this silo's runtime / forwarded to another silo / re-routed after a failed attempt.</summary>
    public (long Served, long Forwarded, long Reroutes) Stats => (Interlocked.Read(ref _served), Interlocked.Read(ref _forwarded), Interlocked.Read(ref _reroutes));

    /// <summary>The graceful handover of <c>mw move</c>, shared with the <see cref="Rebalancer"/>.</summary>
    internal MoveOperation Move => _move;

    /// <summary>The routing directory (the rebalancer points moved components at their new owner).</summary>
    internal DirectoryCache Directory => _directory;

    /// <summary>Binds the router to the silo's runtime, store and membership (called once at start).</summary>
    public void Attach(LocalRuntime runtime, ILogStore store, IClusterStore cluster)
    {
        _runtime = runtime;
        _store = store;
        _cluster = cluster;
        _sessions = new SessionOperations(cluster);
    }

    /// <summary>Unbinds the runtime at shutdown: later requests are answered Unavailable.</summary>
    public void Detach() => _runtime = null;

    /// <summary>Starts routing with <paramref name="membership"/> once the silo joined.</summary>
    public void UseMembership(ClusterMembership membership)
    {
        _membership = membership;
        membership.SilosGone += _ => _directory.Clear();
    }

    /// <summary>
    /// Component-to-component calls from turns of this silo's activations. A call to a live activation here (no handover
    /// pending) goes straight into the runtime: no <see cref="InvokeMessage"/>, no <see cref="ReplyMessage"/> and back,
    /// the callee's reply object as it is (an error reply, and any exception, still pass the protocol's mapping, so the
    /// caller sees exactly what the routed path gives). A not-acknowledged attempt is routed again as
    /// <see cref="RouteAsync(InvokeMessage, Transport.PeerContext?, CancellationToken)"/> would.
    /// </summary>
    public Task<ComponentReply> InvokeAsync(Invocation invocation, CancellationToken cancellationToken)
    {
        if (_runtime is { } runtime && _store is not null && _cluster is not null && _sessions is not null && !_move.AnyPending && runtime.IsActive(invocation.Target))
        {
            Interlocked.Increment(ref _served);
            Task<ComponentReply> call;
            try
            {
                call = runtime.InvokeAsync(invocation, cancellationToken);
            }
            catch (Exception e)
            {
                call = Task.FromException<ComponentReply>(e);
            }

            return call.IsCompletedSuccessfully && !call.Result.IsError ? call : InvokeLiveAsync(invocation, call, cancellationToken);
        }

        return InvokeRoutedAsync(invocation, cancellationToken);
    }

    /// <summary>The rest of <see cref="InvokeAsync"/>'s local path: waits for the reply and maps what is not a plain result.</summary>
    private async Task<ComponentReply> InvokeLiveAsync(Invocation invocation, Task<ComponentReply> call, CancellationToken cancellationToken)
    {
        ReplyMessage reply;
        try
        {
            var result = await call.ConfigureAwait(false);
            if (!result.IsError) return result;
            reply = ReplyMapping.ToMessage(result);
        }
        catch (Exception e) when (e is ComponentOwnedElsewhereException or TurnNotDurableException)
        {
            // Not acknowledged: routed again, the owner looked up afresh (as the frame handler's fast path does). Not before
            // the calling turn's partial record is durable (IOrderedLocalCaller): a routed call may leave the process.
            await LocalRuntime.WhenCallerDurableAsync(invocation).ConfigureAwait(false);
            var message = MessageOf(invocation);
            return Final(await RerouteAsync(message, cancellationToken).ConfigureAwait(false), message, invocation);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            reply = ReplyMapping.ToMessage(e);
        }

        return Final(reply, MessageOf(invocation), invocation);
    }

    private async Task<ComponentReply> InvokeRoutedAsync(Invocation invocation, CancellationToken cancellationToken)
    {
        // A routed call may be forwarded, or served here by a new invocation: either way not before the calling turn's
        // partial record is durable (IOrderedLocalCaller; only the live path above hands the record on).
        await LocalRuntime.WhenCallerDurableAsync(invocation).ConfigureAwait(false);
        var message = MessageOf(invocation);
        return Final(await RouteAsync(message, cancellationToken).ConfigureAwait(false), message, invocation);
    }

    private static InvokeMessage MessageOf(Invocation invocation) =>
        SiloTelemetry.WithTraceContext(new InvokeMessage(invocation.Target.Type, invocation.Target.Key, invocation.Method, invocation.RequestId, invocation.SessionId, invocation.Caller, invocation.Args));

    private static ComponentReply Final(ReplyMessage reply, InvokeMessage message, Invocation invocation) =>
        reply.Status is ReplyStatus.Moved or ReplyStatus.Unavailable
            ? throw new ClusterRouteException($"the call to {invocation.Target}.{invocation.Method} (request {invocation.RequestId}) could not be delivered: {reply}")
            : ReplyMapping.ToReply(reply, message);

    /// <summary>
    /// The outcome protocol for a call of a turn here that passed its deadline or broke a deadlock: routed to the callee's
    /// owner, which answers committed (with the reply) or fences the id. Throws when the owner cannot be reached.
    /// </summary>
    public async Task<RequestOutcome> GetOutcomeAsync(ComponentId target, string requestId, CancellationToken cancellationToken)
    {
        var message = new InvokeMessage(target.Type, target.Key, "$outcome", requestId, null, null, ReadOnlyMemory<byte>.Empty, InvokeFlags.Outcome);
        var reply = await RouteAsync(message, cancellationToken).ConfigureAwait(false);
        return reply.Status is ReplyStatus.Moved or ReplyStatus.Unavailable
            ? throw new ClusterRouteException($"the outcome of request {requestId} on {target} could not be learnt: {reply}")
            : ReplyMapping.ToOutcome(reply, message);
    }

    /// <summary>A deadlock probe (see <see cref="ProtocolConstants.DeadlockProbe"/>) sent to the owner of <paramref name="component"/>.</summary>
    public async Task<IReadOnlyList<WaitEdge>> ProbeAsync(ComponentId component, IReadOnlyList<string> path, CancellationToken cancellationToken)
    {
        var message = new InvokeMessage(component.Type, component.Key, ProtocolConstants.DeadlockProbe, "$probe", null, null, WaitForCodec.EncodeVisited(path), InvokeFlags.Control);
        var reply = await RouteAsync(message, cancellationToken).ConfigureAwait(false);
        return reply.Status == ReplyStatus.Ok ? WaitForCodec.DecodeEdges(reply.Result) : [];
    }

    /// <summary>Routes one request (see the class summary) and returns its reply.</summary>
    public Task<ReplyMessage> RouteAsync(InvokeMessage request, CancellationToken cancellationToken) => RouteAsync(request, null, cancellationToken);

    /// <summary>
    /// Routes one request from <paramref name="peer"/> (null: from inside this silo) and returns its reply. Session
    /// operations remember on the peer's connection the sessions it proves; the caller authorized everything else
    /// (<see cref="RequestAuthorizer"/>).
    /// </summary>
    public async Task<ReplyMessage> RouteAsync(InvokeMessage request, Transport.PeerContext? peer, CancellationToken cancellationToken)
    {
        if (_runtime is not { } runtime || _store is not { } store || _cluster is null || _sessions is null)
            return ReplyMessage.Unavailable($"silo {_options.SiloId} is not running (starting or shutting down); retry with the same request id");
        if ((request.Flags & InvokeFlags.Control) != 0 && SessionOperations.Handles(request.Method))
            return await _sessions.HandleAsync(request, peer, cancellationToken).ConfigureAwait(false);
        if ((request.Flags & InvokeFlags.Control) != 0 && request.Method is ProtocolConstants.MirrorShip or ProtocolConstants.MirrorList)
        {
            if (Mirroring is not { } mirroring) return ReplyMessage.Unavailable($"silo {_options.SiloId} has not joined the cluster yet; retry");
            return request.Method == ProtocolConstants.MirrorShip
                ? await mirroring.ShipAsync(request, cancellationToken).ConfigureAwait(false)
                : mirroring.List(request);
        }

        if ((request.Flags & InvokeFlags.Control) != 0 && request.Method == ProtocolConstants.ClusterSilos)
            return ReplyMessage.Ok(ControlCodec.Encode(_membership?.Live.Select(s => new SiloAddress(s.SiloId, s.Address)).ToList() ?? []));
        if ((request.Flags & InvokeFlags.Control) != 0 && request.Method == ProtocolConstants.MoveWarm)
            return await WarmAsync(runtime, request, cancellationToken).ConfigureAwait(false);

        ComponentId target;
        try
        {
            target = new ComponentId(request.ComponentType, request.Key);
            // An unknown type is refused here rather than forwarded; a live local activation proves the type already.
            if (!runtime.IsActive(target)) runtime.Registry.Get(target.Type);
        }
        catch (Exception e)
        {
            return ReplyMapping.ToMessage(e);
        }

        // A deadlock probe or an outcome query for a component live here is answered here even while a handover of it
        // runs: the handover waits for the component's turn in progress, and that turn may be the one waiting on this
        // answer (a deadlock whose victim must be chosen, a call whose id must be settled), so waiting for the handover
        // would keep the deadlock until the call deadline. A probe reads wait-for edges only; an outcome query is decided
        // by the activation (aside from a turn parked in a call). Anything else (it stopped serving meanwhile) takes the
        // general path below.
        if ((request.Flags & InvokeFlags.Outcome) != 0 || ((request.Flags & InvokeFlags.Control) != 0 && request.Method == ProtocolConstants.DeadlockProbe))
        {
            if (runtime.IsActive(target) && await ServeLocallyAsync(runtime, target, request, cancellationToken).ConfigureAwait(false) is { Reply: { } here })
                return here;
        }

        // The common case, a live activation here: one call into the runtime, no owner lookup, no id text. Anything but a
        // reply (the activation broke, was fenced or moved meanwhile) takes the general path below with the same request.
        // While a handover runs here (mw move, rebalancing) every request takes the general path, which waits for it.
        if ((request.Flags & (InvokeFlags.Control | InvokeFlags.Outcome)) == 0 && !_move.AnyPending && runtime.IsActive(target))
        {
            Interlocked.Increment(ref _served);
            try
            {
                var invocation = new Invocation(target, request.RequestId, request.Method, request.Args, request.SessionId, request.Caller);
                return ReplyMapping.ToMessage(await runtime.InvokeAsync(invocation, cancellationToken).ConfigureAwait(false));
            }
            catch (Exception e) when (e is ComponentOwnedElsewhereException or TurnNotDurableException)
            {
                // Not acknowledged: route it again, as a failed local attempt would be (the owner is looked up afresh).
                Interlocked.Increment(ref _reroutes);
                _directory.Forget(target.ToString());
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                return ReplyMapping.ToMessage(e);
            }
        }

        return await RouteToOwnerAsync(runtime, store, target, request, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// <see cref="ProtocolConstants.MoveWarm"/>, at a component's new owner: activates it now (the usual claim, which
    /// arbitrates; a live owner elsewhere is answered Moved). The old owner just handed it over, so a directory entry
    /// here that still names the old owner is dropped first.
    /// </summary>
    private async Task<ReplyMessage> WarmAsync(LocalRuntime runtime, InvokeMessage request, CancellationToken cancellationToken)
    {
        try
        {
            var target = new ComponentId(request.ComponentType, request.Key);
            _directory.Forget(target.ToString());
            var start = MoveTrace.On ? System.Diagnostics.Stopwatch.GetTimestamp() : 0;
            var wasActive = MoveTrace.On && runtime.IsActive(target);
            await runtime.ActivateAsync(target, cancellationToken).ConfigureAwait(false);
            if (MoveTrace.On) MoveTrace.Write(start, "receiver-warm", target.ToString(), $"ms={MoveTrace.F(MoveTrace.Ms(start))} wasActive={wasActive}");
            return ReplyMessage.Ok(ReadOnlyMemory<byte>.Empty);
        }
        catch (ComponentOwnedElsewhereException e)
        {
            return ReplyMessage.Moved(e.OwnerAddress ?? _membership?.Find(e.Owner)?.Address ?? "");
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return ReplyMapping.ToMessage(e);
        }
    }

    /// <summary>Sends <see cref="ProtocolConstants.MoveWarm"/> for <paramref name="target"/> to the silo at <paramref name="address"/>; true when it activated it.</summary>
    private async Task<bool> SendWarmAsync(string address, ComponentId target, CancellationToken cancellationToken)
    {
        var message = new InvokeMessage(target.Type, target.Key, ProtocolConstants.MoveWarm, "$warm", null, null, ReadOnlyMemory<byte>.Empty, InvokeFlags.Control | InvokeFlags.Forwarded);
        var reply = await _forwarder.ForwardAsync(address, message, _membership, cancellationToken).ConfigureAwait(false);
        return reply?.Status == ReplyStatus.Ok;
    }

    /// <summary>
    /// The round trip to a silo before the first handover to it (<see cref="MoveOperation.PrepareAsync"/>): its silo list,
    /// over the connection later handovers and forwards use. True when it answered.
    /// </summary>
    private async Task<bool> SendPrepareAsync(string address, CancellationToken cancellationToken)
    {
        var message = new InvokeMessage("$cluster", "", ProtocolConstants.ClusterSilos, "$prepare", null, null, ReadOnlyMemory<byte>.Empty, InvokeFlags.Control | InvokeFlags.Forwarded);
        var reply = await _forwarder.ForwardAsync(address, message, _membership, cancellationToken).ConfigureAwait(false);
        return reply?.Status == ReplyStatus.Ok;
    }

    /// <summary>
    /// The frame handler's fast path (<see cref="RuntimeFrameHandler"/>): the runtime's reply task for a request to a live
    /// activation here, exactly what <see cref="RouteAsync(InvokeMessage, Transport.PeerContext?, CancellationToken)"/>
    /// would await on its own fast path, or null when the request needs the general path (not running, a control or
    /// outcome request, a handover pending here, an invalid id, no live activation). The caller maps the reply, and a
    /// not-acknowledged failure (<see cref="ComponentOwnedElsewhereException"/>, <see cref="TurnNotDurableException"/>)
    /// goes to <see cref="RerouteAsync"/>, as the fast path of <c>RouteAsync</c> does; so the request passes one async
    /// method of the silo's instead of three.
    /// <para>
    /// On the only live silo of the cluster a request for a component of a known type that is not live here takes the same
    /// way: the general path would place it here without a read (<see cref="OwnerLocator.ServesEverything"/>) and serve it
    /// with the same runtime call, after four more async methods (route, locate, serve, and the handler's own). The
    /// activation's claim still arbitrates; a claim refused by a live owner elsewhere goes to <see cref="RerouteAsync"/>.
    /// </para>
    /// </summary>
    internal Task<ComponentReply>? TryServeLive(InvokeMessage request, CancellationToken cancellationToken)
    {
        if (_runtime is not { } runtime || _store is null || _cluster is null || _sessions is null) return null;
        if ((request.Flags & (InvokeFlags.Control | InvokeFlags.Outcome)) != 0 || _move.AnyPending) return null;
        if (string.IsNullOrWhiteSpace(request.ComponentType) || request.ComponentType.Contains('/') || string.IsNullOrEmpty(request.Key)) return null;
        var target = new ComponentId(request.ComponentType, request.Key);
        // Cold here: served at once only where the general path could not place it elsewhere (an unknown type is refused
        // there, with the same reply).
        if (!runtime.IsActive(target) && !(OwnerLocator.ServesEverything(_membership) && runtime.Registry.TryGet(target.Type, out _))) return null;
        Interlocked.Increment(ref _served);
        var call = runtime.InvokeAsync(new Invocation(target, request.RequestId, request.Method, request.Args, request.SessionId, request.Caller), cancellationToken);
        return MoveTrace.On ? TracedLiveAsync(call, target, request.RequestId) : call;
    }

    /// <summary>A fast-path request in the <see cref="MoveTrace"/> when it took over 50 ms.</summary>
    private static async Task<ComponentReply> TracedLiveAsync(Task<ComponentReply> call, ComponentId target, string requestId)
    {
        var start = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            return await call.ConfigureAwait(false);
        }
        finally
        {
            var ms = MoveTrace.Ms(start);
            if (ms > 50) MoveTrace.Write(start, "live", target.ToString(), $"ms={MoveTrace.F(ms)} req={requestId}");
        }
    }

    /// <summary>A request whose attempt on the live activation here was not acknowledged: routed again, the owner looked up afresh.</summary>
    internal async Task<ReplyMessage> RerouteAsync(InvokeMessage request, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _reroutes);
        var target = new ComponentId(request.ComponentType, request.Key);
        _directory.Forget(target.ToString());
        if (_runtime is not { } runtime || _store is not { } store)
            return ReplyMessage.Unavailable($"silo {_options.SiloId} is not running (starting or shutting down); retry with the same request id");
        return await RouteToOwnerAsync(runtime, store, target, request, cancellationToken).ConfigureAwait(false);
    }

    private Task<ReplyMessage> RouteToOwnerAsync(LocalRuntime runtime, ILogStore store, ComponentId target, InvokeMessage request, CancellationToken cancellationToken) =>
        MoveTrace.On ? RouteToOwnerTracedAsync(runtime, store, target, request, cancellationToken) : RouteToOwnerAsync(runtime, store, target, request, null, cancellationToken);

    /// <summary><see cref="RouteToOwnerAsync(LocalRuntime, ILogStore, ComponentId, InvokeMessage, CancellationToken)"/> with its steps in the <see cref="MoveTrace"/> when it took over 20 ms.</summary>
    private async Task<ReplyMessage> RouteToOwnerTracedAsync(LocalRuntime runtime, ILogStore store, ComponentId target, InvokeMessage request, CancellationToken cancellationToken)
    {
        var start = System.Diagnostics.Stopwatch.GetTimestamp();
        var steps = new System.Text.StringBuilder();
        var reply = await RouteToOwnerAsync(runtime, store, target, request, steps, cancellationToken).ConfigureAwait(false);
        var ms = MoveTrace.Ms(start);
        if (ms > 20) MoveTrace.Write(start, "route", target.ToString(), $"ms={MoveTrace.F(ms)} req={request.RequestId} flags={(int)request.Flags} status={reply.Status} steps={steps}");
        return reply;
    }

    private async Task<ReplyMessage> RouteToOwnerAsync(LocalRuntime runtime, ILogStore store, ComponentId target, InvokeMessage request, System.Text.StringBuilder? steps, CancellationToken cancellationToken)
    {
        var idText = target.ToString();
        var step = 0L;
        var deadline = _time.GetUtcNow() + RouteTimeout;
        var forwarded = (request.Flags & InvokeFlags.Forwarded) != 0;
        string? lastProblem = null;
        for (var attempt = 0; ; attempt++)
        {
            if (attempt > 0)
            {
                Interlocked.Increment(ref _reroutes);
                if (_time.GetUtcNow() >= deadline)
                    return ReplyMessage.Unavailable($"{target} could not be reached within {RouteTimeout.TotalSeconds:0.#} s ({lastProblem}); retry with the same request id");
                step = steps is null ? 0 : System.Diagnostics.Stopwatch.GetTimestamp();
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(25 * attempt, 200)), _time, cancellationToken).ConfigureAwait(false);
                steps?.Append(System.Globalization.CultureInfo.InvariantCulture, $"delay:{MoveTrace.F(MoveTrace.Ms(step))},");
            }

            // A handover of this component from here is running: wait for it, then route to where it went.
            if (_move.Pending(idText) is { } moving)
            {
                step = steps is null ? 0 : System.Diagnostics.Stopwatch.GetTimestamp();
                await moving.WaitAsync(cancellationToken).ConfigureAwait(false);
                steps?.Append(System.Globalization.CultureInfo.InvariantCulture, $"pending:{MoveTrace.F(MoveTrace.Ms(step))},");
            }

            step = steps is null ? 0 : System.Diagnostics.Stopwatch.GetTimestamp();
            var owner = await _locator.LocateAsync(runtime, store, _membership, target, idText, cancellationToken).ConfigureAwait(false);
            steps?.Append(System.Globalization.CultureInfo.InvariantCulture, $"locate:{MoveTrace.F(MoveTrace.Ms(step))}={owner ?? "here"},");
            if (owner is null)
            {
                step = steps is null ? 0 : System.Diagnostics.Stopwatch.GetTimestamp();
                var wasActive = steps is not null && runtime.IsActive(target);
                var local = await ServeLocallyAsync(runtime, target, request, cancellationToken).ConfigureAwait(false);
                steps?.Append(System.Globalization.CultureInfo.InvariantCulture, $"local{(wasActive ? "" : "-cold")}:{MoveTrace.F(MoveTrace.Ms(step))}={(local.Reply is { } r0 ? r0.Status.ToString() : local.Problem)},");
                if (local.Reply is { } reply) return reply;
                lastProblem = local.Problem;
                if (local.MovedTo is { } movedTo)
                {
                    _directory.Set(idText, movedTo);
                    // A forwarded request is never forwarded twice: the gateway that sent it follows the redirect.
                    if (forwarded) return ReplyMessage.Moved(movedTo);
                }

                continue;
            }

            if (forwarded)
            {
                _directory.Forget(idText);
                return ReplyMessage.Moved(owner);
            }

            // A client that caches owners goes there itself: cheaper for everyone than a second hop on every call.
            if (attempt == 0 && (request.Flags & InvokeFlags.PreferMoved) != 0) return ReplyMessage.Moved(owner);

            try
            {
                Interlocked.Increment(ref _forwarded);
                SiloTelemetry.CountForward(owner);
                var forward = SiloTelemetry.WithTraceContext(request) with { Flags = request.Flags | InvokeFlags.Forwarded };
                step = steps is null ? 0 : System.Diagnostics.Stopwatch.GetTimestamp();
                var reply = await _forwarder.ForwardAsync(owner, forward, _membership, cancellationToken).ConfigureAwait(false);
                steps?.Append(System.Globalization.CultureInfo.InvariantCulture, $"forward:{MoveTrace.F(MoveTrace.Ms(step))}={reply?.Status},");
                if (reply is null)
                {
                    // The owner stopped answering and the cluster declared it dead meanwhile: its components are claimable.
                    lastProblem = $"{owner} was declared dead while the request waited on it";
                    _directory.Forget(idText);
                    continue;
                }

                switch (reply.Status)
                {
                    case ReplyStatus.Moved:
                        lastProblem = $"{owner} said it moved to {reply.Detail}";
                        if (!string.IsNullOrEmpty(reply.Detail) && reply.Detail != owner) _directory.Set(idText, reply.Detail);
                        else _directory.Forget(idText);
                        continue;
                    case ReplyStatus.Unavailable:
                        lastProblem = $"{owner}: {reply.Detail}";
                        _directory.Forget(idText);
                        continue;
                    default:
                        return reply;
                }
            }
            catch (Exception e) when (e is ConnectionLostException or SocketException or TimeoutException or IOException or HandshakeRejectedException)
            {
                // The owner is unreachable: it is dying or dead. Wait for the cluster to declare it so (store clock), then
                // the component is placed on a live silo and claimed there.
                lastProblem = $"{owner} unreachable: {e.Message}";
                _directory.Forget(idText);
                // A reset connection and a refused port mean the process is gone: declare it dead now, not after its window.
                if (e is ConnectionLostException or SocketException) Mirroring?.Suspect(owner);
                if (_membership is { } membership)
                    await membership.RefreshAsync(cancellationToken, TimeSpan.FromMilliseconds(100)).ConfigureAwait(false);
            }
        }
    }

    private async Task<LocalOutcome> ServeLocallyAsync(LocalRuntime runtime, ComponentId target, InvokeMessage request, CancellationToken cancellationToken)
    {
        try
        {
            Interlocked.Increment(ref _served);
            if ((request.Flags & InvokeFlags.Outcome) != 0)
            {
                var outcome = await runtime.GetOutcomeAsync(target, request.RequestId, cancellationToken).ConfigureAwait(false);
                return new LocalOutcome(ReplyMapping.ToMessage(outcome, request.RequestId, target.ToString()));
            }

            if ((request.Flags & InvokeFlags.Control) != 0 && request.Method == ProtocolConstants.DeadlockProbe)
            {
                // Answered from the wait-for edges only: a probe never activates the component.
                var edges = await runtime.ProbeAsync(target, WaitForCodec.DecodeVisited(request.Args), cancellationToken).ConfigureAwait(false);
                return new LocalOutcome(ReplyMessage.Ok(WaitForCodec.EncodeEdges(edges)));
            }

            if ((request.Flags & InvokeFlags.Control) != 0)
            {
                return new LocalOutcome(request.Method == ProtocolConstants.Move
                    ? await _move.HandleAsync(runtime, _store!, _cluster!, _membership, target, request, cancellationToken).ConfigureAwait(false)
                    : DecisionOperations.Handles(request.Method)
                        ? await DecisionOperations.HandleAsync(runtime, target, request, cancellationToken).ConfigureAwait(false)
                        : ReplyMessage.BadRequest($"unknown control operation '{request.Method}'; this silo knows {ProtocolConstants.Move}, {ProtocolConstants.Quarantine}, {ProtocolConstants.Release}, {ProtocolConstants.Reset}, {ProtocolConstants.Accept}, {ProtocolConstants.SessionOpen}, {ProtocolConstants.SessionReserve}, {ProtocolConstants.SessionSet}, {ProtocolConstants.SessionClose}, {ProtocolConstants.ClusterSilos}"));
            }

            var invocation = new Invocation(target, request.RequestId, request.Method, request.Args, request.SessionId, request.Caller);
            return new LocalOutcome(ReplyMapping.ToMessage(await runtime.InvokeAsync(invocation, cancellationToken).ConfigureAwait(false)));
        }
        catch (ComponentOwnedElsewhereException e)
        {
            var address = e.OwnerAddress ?? (_membership?.Find(e.Owner)?.Address);
            return address is null
                ? new LocalOutcome(null, Problem: $"{target} is owned by {e.Owner}, whose address is unknown")
                : new LocalOutcome(null, address, $"{target} is owned by {e.Owner}");
        }
        catch (TurnNotDurableException e)
        {
            // Fenced by a newer owner, the store failed, or a turn of the component is in doubt: nothing was acknowledged.
            // Look the owner up again and retry.
            _directory.Forget(target.ToString());
            return new LocalOutcome(null, Problem: e.Message);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return new LocalOutcome(ReplyMapping.ToMessage(e));
        }
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => _forwarder.DisposeAsync();

    private sealed record LocalOutcome(ReplyMessage? Reply, string? MovedTo = null, string? Problem = null);
}

/// <summary>A component call from a turn could not be delivered; the turn is not recorded and its request is retried.</summary>
public sealed class ClusterRouteException(string message) : RequestNotAcknowledgedException(message);
