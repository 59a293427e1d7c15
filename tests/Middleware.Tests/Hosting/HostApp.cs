using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Middleware.Core;
using Middleware.Silo;

namespace Middleware.Tests.Hosting;

/// <summary>
/// An application that hosts a silo with <c>builder.AddMiddlewareSilo(silo => ...)</c> in this test process, on real
/// sockets: its own URL (port 0) for its endpoints, and the silo's ports (0) from configuration section <c>Silo</c>.
/// </summary>
internal sealed class HostApp : IAsyncDisposable
{
    private HostApp(WebApplication app, CapturingLoggerProvider logs)
    {
        App = app;
        Logs = logs;
    }

    public WebApplication App { get; }

    public CapturingLoggerProvider Logs { get; }

    /// <summary>The application's own base URL (its endpoints live here).</summary>
    public Uri Url => new(App.Urls.Single());

    public SiloEndpoints Silo => App.Services.GetRequiredService<SiloEndpoints>();

    public static HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(30) };

    /// <summary>Builds (not starts) the application with <paramref name="settings"/> as configuration and <paramref name="configure"/> for the silo.</summary>
    public static HostApp Build(IDictionary<string, string?> settings, Action<SiloBuilder> configure, Action<WebApplicationBuilder>? more = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Configuration.AddInMemoryCollection(settings);
        var logs = new CapturingLoggerProvider();
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(logs);
        more?.Invoke(builder);
        builder.AddMiddlewareSilo(configure);
        var app = builder.Build();
        app.MapGet("/hello", () => "hello from the app");
        // Host code calling a component through the silo's factory: a new request id per call.
        app.MapPost("/sign/{book}/{name}", (string book, string name, IComponentFactory components) => components.GetComponent<IGuestBook>(book).Sign(name));
        return new HostApp(app, logs);
    }

    /// <summary>Settings of a silo on a SQLite file in <paramref name="directory"/>, both ports free ones.</summary>
    public static Dictionary<string, string?> Settings(string directory, string siloId) => new()
    {
        ["Silo:Store"] = $"sqlite:{Path.Combine(directory, "middleware.db")}",
        ["Silo:SiloId"] = siloId,
        ["Silo:Port"] = "0",
        ["Silo:HttpPort"] = "0",
    };

    public async ValueTask DisposeAsync() => await App.DisposeAsync();
}
