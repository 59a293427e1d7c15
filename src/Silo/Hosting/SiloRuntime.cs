using System.Data.Common;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;
using Middleware.Recovery.Stores;

namespace Middleware.Silo;

/// <summary>
/// The engine of one silo: its store and its <see cref="LocalRuntime"/>. Opened in <see cref="StartingAsync"/>, which
/// the host runs before any listener starts, so no request can arrive before the runtime exists; closed in
/// <see cref="StoppedAsync"/>, after the listeners have drained, with a checkpoint of every live activation.
/// </summary>
public sealed class SiloRuntime(SiloOptions options, ComponentRegistry registry, SiloEndpoints endpoints, ILogger<SiloRuntime> logger, ILoggerFactory loggers, TimeProvider time, IServiceProvider services) : IHostedLifecycleService
{
    private readonly List<DbDataSource> _backendSources = [];
    private ILogStore? _store;
    private LocalRuntime? _runtime;
    private ClusterMembership? _membership;
    private InDoubtSweeper? _sweeper;
    private MirrorShipper? _shipper;
    private MirrorService? _mirroring;
    private Rebalancer? _rebalancer;

    /// <summary>Routes requests to their owners (any silo is a gateway).</summary>
    public ClusterRouter Router { get; } = new(options, logger, time);

    /// <summary>The silo's membership once it joined the cluster, else null.</summary>
    public ClusterMembership? Membership => _membership;

    /// <summary>The silo's settings.</summary>
    public SiloOptions Options => options;

    /// <summary>The registered component types.</summary>
    public ComponentRegistry Registry => registry;

    /// <summary>The runtime; throws before the host started.</summary>
    public LocalRuntime Runtime => _runtime ?? throw new InvalidOperationException("The silo has not started: its store is not open yet.");

    /// <summary>The runtime, or null before start and after stop.</summary>
    public LocalRuntime? RuntimeOrNull => Volatile.Read(ref _runtime);

    /// <summary>The store as described by the store itself (never a password), or the setting's kind before start.</summary>
    public string StoreDescription => _store?.Name ?? LogStores.SchemeOf(options.Store) + ":";

    /// <inheritdoc />
    public async Task StartingAsync(CancellationToken cancellationToken)
    {
        MoveTrace.StartProbe("silo-starting");
        _store = await LogStores.OpenAsync(options.Store, cancellationToken).ConfigureAwait(false);
        if (_store is not IClusterStore cluster)
        {
            var name = _store.Name;
            await _store.DisposeAsync().ConfigureAwait(false);
            throw new ClusterNotSupportedException(name);
        }

        options.Runtime.OwnerId = options.SiloId;
        var environment = new RuntimeEnvironment
        {
            // Ownership is per silo: a component owned by another live silo is never claimed from it.
            Ownership = new ClusterOwnership(cluster, options.SiloId),
            Caller = Router,
            SessionItems = new StoreSessionItems(cluster),
            TimeProvider = time,
            Logger = loggers.CreateLogger("Middleware.Engine"),
            // Context.Logger of live turns, one category per component class.
            LoggerFactory = loggers,
        };
        // Component constructors may take the host's services (checked by the runtime before it serves anything).
        registry.Services ??= services;
        // Durable records of mirrored components go to their mirror silo (process-level mirroring).
        _shipper = new MirrorShipper(options, registry, () => _membership, Router.ConnectAsync, (address, _) => Router.Mirroring?.Suspect(address), logger, time);
        environment.CommitObserver = _shipper;
        // Back ends registered in code win over a configured one of the same name; the application owns their data sources.
        foreach (var (name, source, dialect) in options.CodeBackends) environment.Backends.Add(name, source, dialect);
        var configured = options.Backends.Where(b => !options.CodeBackends.Any(c => c.Name == b.Key)).ToDictionary(b => b.Key, b => b.Value, StringComparer.Ordinal);
        _backendSources.AddRange(BackendSettings.Register(environment.Backends, configured));
        environment.Backends.ConfigurationHint = BackendSettings.Hint;
        var runtime = new LocalRuntime(_store, registry, options.Runtime, environment);
        Router.Attach(runtime, _store, cluster);
        _mirroring = new MirrorService(options, runtime, cluster, _shipper, Router.ConnectAsync, logger, time);
        Router.Mirroring = _mirroring;
        Volatile.Write(ref _runtime, runtime);
        logger.LogInformation("Silo {SiloId}: store {Store} open, components {Components}", options.SiloId, _store.Name, string.Join(", ", registry.Types.Select(t => t.Name)));
        logger.LogInformation("Silo {SiloId}: protocol port {Protection}", options.SiloId, SiloTls.Describe(options, options.LoadedTls));
        if (SiloTls.ExposureWarning(options) is { } warning) logger.LogWarning("{Warning}", warning);
    }

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public async Task StartedAsync(CancellationToken cancellationToken)
    {
        // The listeners are bound now, so the address other silos and clients use is known.
        var runtime = Runtime;
        // Warmed up first: the silo is not live (no silo hands it components, no request is routed to it) until its
        // request path has run once (SiloWarmup).
        Warmup = await SiloWarmup.RunAsync(options, _store!, endpoints.ProtocolEndPoint, time, logger, cancellationToken).ConfigureAwait(false);
        var membership = new ClusterMembership((IClusterStore)_store!, options, AdvertisedAddress(), endpoints.HttpEndPoint.ToString(),
            reason => runtime.DropAll(reason), () => runtime.ActivationCount, logger, time);
        await membership.StartAsync(cancellationToken).ConfigureAwait(false);
        _membership = membership;
        Router.UseMembership(membership);
        _mirroring?.Start(membership);
        // Turns in doubt that dead silos (or this one, before a restart) left behind are completed without waiting for clients.
        _sweeper = new InDoubtSweeper(runtime, membership, logger);
        _sweeper.Start();
        // Components move to their rendezvous owner as silos join and leave (--rebalance-per-second), and away before a graceful stop.
        _rebalancer = new Rebalancer(options, runtime, _store!, (IClusterStore)_store!, Router.Move, membership, logger, time);
        _rebalancer.Start();
        if (MoveTrace.On) MoveTrace.Write(System.Diagnostics.Stopwatch.GetTimestamp(), "silo-live", options.SiloId, string.Create(System.Globalization.CultureInfo.InvariantCulture, $"cpu={Environment.CpuUsage.TotalTime.TotalMilliseconds:0}"));
    }

    /// <summary>What the warm-up before joining did, or null before it ran.</summary>
    internal SiloWarmup.Result? Warmup { get; private set; }

    /// <summary>Rebalancing and the graceful leave's handover, or null before start.</summary>
    internal Rebalancer? Rebalancer => _rebalancer;

    /// <summary>The owner side of mirroring (shipping), or null before start.</summary>
    public MirrorShipper? Shipper => _shipper;

    /// <summary>The mirror side of mirroring and fast failover, or null before start.</summary>
    public MirrorService? Mirroring => _mirroring;

    /// <summary>Sweeps for turns in doubt this silo ran, and turns it completed that way (tests, metrics).</summary>
    public (long Sweeps, long Completed) InDoubtSweeps => _sweeper is { } s ? (s.Sweeps, s.Completed) : (0, 0);

    /// <summary>The protocol address announced in the silos table: <see cref="SiloOptions.AdvertiseAddress"/> or the bound one.</summary>
    internal string AdvertisedAddress()
    {
        var bound = endpoints.ProtocolEndPoint;
        if (options.AdvertiseAddress is { } advertise)
            return advertise.Contains(':', StringComparison.Ordinal) ? advertise : $"{advertise}:{bound.Port}";
        var host = bound.Address.Equals(System.Net.IPAddress.Any) || bound.Address.Equals(System.Net.IPAddress.IPv6Any)
            ? System.Net.Dns.GetHostName()
            : bound.Address.ToString();
        return $"{host}:{bound.Port}";
    }

    /// <summary>
    /// Graceful stop, first step, while the connections still serve: hands every live activation over to its rendezvous
    /// owner among the other silos (bounded by <see cref="SiloOptions.LeaveTimeout"/>), so their next requests find a
    /// checkpointed component already owned by a live silo instead of waiting for this one to be gone; then the protocol
    /// connections stop reading and drain.
    /// </summary>
    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        try
        {
            if (_rebalancer is { } rebalancer) await rebalancer.LeaveAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Whatever went wrong (the store unreachable, say), the stop goes on: what is left is checkpointed and released.
            logger.LogWarning("Silo {SiloId}: handing components over before leaving failed ({Reason}); they are checkpointed and released instead", options.SiloId, e.Message);
        }
        finally
        {
            await endpoints.StopReading.CancelAsync().ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public async Task StoppedAsync(CancellationToken cancellationToken)
    {
        // StoppingAsync normally did this already; a host that skipped it still closes the connections.
        if (!endpoints.StopReading.IsCancellationRequested) await endpoints.StopReading.CancelAsync().ConfigureAwait(false);
        if (_rebalancer is not null) await _rebalancer.DisposeAsync().ConfigureAwait(false);
        var runtime = Interlocked.Exchange(ref _runtime, null);
        Router.Detach();
        if (_sweeper is not null) await _sweeper.DisposeAsync().ConfigureAwait(false);
        if (_mirroring is not null) await _mirroring.DisposeAsync().ConfigureAwait(false);
        if (_shipper is not null) await _shipper.DisposeAsync().ConfigureAwait(false);
        if (runtime is not null)
        {
            try
            {
                // A checkpoint per live activation makes the next activation (here or on another silo) replay nothing.
                await runtime.CheckpointAllAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is StoreUnavailableException or TurnNotDurableException)
            {
                // The log is complete without checkpoints: recovery replays it, so shutting down still proceeds.
                logger.LogWarning("Silo {SiloId}: the shutdown checkpoint failed ({Reason}); the next activation replays the log instead", options.SiloId, e.Message);
            }

            // Checkpointed first, released second: the next owner replays nothing and need not wait for a dead window.
            if (_membership is { } membership)
            {
                try
                {
                    await membership.LeaveAsync(CancellationToken.None).ConfigureAwait(false);
                }
                catch (Exception e) when (e is StoreUnavailableException or InvalidOperationException)
                {
                    logger.LogWarning("Silo {SiloId}: leaving the cluster failed ({Reason}); the others take over once its window passes", options.SiloId, e.Message);
                }

                await membership.DisposeAsync().ConfigureAwait(false);
            }

            await runtime.DisposeAsync().ConfigureAwait(false);
        }

        await Router.DisposeAsync().ConfigureAwait(false);

        foreach (var source in _backendSources) await source.DisposeAsync().ConfigureAwait(false);
        _backendSources.Clear();
        if (_store is not null) await _store.DisposeAsync().ConfigureAwait(false);
        _store = null;
    }
}
