using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
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
    /// Read the bound ports from <see cref="SiloEndpoints"/> after the application started.
    /// </summary>
    public static WebApplicationBuilder AddMiddlewareSilo(this WebApplicationBuilder builder, SiloOptions options)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var registry = ComponentAssemblies.Load(options.Components);
        BackendSettings.CheckDeclared(registry, options.Backends);
        var transportOptions = options.TransportOptions();
        // Certificate files are read now, so a missing file or a key that does not match fails the start with its setting.
        options.LoadedTls = SiloTls.Load(options);
        var endpoints = new SiloEndpoints(options, registry);

        // One clock for the engine, membership, routing and connections; a host (or a test) may register its own first.
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(registry);
        builder.Services.AddSingleton(endpoints);
        builder.Services.AddSingleton<SiloRuntime>();
        // The same instance as a hosted service, so its StartingAsync opens the store before Kestrel listens.
        builder.Services.AddHostedService(sp => sp.GetRequiredService<SiloRuntime>());
        builder.Services.AddSingleton(sp => sp.GetRequiredService<SiloRuntime>().Router);
        builder.Services.AddMiddlewareTransport();
        // Every request is timed for the dashboard's latency chart (TimedFrameHandler around the router's handler).
        builder.Services.AddSingleton<Dashboard.RequestLatency>();
        builder.Services.TryAddSingleton<IFrameHandler>(sp => new TimedFrameHandler(ActivatorUtilities.CreateInstance<RuntimeFrameHandler>(sp), sp.GetRequiredService<Dashboard.RequestLatency>()));
        builder.Services.AddSingleton<IStartupFilter, SiloHttpEndpoints>();

        var address = options.BindAddress;
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.ListenMiddleware(address, options.Port, transportOptions, options.LoadedTls?.Server, listen => endpoints.Protocol = listen);
            kestrel.Listen(address, options.HttpPort, listen =>
            {
                // Plain-text HTTP/1.1: HTTP/2 without TLS would only draw a Kestrel warning at every start.
                listen.Protocols = HttpProtocols.Http1;
                endpoints.Http = listen;
            });
        });
        return builder;
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
