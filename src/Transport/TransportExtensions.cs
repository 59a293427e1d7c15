using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Middleware.Transport;

/// <summary>Wiring of the transport into a host: services, and Kestrel listeners speaking the Middleware protocol.</summary>
public static class TransportExtensions
{
    /// <summary>Registers the shared <see cref="TransportMetrics"/>. The application registers its <see cref="IFrameHandler"/>.</summary>
    public static IServiceCollection AddMiddlewareTransport(this IServiceCollection services)
    {
        services.TryAddSingleton<TransportMetrics>();
        return services;
    }

    /// <summary>Listens for the Middleware protocol on the loopback address; bind another address explicitly to accept remote peers.</summary>
    public static KestrelServerOptions ListenMiddleware(this KestrelServerOptions kestrel, int port, TransportOptions options, Action<ListenOptions>? configure = null) =>
        kestrel.ListenMiddleware(IPAddress.Loopback, port, options, configure);

    /// <summary>
    /// Listens for the Middleware protocol on <paramref name="address"/>:<paramref name="port"/> (port 0 picks a free
    /// port; read it from the <see cref="ListenOptions"/> given to <paramref name="configure"/> after start). The
    /// options are validated now, so a wrong setting fails at configuration with its name.
    /// </summary>
    public static KestrelServerOptions ListenMiddleware(this KestrelServerOptions kestrel, IPAddress address, int port, TransportOptions options, Action<ListenOptions>? configure = null) =>
        kestrel.ListenMiddleware(address, port, options, tls: null, configure);

    /// <summary>
    /// Listens for the Middleware protocol as above, with TLS when <paramref name="tls"/> is given (Kestrel's TLS
    /// connection middleware, see <see cref="Tls.TlsListenerExtensions.UseMiddlewareTls"/>); without it the listener is
    /// plain and closes peers that start a TLS handshake, logging the fix.
    /// </summary>
    public static KestrelServerOptions ListenMiddleware(this KestrelServerOptions kestrel, IPAddress address, int port, TransportOptions options, Tls.ServerTlsOptions? tls, Action<ListenOptions>? configure = null)
    {
        options.Validate();
        tls?.Validate();
        kestrel.Listen(address, port, listen =>
        {
            Tls.TlsListenerExtensions.UseMiddlewareTls(listen, tls, options);
            listen.UseMiddlewareProtocol(options);
            configure?.Invoke(listen);
        });
        return kestrel;
    }

    /// <summary>
    /// Makes <paramref name="listen"/> speak the Middleware protocol: the equivalent of
    /// <c>UseConnectionHandler&lt;MiddlewareConnectionHandler&gt;()</c>, with this listener's options instead of one global set.
    /// </summary>
    public static IConnectionBuilder UseMiddlewareProtocol(this ListenOptions listen, TransportOptions options)
    {
        options.Validate();
        // Resolved when Kestrel builds the pipeline, after the container is complete.
        return listen.Use(_ =>
        {
            var services = listen.ApplicationServices;
            var handler = services.GetService<IFrameHandler>()
                ?? throw new InvalidOperationException("No IFrameHandler is registered: register the silo's request handler (services.AddSingleton<IFrameHandler, ...>()) before listening for the Middleware protocol.");
            var metrics = services.GetService<TransportMetrics>()
                ?? throw new InvalidOperationException("TransportMetrics is not registered: call services.AddMiddlewareTransport() before listening for the Middleware protocol.");
            var logger = services.GetService<ILoggerFactory>()?.CreateLogger<MiddlewareConnectionHandler>() ?? NullLogger<MiddlewareConnectionHandler>.Instance;
            var stopping = options.StopReading ?? services.GetService<Microsoft.Extensions.Hosting.IHostApplicationLifetime>()?.ApplicationStopping ?? CancellationToken.None;
            var time = services.GetService<TimeProvider>() ?? TimeProvider.System;
            return new MiddlewareConnectionHandler(handler, options, metrics, logger, stopping, time).OnConnectedAsync;
        });
    }
}
