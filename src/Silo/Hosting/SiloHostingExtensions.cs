using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Middleware.Transport;

namespace Middleware.Silo;

/// <summary>Hosting of a silo in an ASP.NET Core application.</summary>
public static class SiloHostingExtensions
{
    /// <summary>
    /// Makes the application a silo: validates <paramref name="options"/> and loads the component assemblies now (a
    /// wrong setting throws <see cref="SiloOptionsException"/> naming it), opens the store and starts the runtime before
    /// the listeners start, serves the Middleware protocol on <see cref="SiloOptions.Port"/> (with TLS when
    /// <see cref="SiloOptions.TlsCertificate"/> is set) and <c>/health</c>,
    /// <c>/metrics</c> and <c>/dashboard</c> on <see cref="SiloOptions.HttpPort"/>, and checkpoints and closes everything on shutdown.
    /// Read the bound ports from <see cref="SiloEndpoints"/> after the application started. The host's Kestrel listens on
    /// the silo's two ports only (the silo executable); an application with endpoints of its own uses
    /// <see cref="SiloHostBuilderExtensions.AddMiddlewareSilo{TBuilder}(TBuilder, Action{SiloBuilder})"/>.
    /// </summary>
    public static WebApplicationBuilder AddMiddlewareSilo(this WebApplicationBuilder builder, SiloOptions options)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(options);
        // Checked now (the silo executable reports a wrong setting before building anything).
        var setup = SiloSetup.Create(options, ComponentAssemblies.Load(options.Components));
        AddSiloServices(builder.Services, _ => setup);
        ListenOnHostServer(builder);
        return builder;
    }

    /// <summary>The silo's services; <paramref name="setup"/> runs once, when the host starts (or above, at once).</summary>
    internal static void AddSiloServices(IServiceCollection services, Func<IServiceProvider, SiloSetup> setup)
    {
        services.AddSingleton(setup);
        // One clock for the engine, membership, routing and connections; a host (or a test) may register its own first.
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(sp => sp.GetRequiredService<SiloSetup>().Options);
        services.AddSingleton(sp => sp.GetRequiredService<SiloSetup>().Registry);
        services.AddSingleton(sp => sp.GetRequiredService<SiloSetup>().Endpoints);
        services.AddSingleton<SiloRuntime>();
        // The same instance as a hosted service, so its StartingAsync opens the store before any listener starts.
        services.AddHostedService(sp => sp.GetRequiredService<SiloRuntime>());
        services.AddSingleton(sp => sp.GetRequiredService<SiloRuntime>().Router);
        services.AddMiddlewareTransport();
        // Every request is timed for the dashboard's latency chart (by the router's handler itself: no wrapper, no second await).
        services.AddSingleton<Dashboard.RequestLatency>();
        services.TryAddSingleton<IFrameHandler>(sp => new RuntimeFrameHandler(sp.GetRequiredService<ClusterRouter>(), sp.GetRequiredService<Dashboard.RequestLatency>()));
        services.AddSingleton<SiloMetrics>();
        // Host code (an endpoint, a background service) calls components through the router: here or on their owner.
        services.AddSingleton<Core.IComponentFactory, SiloComponentFactory>();
    }

    /// <summary>The protocol and HTTP listeners on the host application's Kestrel (the silo executable, <see cref="SiloBuilder.ShareHostEndpoints"/>).</summary>
    internal static void ListenOnHostServer(WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<IStartupFilter, SiloHttpEndpoints>();
        builder.Services.AddSingleton<IConfigureOptions<KestrelServerOptions>>(sp => new ConfigureNamedOptions<KestrelServerOptions>(
            Options.DefaultName, kestrel => Listen(kestrel, sp.GetRequiredService<SiloSetup>())));
    }

    /// <summary>Adds the silo's two listeners to <paramref name="kestrel"/>, recording them in the setup's endpoints.</summary>
    internal static void Listen(KestrelServerOptions kestrel, SiloSetup setup)
    {
        var options = setup.Options;
        var endpoints = setup.Endpoints;
        var address = options.BindAddress;
        kestrel.ListenMiddleware(address, options.Port, options.TransportOptions(endpoints.StopReading.Token), options.LoadedTls?.Server, listen => endpoints.Protocol = listen);
        kestrel.Listen(address, options.HttpPort, listen =>
        {
            // Plain-text HTTP/1.1: HTTP/2 without TLS would only draw a Kestrel warning at every start.
            listen.Protocols = HttpProtocols.Http1;
            endpoints.Http = listen;
        });
    }
}

/// <summary>Where a silo listens; the ports are the bound ones (port 0 resolved) once the application started.</summary>
public sealed class SiloEndpoints
{
    private readonly SiloOptions _options;
    private readonly Recovery.Runtime.ComponentRegistry _registry;

    internal SiloEndpoints(SiloOptions options, Recovery.Runtime.ComponentRegistry registry)
    {
        _options = options;
        _registry = registry;
    }

    internal ListenOptions? Protocol { get; set; }

    /// <summary>Fired when the protocol connections should stop reading: after the silo handed its components over (graceful leave).</summary>
    internal CancellationTokenSource StopReading { get; } = new();

    internal ListenOptions? Http { get; set; }

    /// <summary>The protocol endpoint (clients and silos connect here).</summary>
    public IPEndPoint ProtocolEndPoint => BoundEndPoint(Protocol, "protocol");

    /// <summary>The HTTP endpoint of /health and /metrics.</summary>
    public IPEndPoint HttpEndPoint => BoundEndPoint(Http, "HTTP");

    /// <summary>
    /// The one line a silo prints when it is ready, for operators and tools to parse:
    /// <c>silo ID listening: protocol HOST:PORT, http HOST:PORT, store STORE, components A, B</c>.
    /// </summary>
    public string ListeningLine(string storeDescription) =>
        $"silo {_options.SiloId} listening: protocol {ProtocolEndPoint}, http {HttpEndPoint}, store {storeDescription}, components {string.Join(", ", _registry.Types.Select(t => t.Name).Order(StringComparer.Ordinal))}";

    private static IPEndPoint BoundEndPoint(ListenOptions? listen, string what) =>
        listen?.EndPoint as IPEndPoint ?? throw new InvalidOperationException($"The silo's {what} listener is not configured yet; read the endpoints after the application started.");
}
