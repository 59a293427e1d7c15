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
public sealed class SiloRuntime(SiloOptions options, ComponentRegistry registry, ILogger<SiloRuntime> logger) : IHostedLifecycleService
{
    private readonly List<DbDataSource> _backendSources = [];
    private ILogStore? _store;
    private LocalRuntime? _runtime;

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
        _store = await LogStores.OpenAsync(options.Store, cancellationToken).ConfigureAwait(false);
        var runtimeOptions = new RuntimeOptions { OwnerId = options.SiloId, CheckpointEveryTurns = options.CheckpointEveryTurns };
        _backendSources.AddRange(BackendSettings.Register(runtimeOptions.Backends, options.Backends));
        Volatile.Write(ref _runtime, new LocalRuntime(_store, registry, runtimeOptions));
        logger.LogInformation("Silo {SiloId}: store {Store} open, components {Components}", options.SiloId, _store.Name, string.Join(", ", registry.Types.Select(t => t.Name)));
    }

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public async Task StoppedAsync(CancellationToken cancellationToken)
    {
        var runtime = Interlocked.Exchange(ref _runtime, null);
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

            await runtime.DisposeAsync().ConfigureAwait(false);
        }

        foreach (var source in _backendSources) await source.DisposeAsync().ConfigureAwait(false);
        _backendSources.Clear();
        if (_store is not null) await _store.DisposeAsync().ConfigureAwait(false);
        _store = null;
    }
}
