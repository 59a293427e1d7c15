using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Middleware.Transport;

namespace Middleware.Silo;

/// <summary>
/// The silo's own server when it is hosted in an application (the default of <c>AddMiddlewareSilo(silo => ...)</c>): a
/// Kestrel of its own listening on the protocol and HTTP ports, with only <c>/health</c> and <c>/metrics</c> in its
/// pipeline, so the application's server, URLs and endpoints are untouched and never serve the silo's. It shares the
/// application's runtime objects (request handler, metrics, clock) and logger factory.
/// </summary>
internal sealed class SiloServer(IServiceProvider services, SiloSetup setup) : IHostedService, IAsyncDisposable
{
    private WebApplication? _server;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        // An empty builder: none of the application's configuration (URLs, Kestrel sections), so nothing else binds here.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = typeof(SiloServer).Assembly.GetName().Name });
        builder.WebHost.UseKestrelCore();
        builder.Services.Replace(ServiceDescriptor.Singleton(services.GetRequiredService<ILoggerFactory>()));
        builder.Services.AddSingleton(services.GetRequiredService<IFrameHandler>());
        builder.Services.AddSingleton(services.GetRequiredService<TransportMetrics>());
        builder.Services.AddSingleton(services.GetRequiredService<TimeProvider>());
        builder.WebHost.ConfigureKestrel(kestrel => SiloHostingExtensions.Listen(kestrel, setup));
        var server = builder.Build();
        var endpoints = ActivatorUtilities.CreateInstance<SiloHttpEndpoints>(services);
        endpoints.Configure(app => app.Run(context =>
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        }))(server);
        await server.StartAsync(cancellationToken).ConfigureAwait(false);
        _server = server;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        // Connections stop taking requests and answer the ones they took; the runtime checkpoints after this (StoppedAsync).
        if (_server is { } server) await server.StopAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _server, null) is { } server) await server.DisposeAsync().ConfigureAwait(false);
    }
}
