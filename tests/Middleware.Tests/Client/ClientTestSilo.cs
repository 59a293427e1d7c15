using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Middleware.Grains;
using Middleware.Protocol;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;
using Middleware.Tests.Support;
using Middleware.Transport;

namespace Middleware.Tests.Client;

/// <summary>
/// A stand-in silo for client tests: Kestrel with the Middleware transport on 127.0.0.1, serving a real
/// <see cref="LocalRuntime"/> on a log store that outlives restarts. The real silo's handler lives in src/Silo; this one
/// is deliberately minimal and has hooks to misbehave on purpose.
/// </summary>
internal sealed class ClientTestSilo : IAsyncDisposable
{
    private readonly Func<ComponentRegistry> _registry;
    private WebApplication? _app;
    private LocalRuntime? _runtime;

    private ClientTestSilo(MemoryLogStore store, TransportOptions options, Func<ComponentRegistry>? registry)
    {
        Store = store;
        Options = options;
        _registry = registry ?? Registries.Default;
    }

    /// <summary>The log store; it survives <see cref="RestartAsync"/> like a database survives a silo.</summary>
    public MemoryLogStore Store { get; }

    public TransportOptions Options { get; }

    public int Port { get; private set; }

    public string Address => $"127.0.0.1:{Port}";

    /// <summary>The handler of the running instance (replaced at each restart).</summary>
    public RuntimeFrameHandler Handler { get; private set; } = null!;

    /// <summary>The router of the running instance: it also carries the component calls its turns make.</summary>
    public Middleware.Silo.ClusterRouter Router { get; private set; } = null!;

    public static async Task<ClientTestSilo> StartAsync(TransportOptions? options = null, Action<RuntimeFrameHandler>? configure = null, Func<ComponentRegistry>? registry = null)
    {
        var silo = new ClientTestSilo(new MemoryLogStore(), options ?? new TransportOptions { SiloId = "client-test-silo" }, registry);
        await silo.StartCoreAsync(0, configure);
        return silo;
    }

    /// <summary>Kills the running instance (connections aborted, no drain) and starts a new one on the same port and store.</summary>
    public async Task RestartAsync(Action<RuntimeFrameHandler>? configure = null)
    {
        await StopAsync();
        await StartCoreAsync(Port, configure);
    }

    /// <summary>Stops the server and aborts its connections at once, then stops the runtime.</summary>
    public async Task StopAsync()
    {
        if (_app is { } app)
        {
            _app = null;
            using var now = new CancellationTokenSource();
            await now.CancelAsync();
            await app.StopAsync(now.Token);
            await app.DisposeAsync();
        }

        if (_runtime is { } runtime)
        {
            _runtime = null;
            await runtime.DisposeAsync();
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync();

    private async Task StartCoreAsync(int port, Action<RuntimeFrameHandler>? configure)
    {
        // The real silo's router, without membership: it serves everything locally, sessions and component calls included.
        var router = Router = new Middleware.Silo.ClusterRouter(new Middleware.Silo.SiloOptions { SiloId = Options.SiloId }, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        _runtime = new LocalRuntime(Store, _registry(), environment: new RuntimeEnvironment { Caller = router });
        router.Attach(_runtime, Store, Store);
        Handler = new RuntimeFrameHandler(router);
        configure?.Invoke(Handler);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddMiddlewareTransport();
        builder.Services.AddSingleton<IFrameHandler>(Handler);
        ListenOptions? listen = null;
        builder.WebHost.UseKestrel(k => k.ListenMiddleware(IPAddress.Loopback, port, Options, l => listen = l));
        _app = builder.Build();
        await _app.StartAsync();
        Port = ((IPEndPoint)listen!.EndPoint).Port;
    }
}

/// <summary>
/// Serves invokes through the real silo router (so replies are mapped exactly as a silo maps them) and records every
/// component request it receives. <see cref="Before"/> may answer instead; <see cref="AfterTurn"/> runs between the
/// durable turn and its reply (where a crash loses the reply but not the turn). Cluster operations (sessions, silo
/// lists) pass straight through, unrecorded.
/// </summary>
internal sealed class RuntimeFrameHandler(Middleware.Silo.ClusterRouter router) : IFrameHandler
{
    public ConcurrentQueue<InvokeMessage> Received { get; } = new();

    public Func<InvokeMessage, CancellationToken, ValueTask<ReplyMessage?>>? Before { get; set; }

    public Func<InvokeMessage, CancellationToken, Task>? AfterTurn { get; set; }

    private readonly Middleware.Silo.RuntimeFrameHandler _silo = new(router);

    public async ValueTask<ReplyMessage> HandleAsync(InvokeMessage request, PeerContext peer, CancellationToken cancellationToken)
    {
        // The silo's own handler authorizes and routes, as in a silo process.
        if ((request.Flags & InvokeFlags.Control) != 0) return await _silo.HandleAsync(request, peer, cancellationToken);
        Received.Enqueue(request);
        if (Before is { } before && await before(request, cancellationToken) is { } early) return early;
        var reply = await _silo.HandleAsync(request, peer, cancellationToken);
        if (reply.Status is ReplyStatus.Ok or ReplyStatus.Error && AfterTurn is { } after) await after(request, cancellationToken);
        return reply;
    }
}
