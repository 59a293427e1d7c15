using System.Collections.Concurrent;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Middleware.Grains;
using Middleware.Protocol;
using Middleware.Protocol.Control;
using Middleware.Recovery.Log;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;

namespace Middleware.Silo;

/// <summary>
/// The mirror's side of process-level mirroring in a silo, and failover: applies what owners ship
/// (<c>$mirror.ship</c>) to the runtime's standbys (<see cref="LocalRuntime.Mirrors"/>); watches the owners it mirrors
/// and declares one dead at once on direct evidence (its connection was reset and its port refuses connections: the
/// process is gone), without waiting for the heartbeat window; when owners leave the view (declared dead by anyone, or
/// their window passed), activates here every component it holds a standby of, warm, before clients ask; and when the
/// view changes, drops standbys this silo is no longer the mirror of and asks the new mirrors of the components it owns
/// to bootstrap.
/// </summary>
public sealed class MirrorService : IAsyncDisposable
{
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromMilliseconds(500);
    private readonly SiloOptions _options;
    private readonly LocalRuntime _runtime;
    private readonly IClusterStore _cluster;
    private readonly MirrorShipper _shipper;
    private readonly Func<string, CancellationToken, Task<MiddlewareConnection>> _connect;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<string, Task> _watches = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, byte> _probing = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, (long Ticks, double LagMs)> _fromOwners = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _activations = new(8, 8);
    private ClusterMembership? _membership;
    private Task _watchLoop = Task.CompletedTask;
    private long _declared;
    private long _takeoverActivations;

    /// <summary>The service of one silo; <see cref="Start"/> it once the silo joined the cluster.</summary>
    public MirrorService(SiloOptions options, LocalRuntime runtime, IClusterStore cluster, MirrorShipper shipper,
        Func<string, CancellationToken, Task<MiddlewareConnection>> connect, ILogger logger, TimeProvider time)
    {
        _options = options;
        _runtime = runtime;
        _cluster = cluster;
        _shipper = shipper;
        _connect = connect;
        _logger = logger;
        _time = time;
    }

    /// <summary>Silos this silo declared dead on direct evidence.</summary>
    public long DeclaredDead => Interlocked.Read(ref _declared);

    /// <summary>Standbys activated here because their owner left the view.</summary>
    public long TakeoverActivations => Interlocked.Read(ref _takeoverActivations);

    /// <summary>Per owner silo: the lag of its last shipment as this mirror saw it (send to applied, ms).</summary>
    public IReadOnlyDictionary<string, double> LagFromOwners() => _fromOwners.ToDictionary(p => p.Key, p => p.Value.LagMs);

    /// <summary>Starts watching owners and reacting to view changes.</summary>
    public void Start(ClusterMembership membership)
    {
        _membership = membership;
        membership.SilosGone += TakeOver;
        membership.ViewChanged += Rebalance;
        _watchLoop = Task.Run(WatchLoopAsync);
    }

    /// <summary>Applies a <c>$mirror.ship</c> request from an owner silo.</summary>
    public async Task<ReplyMessage> ShipAsync(InvokeMessage request, CancellationToken cancellationToken)
    {
        MirrorShipment shipment;
        try
        {
            shipment = MirrorShipment.Decode(request.Args);
        }
        catch (ControlMessageException e)
        {
            return ReplyMessage.BadRequest(e.Message);
        }

        int applied = 0, diverged = 0, failed = 0;
        foreach (var component in shipment.Components)
        {
            MirrorApplyOutcome outcome;
            try
            {
                var id = ComponentId.Parse(component.ComponentId);
                var records = component.Records.Select(r => new LogRecord(r.Seq, r.Epoch, (RecordKind)r.Kind, r.Payload)).ToList();
                var mark = component.CheckpointHash is { } hash ? new CheckpointMark(component.CheckpointSeq, hash) : (CheckpointMark?)null;
                outcome = await _runtime.Mirrors.ApplyAsync(id, shipment.FromSilo, records, mark, component.Head, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // An unknown component type here (silos running different code), a malformed id: this component only.
                _logger.LogWarning("Silo {SiloId}: could not mirror {Component} for {Owner}: {Reason}", _options.SiloId, component.ComponentId, shipment.FromSilo, e.Message);
                outcome = MirrorApplyOutcome.Failed;
            }

            switch (outcome)
            {
                case MirrorApplyOutcome.Applied or MirrorApplyOutcome.OwnedHere: applied++; break;
                case MirrorApplyOutcome.Diverged or MirrorApplyOutcome.DivergedNow: diverged++; break;
                default: failed++; break;
            }
        }

        var lag = (_time.GetUtcNow().UtcTicks - shipment.SentAtTicks) / (double)TimeSpan.TicksPerMillisecond;
        _fromOwners[shipment.FromSilo] = (_time.GetUtcNow().UtcTicks, Math.Max(0, lag));
        return ReplyMessage.Ok(ControlCodec.Encode(new MirrorAck(applied, diverged, failed)));
    }

    /// <summary>Answers <c>$mirror.list</c>: the standbys here (all, or the one of the component named by the key).</summary>
    public ReplyMessage List(InvokeMessage request)
    {
        var standbys = _runtime.Mirrors.List()
            .Where(s => string.IsNullOrEmpty(request.Key) || s.Component.ToString() == request.Key)
            .Select(s => new StandbyReport(s.Component.ToString(), s.AppliedSeq, s.Owner, s.LastAppliedAt, s.DivergedAtSeq))
            .ToList();
        return ReplyMessage.Ok(ControlCodec.Encode(standbys));
    }

    /// <summary>
    /// A silo at <paramref name="address"/> could not be reached: if its port refuses connections, the process is gone,
    /// so it is declared dead now (fencing by epoch keeps this safe if it was only cut off: it finds out at its next
    /// heartbeat and rejoins, and its writes are fenced by the next owner's claim). A timeout is no evidence: a frozen
    /// silo is left to the heartbeat window.
    /// </summary>
    public void Suspect(string address)
    {
        if (_stop.IsCancellationRequested || !_probing.TryAdd(address, 0)) return;
        _ = Task.Run(async () =>
        {
            try
            {
                await ProbeAsync(address).ConfigureAwait(false);
            }
            finally
            {
                _probing.TryRemove(address, out _);
            }
        });
    }

    private async Task ProbeAsync(string address)
    {
        if (_membership is not { } membership) return;
        var silo = membership.Live.FirstOrDefault(s => string.Equals(s.Address, address, StringComparison.OrdinalIgnoreCase));
        if (silo is null || silo.SiloId == _options.SiloId) return;
        if (!await RefusesConnectionsAsync(address).ConfigureAwait(false)) return;
        try
        {
            if (await _cluster.DeclareDeadAsync(silo.SiloId, silo.JoinedAt, _options.SiloId, _stop.Token).ConfigureAwait(false))
            {
                Interlocked.Increment(ref _declared);
                _logger.LogWarning("Silo {SiloId} declared silo {Dead} ({Address}) dead: its connection was reset and its port refuses connections", _options.SiloId, silo.SiloId, address);
            }

            await membership.RefreshAsync(_stop.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is StoreUnavailableException or OperationCanceledException)
        {
            // The heartbeat window still applies.
        }
    }

    private async Task<bool> RefusesConnectionsAsync(string address)
    {
        var (host, port) = PeerConnection.ParseAddress(address);
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        timeout.CancelAfter(ProbeTimeout);
        try
        {
            await socket.ConnectAsync(host, port, timeout.Token).ConfigureAwait(false);
            return false; // something listens there: not dead
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
        {
            return true;
        }
        catch (Exception)
        {
            return false; // a timeout or another error proves nothing
        }
    }

    /// <summary>Keeps a connection to every owner this silo mirrors, so a reset is noticed the moment it happens.</summary>
    private async Task WatchLoopAsync()
    {
        for (var round = 1; !_stop.IsCancellationRequested; round++)
        {
            try
            {
                // Every few seconds, standbys this silo is no longer the mirror of are dropped even without a view change
                // here: an owner whose view lagged this silo's may have shipped to it after the last change.
                if (round % 8 == 0) DropForeignStandbys();
                if (_membership is { } membership)
                {
                    var owners = _runtime.Mirrors.List().Select(s => s.Owner).OfType<string>().Distinct(StringComparer.Ordinal);
                    foreach (var owner in owners)
                    {
                        if (membership.Find(owner) is not { } silo || owner == _options.SiloId) continue;
                        if (_watches.TryGetValue(silo.Address, out var watch) && !watch.IsCompleted) continue;
                        _watches[silo.Address] = WatchAsync(silo.Address);
                    }
                }

                await Task.Delay(TimeSpan.FromMilliseconds(250), _time, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                _logger.LogDebug("Silo {SiloId}: owner watch: {Reason}", _options.SiloId, e.Message);
            }
        }
    }

    private async Task WatchAsync(string address)
    {
        try
        {
            var connection = await _connect(address, _stop.Token).ConfigureAwait(false);
            await connection.Closed.WaitAsync(_stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            return;
        }
        catch (Exception)
        {
            // Could not connect: that is evidence too.
        }

        Suspect(address);
    }

    /// <summary>Owners left the view: every standby they shipped to is activated here (warm), a few at a time.</summary>
    private void TakeOver(IReadOnlyCollection<string> gone)
    {
        var orphans = _runtime.Mirrors.List().Where(s => s.Owner is { } owner && gone.Contains(owner)).Select(s => s.Component).ToList();
        if (orphans.Count == 0) return;
        _logger.LogInformation("Silo {SiloId}: taking over {Count} mirrored component(s) of {Gone}", _options.SiloId, orphans.Count, string.Join(", ", gone));
        foreach (var id in orphans) _ = ActivateAsync(id);
    }

    private async Task ActivateAsync(ComponentId id)
    {
        await _activations.WaitAsync(_stop.Token).ConfigureAwait(false);
        try
        {
            // Another silo may be the better place now (the view changed twice): placement decides, as for a request.
            if (_membership is { } membership && Rendezvous.Pick(id.ToString(), membership.Live)?.SiloId != _options.SiloId) return;
            await _runtime.ActivateAsync(id, _stop.Token).ConfigureAwait(false);
            Interlocked.Increment(ref _takeoverActivations);
        }
        catch (Exception e) when (e is not OperationCanceledException || !_stop.IsCancellationRequested)
        {
            // Owned elsewhere after all, quarantined, the store unavailable: the first request for it decides again.
            _logger.LogDebug("Silo {SiloId}: takeover of {Component} left to its next request: {Reason}", _options.SiloId, id, e.Message);
        }
        finally
        {
            _activations.Release();
        }
    }

    /// <summary>The view changed: drop standbys whose live owner now mirrors elsewhere; new mirrors of components owned here bootstrap.</summary>
    private void Rebalance()
    {
        DropForeignStandbys();
        foreach (var id in _runtime.ActiveComponents)
        {
            if (_shipper.IsMirrored(id.Type)) _shipper.Announce(id.ToString());
        }
    }

    /// <summary>
    /// Drops the standbys whose owner is live and, by this silo's view, mirrored on another silo, unless the owner shipped
    /// to it lately: the owner's view decides where it ships, and this silo's view may lag behind it (a mirror died, the
    /// owner already picked this silo, and this silo still counts the dead one live). Dropping then would leave the new
    /// standby gone with nothing shipped again until the component's next turn.
    /// </summary>
    private void DropForeignStandbys()
    {
        if (_membership is not { } membership) return;
        var live = membership.Live;
        var shippedLately = _time.GetUtcNow() - ForeignStandbyGrace;
        _runtime.Mirrors.DropWhere((id, owner, lastApplied) =>
            owner is not null && lastApplied < shippedLately && live.Any(s => s.SiloId == owner)
            && MirrorPlacement.MirrorOf(id.ToString(), live, owner)?.SiloId != _options.SiloId);
    }

    /// <summary>How long a standby the owner shipped to is kept though this silo's view places the mirror elsewhere.</summary>
    private TimeSpan ForeignStandbyGrace => TimeSpan.FromTicks(Math.Max(TimeSpan.FromSeconds(10).Ticks, _options.DeadAfter.Ticks * 4));

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _watchLoop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Stopped.
        }

        // _stop is cancelled, not disposed: probes and activations still running may read its token.
    }
}
