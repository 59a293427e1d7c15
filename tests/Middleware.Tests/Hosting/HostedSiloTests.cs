using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Middleware.Client;
using Middleware.Core;

namespace Middleware.Tests.Hosting;

/// <summary>
/// A silo hosted in an application with the builder: the application's endpoints on its URL, the silo's protocol and
/// HTTP endpoints on their own ports (never mixed), components reached from the application's endpoints through the
/// silo's <see cref="IComponentFactory"/> and from a client application through <c>AddMiddlewareClient</c>.
/// </summary>
public sealed class HostedSiloTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("mw-hosted-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static Task<HttpResponseMessage> Get(Uri baseUrl, string path) => HostApp.Http.GetAsync(new Uri(baseUrl, path));

    [Fact]
    public async Task The_apps_endpoints_and_the_silos_listen_on_separate_ports_and_serve_only_their_own()
    {
        await using var host = HostApp.Build(HostApp.Settings(_directory, "hosted-1"), silo => silo.AddComponent<IGuestBook, GuestBook>(),
            builder => builder.Services.AddSingleton<IGreeter>(new Greeter("Welcome")));
        await host.App.StartAsync();
        var app = host.Url;
        var siloHttp = new Uri($"http://{host.Silo.HttpEndPoint}");
        Assert.Equal(3, new[] { app.Port, host.Silo.HttpEndPoint.Port, host.Silo.ProtocolEndPoint.Port }.Distinct().Count());

        // The application's endpoint answers on the application's URL only.
        Assert.Equal("hello from the app", await (await Get(app, "/hello")).Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.NotFound, (await Get(siloHttp, "/hello")).StatusCode);

        // The silo's /health and /metrics answer on the silo's HTTP port only.
        var health = await Get(siloHttp, "/health");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Equal("hosted-1", JsonDocument.Parse(await health.Content.ReadAsStringAsync()).RootElement.GetProperty("siloId").GetString());
        Assert.Contains("middleware_connections_accepted_total", await (await Get(siloHttp, "/metrics")).Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.NotFound, (await Get(app, "/health")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await Get(app, "/metrics")).StatusCode);

        // Host code calls the component through the factory; each call is a new request (two signatures, two entries).
        Assert.Equal("1", await (await HostApp.Http.PostAsync(new Uri(app, "/sign/book-1/ann"), null)).Content.ReadAsStringAsync());
        Assert.Equal("2", await (await HostApp.Http.PostAsync(new Uri(app, "/sign/book-1/bob"), null)).Content.ReadAsStringAsync());

        // A client application reaches the same component over the protocol port, through its own DI registration.
        var services = new ServiceCollection().AddMiddlewareClient(options => options.Gateways = [host.Silo.ProtocolEndPoint.ToString()]);
        await using (var provider = services.BuildServiceProvider())
        {
            var components = provider.GetRequiredService<IComponentFactory>();
            Assert.Same(provider.GetRequiredService<MiddlewareClient>(), components);
            // The constructor-injected service shaped the entries.
            Assert.Equal(["Welcome, ann", "Welcome, bob"], await components.GetComponent<IGuestBook>("book-1").Entries());
            Assert.Equal(3, await components.GetComponent<IGuestBook>("book-1").Sign("cy"));
        }

        // Context.Logger: one line per turn, under the component class's name, in the application's logging.
        Assert.Equal(["book-1 signed by ann: entry 1", "book-1 signed by bob: entry 2", "book-1 signed by cy: entry 3"], host.Logs.Of(typeof(GuestBook).FullName!));
        await host.App.StopAsync();
    }

    [Fact]
    public async Task Sharing_the_hosts_server_puts_the_apps_endpoints_on_the_silos_http_port_when_asked()
    {
        await using var host = HostApp.Build(HostApp.Settings(_directory, "shared-1"), silo => silo.AddComponent<IGuestBook, GuestBook>().ShareHostEndpoints(),
            builder => builder.Services.AddSingleton<IGreeter>(new Greeter("Hi")));
        await host.App.StartAsync();
        var siloHttp = new Uri($"http://{host.Silo.HttpEndPoint}");
        Assert.Equal("hello from the app", await (await Get(siloHttp, "/hello")).Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, (await Get(siloHttp, "/health")).StatusCode);
        Assert.Equal("1", await (await HostApp.Http.PostAsync(new Uri(siloHttp, "/sign/shared/ann"), null)).Content.ReadAsStringAsync());
        await host.App.StopAsync();
    }
}
