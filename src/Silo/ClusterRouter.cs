using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Protocol;
using Middleware.Recovery.Log;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;

namespace Middleware.Silo;

/// <summary>
/// Makes any silo a gateway. For each request it finds the component's owner and serves locally or forwards:
/// <list type="number">
/// <item>a live local activation serves;</item>
/// <item>else the directory cache names the owner's address;</item>
/// <item>else the store's head names an owner that is a live silo;</item>
/// <item>else the component has no live owner and is placed by rendezvous hashing over the live silos, so every
/// gateway picks the same silo, which claims it (the store arbitrates any race).</item>
/// </list>
/// A forwarded request carries <see cref="InvokeFlags.Forwarded"/>; its receiver serves it or answers Moved, never
/// forwards again. Failures that leave the request unacknowledged (owner unreachable, fenced activation, owner not yet
/// declared dead) are retried here with the same request id until <see cref="RouteTimeout"/>, so a silo's death costs
/// the caller a pause, not an error. The same router carries component-to-component calls made inside turns.
/// </summary>
public sealed class ClusterRouter : IComponentCaller, IAsyncDisposable
{
    private const int MaxDirectoryEntries = 200_000;
    private readonly ConcurrentDictionary<string, string> _directory = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, PeerConnection> _peers = new(StringComparer.OrdinalIgnoreCase);
    private readonly SiloOptions _options;
    private readonly ConnectionOptions _peerOptions;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private LocalRuntime? _runtime;
    private ILogStore? _store;
    private IClusterStore? _cluster;
    private ClusterMembership? _membership;
    private long _forwarded;
    private long _served;
    private long _reroutes;

    /// <summary>A router for the silo described by <paramref name="options"/>; <see cref="Attach"/> it once the runtime exists.</summary>
    public ClusterRouter(SiloOptions options, ILogger logger, TimeProvider? time = null)
    {
        _options = options;
        _logger = logger;
        _time = time ?? TimeProvider.System;
        _peerOptions = new ConnectionOptions
        {
            SenderId = options.SiloId,
            Role = PeerRole.Silo,
            ClusterKey = options.ClusterKey,
            ConnectTimeout = TimeSpan.FromSeconds(2),
            HandshakeTimeout = TimeSpan.FromSeconds(2),
            RequestTimeout = RouteTimeout + TimeSpan.FromSeconds(5),
        };
    }

    /// <summary>How long a request may wait here for its component to become reachable (owner declared dead, moved).</summary>
    public TimeSpan RouteTimeout => _options.DeadAfter + TimeSpan.FromSeconds(4);

    /// <summary>Requests served by this silo's runtime / forwarded to another silo / re-routed after a failed attempt.</summary>
    public (long Served, long Forwarded, long Reroutes) Stats => (Interlocked.Read(ref _served), Interlocked.Read(ref _forwarded), Interlocked.Read(ref _reroutes));

    /// <summary>Binds the router to the silo's runtime, store and membership (called once at start).</summary>
    public void Attach(LocalRuntime runtime, ILogStore store, IClusterStore cluster)
    {
        _runtime = runtime;
        _store = store;
        _cluster = cluster;
    }

    /// <summary>Unbinds the runtime at shutdown: later requests are answered Unavailable.</summary>
    public void Detach() => _runtime = null;

    /// <summary>Starts routing with <paramref name="membership"/> once the silo joined.</summary>
    public void UseMembership(ClusterMembership membership)
    {
        _membership = membership;
        membership.SilosGone += _ => _directory.Clear();
    }

    /// <summary>Component-to-component calls from turns of this silo's activations.</summary>
    public async Task<ComponentReply> InvokeAsync(Invocation invocation, CancellationToken cancellationToken)
    {
        var message = new InvokeMessage(invocation.Target.Type, invocation.Target.Key, invocation.Method, invocation.RequestId, invocation.SessionId, invocation.Caller, invocation.Args);
        var reply = await RouteAsync(message, cancellationToken).ConfigureAwait(false);
        return reply.Status is ReplyStatus.Moved or ReplyStatus.Unavailable
            ? throw new ClusterRouteException($"the call to {invocation.Target}.{invocation.Method} (request {invocation.RequestId}) could not be delivered: {reply}")
            : ReplyMapping.ToReply(reply, message);
    }

    /// <summary>Routes one request (see the class summary) and returns its reply.</summary>
    public async Task<ReplyMessage> RouteAsync(InvokeMessage request, CancellationToken cancellationToken)
    {
        if (_runtime is not { } runtime || _store is null || _cluster is null)
            return ReplyMessage.Unavailable($"silo {_options.SiloId} is not running (starting or shutting down); retry with the same request id");
        if ((request.Flags & InvokeFlags.Control) != 0 && request.Method.StartsWith("$session.", StringComparison.Ordinal))
            return await SessionControlAsync(request, cancellationToken).ConfigureAwait(false);
        if ((request.Flags & InvokeFlags.Control) != 0 && request.Method == ProtocolConstants.ClusterSilos)
        {
            var live = _membership?.Live.Select(s => new { siloId = s.SiloId, address = s.Address }).ToArray() ?? [];
            return ReplyMessage.Ok(JsonSerializer.SerializeToUtf8Bytes(live));
        }

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

        var idText = target.ToString();
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
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(25 * attempt, 200)), _time, cancellationToken).ConfigureAwait(false);
            }

            var owner = await OwnerAddressAsync(runtime, target, idText, cancellationToken).ConfigureAwait(false);
            if (owner is null)
            {
                var local = await ServeLocallyAsync(runtime, target, request, cancellationToken).ConfigureAwait(false);
                if (local.Reply is { } reply) return reply;
                lastProblem = local.Problem;
                if (local.MovedTo is { } movedTo)
                {
                    _directory[idText] = movedTo;
                    // A forwarded request is never forwarded twice: the gateway that sent it follows the redirect.
                    if (forwarded) return ReplyMessage.Moved(movedTo);
                }

                continue;
            }

            if (forwarded)
            {
                _directory.TryRemove(idText, out _);
                return ReplyMessage.Moved(owner);
            }

            // A client that caches owners goes there itself: cheaper for everyone than a second hop on every call.
            if (attempt == 0 && (request.Flags & InvokeFlags.PreferMoved) != 0) return ReplyMessage.Moved(owner);

            try
            {
                var connection = await Peer(owner).GetAsync(cancellationToken).ConfigureAwait(false);
                Interlocked.Increment(ref _forwarded);
                var reply = await ForwardAsync(connection, owner, request with { Flags = request.Flags | InvokeFlags.Forwarded }, cancellationToken).ConfigureAwait(false);
                if (reply is null)
                {
                    // The owner stopped answering and the cluster declared it dead meanwhile: its components are claimable.
                    lastProblem = $"{owner} was declared dead while the request waited on it";
                    _directory.TryRemove(idText, out _);
                    continue;
                }

                switch (reply.Status)
                {
                    case ReplyStatus.Moved:
                        lastProblem = $"{owner} said it moved to {reply.Detail}";
                        if (!string.IsNullOrEmpty(reply.Detail) && reply.Detail != owner) _directory[idText] = reply.Detail;
                        else _directory.TryRemove(idText, out _);
                        continue;
                    case ReplyStatus.Unavailable:
                        lastProblem = $"{owner}: {reply.Detail}";
                        _directory.TryRemove(idText, out _);
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
                _directory.TryRemove(idText, out _);
                if (_membership is { } membership)
                    await membership.RefreshAsync(cancellationToken, TimeSpan.FromMilliseconds(100)).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Sends a forwarded request and waits for its reply, but gives up (null) once the owner is no longer a live silo: a
    /// paused or cut-off owner keeps its TCP connection open and would otherwise hold the request until a timeout. Giving
    /// up is safe: if the old owner still ran it, its record was either durable before the new owner's claim (the new
    /// owner answers it from the log) or it is fenced.
    /// </summary>
    private async Task<ReplyMessage?> ForwardAsync(MiddlewareConnection connection, string owner, InvokeMessage request, CancellationToken cancellationToken)
    {
        var reply = connection.InvokeAsync(request, cancellationToken);
        if (_membership is not { } membership) return await reply.ConfigureAwait(false);
        var interval = _options.HeartbeatInterval;
        while (true)
        {
            var done = await Task.WhenAny(reply, Task.Delay(interval, _time, cancellationToken)).ConfigureAwait(false);
            if (done == reply) return await reply.ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            if (!membership.Live.Any(s => string.Equals(s.Address, owner, StringComparison.OrdinalIgnoreCase)))
            {
                _ = reply.ContinueWith(static t => _ = t.Exception, TaskScheduler.Default);
                return null;
            }
        }
    }

    /// <summary>Null when this silo should serve; otherwise the address of the silo that should.</summary>
    private async Task<string?> OwnerAddressAsync(LocalRuntime runtime, ComponentId target, string idText, CancellationToken cancellationToken)
    {
        if (runtime.IsActive(target)) return null;
        var self = _membership?.Address;
        if (_directory.TryGetValue(idText, out var cached)) return cached == self ? null : cached;
        if (_membership is not { } membership) return null; // not joined yet: serve here; claims still arbitrate

        string address;
        var head = await _store!.GetHeadAsync(idText, cancellationToken).ConfigureAwait(false);
        if (head?.Owner is { } ownerId && membership.Find(ownerId) is { } owner)
        {
            address = owner.Address;
        }
        else
        {
            address = Rendezvous.Pick(idText, membership.Live)?.Address ?? membership.Address;
        }

        if (_directory.Count > MaxDirectoryEntries) _directory.Clear();
        _directory[idText] = address;
        return address == self ? null : address;
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

            if ((request.Flags & InvokeFlags.Control) != 0)
                return new LocalOutcome(await ControlAsync(runtime, target, request, cancellationToken).ConfigureAwait(false));

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
            // Fenced by a newer owner, or the store failed: nothing was acknowledged. Look the owner up again and retry.
            _directory.TryRemove(target.ToString(), out _);
            return new LocalOutcome(null, Problem: e.Message);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return new LocalOutcome(ReplyMapping.ToMessage(e));
        }
    }

    /// <summary><c>$move</c>, at the owner: checkpoint, deactivate, and hand the component to the named silo.</summary>
    private async Task<ReplyMessage> ControlAsync(LocalRuntime runtime, ComponentId target, InvokeMessage request, CancellationToken cancellationToken)
    {
        if (request.Method != ProtocolConstants.Move)
            return ReplyMessage.BadRequest($"unknown control operation '{request.Method}'; this silo knows {ProtocolConstants.Move}, {ProtocolConstants.SessionOpen}, {ProtocolConstants.SessionSet}, {ProtocolConstants.SessionClose}");
        var to = ReadStringArgs(request.Args, 1)[0];
        // A silo that joined moments ago may not be in the view yet: look again before refusing.
        if (!string.IsNullOrEmpty(to) && _membership is { } view && view.Find(to) is null)
            await view.RefreshAsync(cancellationToken).ConfigureAwait(false);
        if (string.IsNullOrEmpty(to) || _membership?.Find(to) is not { } destination)
            return ReplyMessage.BadRequest($"'{to}' is not a live silo; run `mw cluster status` for the live ones");
        var idText = target.ToString();
        var self = _options.SiloId;
        var head = await _store!.GetHeadAsync(idText, cancellationToken).ConfigureAwait(false);
        if (to == self && head?.Owner == self) return MoveReply(self, to, head.Epoch);

        // Route this silo's own later requests to the destination first, so nothing re-activates it here meanwhile.
        _directory[idText] = destination.Address;
        var epoch = await runtime.DeactivateAsync(target, cancellationToken).ConfigureAwait(false);
        head = await _store.GetHeadAsync(idText, cancellationToken).ConfigureAwait(false);
        bool moved;
        if (head is null || head.Owner is null || _membership.Find(head.Owner) is null)
        {
            moved = (await _cluster!.ClaimForSiloAsync(idText, head?.Epoch ?? 0, to, cancellationToken).ConfigureAwait(false)).Claimed is not null;
        }
        else if (head.Owner == self)
        {
            moved = await _cluster!.HandOverAsync(idText, epoch ?? head.Epoch, self, to, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            _directory.TryRemove(idText, out _);
            return ReplyMessage.Moved(_membership.Find(head.Owner)!.Address);
        }

        if (!moved) return ReplyMessage.Unavailable($"{target} changed hands during the move; run the move again");
        _logger.LogInformation("Silo {SiloId}: moved {Component} to {To}", self, target, to);
        return MoveReply(self, to, head?.Epoch ?? 0);
    }

    private static ReplyMessage MoveReply(string from, string to, long epoch) =>
        ReplyMessage.Ok(JsonSerializer.SerializeToUtf8Bytes(new { from, to, epoch }));

    /// <summary>Session operations run at whichever silo received them: they are store operations, not component turns.</summary>
    private async Task<ReplyMessage> SessionControlAsync(InvokeMessage request, CancellationToken cancellationToken)
    {
        var cluster = _cluster!;
        try
        {
            switch (request.Method)
            {
                case ProtocolConstants.SessionOpen or ProtocolConstants.SessionReserve:
                {
                    var reserve = request.Args.Length == 0 ? 1000 : JsonSerializer.Deserialize<int[]>(request.Args.Span) is [var n] ? n : 1000;
                    var opened = request.Method == ProtocolConstants.SessionOpen
                        ? await cluster.OpenSessionAsync(request.Key.Length == 0 ? null : request.Key, reserve, cancellationToken).ConfigureAwait(false)
                        : await cluster.ReserveSessionAsync(request.Key, reserve, cancellationToken).ConfigureAwait(false);
                    return ReplyMessage.Ok(JsonSerializer.SerializeToUtf8Bytes(new { sessionId = opened.Session.SessionId, first = opened.First, last = opened.Last }));
                }

                case ProtocolConstants.SessionSet:
                {
                    var args = ReadStringArgs(request.Args, 2);
                    await cluster.SetSessionItemAsync(request.Key, args[0] ?? "", args[1], cancellationToken).ConfigureAwait(false);
                    return ReplyMessage.Ok(ReadOnlyMemory<byte>.Empty);
                }

                case ProtocolConstants.SessionClose:
                    await cluster.CloseSessionAsync(request.Key, cancellationToken).ConfigureAwait(false);
                    return ReplyMessage.Ok(ReadOnlyMemory<byte>.Empty);
                default:
                    return ReplyMessage.BadRequest($"unknown session operation '{request.Method}'");
            }
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or KeyNotFoundException or JsonException)
        {
            return ReplyMessage.BadRequest(e.Message);
        }
        catch (StoreUnavailableException e)
        {
            return ReplyMessage.Unavailable(e.Message);
        }
    }

    private static string?[] ReadStringArgs(ReadOnlyMemory<byte> args, int count)
    {
        var values = args.Length == 0 ? [] : JsonSerializer.Deserialize<string?[]>(args.Span) ?? [];
        if (values.Length != count) throw new ArgumentException($"expected {count} argument(s) in a JSON array, got {values.Length}");
        return values;
    }

    private PeerConnection Peer(string address) => _peers.GetOrAdd(address, a => new PeerConnection(a, _peerOptions));

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        foreach (var peer in _peers.Values) await peer.DisposeAsync().ConfigureAwait(false);
        _peers.Clear();
    }

    private sealed record LocalOutcome(ReplyMessage? Reply, string? MovedTo = null, string? Problem = null);
}

/// <summary>A component call from a turn could not be delivered; the turn is not recorded and its request is retried.</summary>
public sealed class ClusterRouteException(string message) : RequestNotAcknowledgedException(message);

/// <summary>Rendezvous (highest random weight) hashing: every silo with the same view picks the same owner.</summary>
public static class Rendezvous
{
    /// <summary>The silo with the highest weight for <paramref name="componentId"/>, or null when there is none.</summary>
    public static SiloEntry? Pick(string componentId, IReadOnlyList<SiloEntry> silos)
    {
        SiloEntry? best = null;
        ulong bestWeight = 0;
        foreach (var silo in silos)
        {
            var weight = Weight(componentId, silo.SiloId);
            if (best is null || weight > bestWeight || (weight == bestWeight && string.CompareOrdinal(silo.SiloId, best.SiloId) < 0))
            {
                best = silo;
                bestWeight = weight;
            }
        }

        return best;
    }

    /// <summary>FNV-1a over both ids, finished with the splitmix64 mixer so nearby ids spread evenly.</summary>
    public static ulong Weight(string componentId, string siloId)
    {
        var hash = 14695981039346656037UL;
        foreach (var c in componentId) hash = (hash ^ c) * 1099511628211UL;
        hash = (hash ^ 0xff) * 1099511628211UL;
        foreach (var c in siloId) hash = (hash ^ c) * 1099511628211UL;
        hash ^= hash >> 30;
        hash *= 0xbf58476d1ce4e5b9UL;
        hash ^= hash >> 27;
        hash *= 0x94d049bb133111ebUL;
        return hash ^ (hash >> 31);
    }
}
