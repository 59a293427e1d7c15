using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Middleware.Protocol;
using Middleware.Transport;

namespace Middleware.Tests.Transport;

/// <summary>Kestrel in-process on 127.0.0.1 with a free port, speaking the Middleware protocol to a test handler.</summary>
internal sealed class TransportTestServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ListenOptions _listen;

    private TransportTestServer(WebApplication app, ListenOptions listen)
    {
        _app = app;
        _listen = listen;
    }

    public int Port => ((IPEndPoint)_listen.EndPoint).Port;

    public IPEndPoint EndPoint => new(IPAddress.Loopback, Port);

    public TransportMetrics Metrics => _app.Services.GetRequiredService<TransportMetrics>();

    /// <summary>
    /// Starts a server; <paramref name="logs"/> receives what the transport logs (none when null), and
    /// <paramref name="time"/> is its clock (throttle windows, idle timers).
    /// </summary>
    public static async Task<TransportTestServer> StartAsync(IFrameHandler handler, TransportOptions? options = null, ILogger? logs = null, TimeProvider? time = null)
    {
        options ??= new TransportOptions { SiloId = "silo-test" };
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        if (logs is not null) builder.Logging.AddProvider(new OneLoggerProvider(logs));
        if (time is not null) builder.Services.AddSingleton(time);
        builder.Services.AddMiddlewareTransport();
        builder.Services.AddSingleton(handler);
        ListenOptions? listen = null;
        builder.WebHost.UseKestrel(k => k.ListenMiddleware(IPAddress.Loopback, 0, options, l => listen = l));
        var app = builder.Build();
        await app.StartAsync();
        return new TransportTestServer(app, listen!);
    }

    public Task<MiddlewareConnection> ConnectAsync(string? key = null, TimeSpan? requestTimeout = null, PeerRole role = PeerRole.Client) =>
        MiddlewareConnection.ConnectAsync(EndPoint, new ConnectionOptions
        {
            SenderId = "test-client",
            Role = role,
            Key = key,
            RequestTimeout = requestTimeout ?? TimeSpan.FromSeconds(10),
        });

    /// <summary>Stops the server and aborts its connections at once (no graceful drain).</summary>
    public async Task KillAsync()
    {
        using var now = new CancellationTokenSource();
        await now.CancelAsync();
        await _app.StopAsync(now.Token);
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>Routes every category to one logger.</summary>
internal sealed class OneLoggerProvider(ILogger logger) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => logger;

    public void Dispose()
    {
    }
}

/// <summary>A handler built from a delegate.</summary>
internal sealed class DelegateHandler(Func<InvokeMessage, CancellationToken, ValueTask<ReplyMessage>> handle) : IFrameHandler
{
    public ValueTask<ReplyMessage> HandleAsync(InvokeMessage request, PeerContext peer, CancellationToken cancellationToken)
    {
        LastPeer = peer;
        return handle(request, cancellationToken);
    }

    /// <summary>Who sent the latest request (tests of the handshake read the role and identity the server accepted).</summary>
    public PeerContext? LastPeer { get; private set; }

    /// <summary>Answers every invoke with its request id as a JSON string, synchronously.</summary>
    public static DelegateHandler EchoRequestId() =>
        new((m, _) => ValueTask.FromResult(ReplyMessage.Ok(System.Text.Encoding.UTF8.GetBytes($"\"{m.RequestId}\""))));
}
