using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Middleware.Client;
using Middleware.Core;
using Middleware.Silo;

namespace Middleware.Tests.Hosting;

/// <summary>
/// Settings of a hosted silo and of a client application from configuration (sections <c>Silo</c> and <c>Client</c>),
/// checked when the host starts, with errors that name the key and the fix; a generic host (no web application) works.
/// </summary>
public sealed class HostingConfigurationTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("mw-hostcfg-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static void Greeter(Microsoft.AspNetCore.Builder.WebApplicationBuilder builder) => builder.Services.AddSingleton<IGreeter>(new Greeter("Hello"));

    [Fact]
    public async Task A_bad_value_in_the_Silo_section_stops_the_start_naming_the_key_and_the_fix()
    {
        var settings = HostApp.Settings(_directory, "bad-port");
        settings["Silo:Port"] = "eleven";
        // Building succeeds: the settings are read and checked when the host starts (ValidateOnStart style).
        await using var host = HostApp.Build(settings, silo => silo.AddComponent<IGuestBook, GuestBook>(), Greeter);
        var e = await Assert.ThrowsAsync<SiloOptionsException>(() => host.App.StartAsync());
        Assert.Equal("The setting --port / MIDDLEWARE_PORT / Silo:Port is 'eleven', not a whole number.", e.Message);

        settings["Silo:Port"] = "0";
        settings["Silo:DeadAfterMs"] = "10";
        await using var tooShort = HostApp.Build(settings, silo => silo.AddComponent<IGuestBook, GuestBook>(), Greeter);
        e = await Assert.ThrowsAsync<SiloOptionsException>(() => tooShort.App.StartAsync());
        Assert.Contains("Silo:DeadAfterMs is 10 ms; set it from 1000 (1 s) to 600000 (10 min)", e.Message);
    }

    [Fact]
    public async Task A_silo_without_components_or_with_an_unregistered_constructor_service_does_not_start()
    {
        await using var empty = HostApp.Build(HostApp.Settings(_directory, "empty"), _ => { });
        var e = await Assert.ThrowsAsync<SiloOptionsException>(() => empty.App.StartAsync());
        Assert.Contains("Silo:Components is empty and no component was added in code; call silo.AddComponent<IYours, Yours>()", e.Message);

        // GuestBook takes an IGreeter, which this host does not register: refused before anything is served.
        await using var missing = HostApp.Build(HostApp.Settings(_directory, "missing"), silo => silo.AddComponent<IGuestBook, GuestBook>());
        var refused = await Assert.ThrowsAsync<ComponentDefinitionException>(() => missing.App.StartAsync());
        Assert.Contains("takes IGreeter greeter, which the host's container does not provide. Register it (builder.Services.AddSingleton<IGreeter, ...>())", refused.Message);
    }

    [Fact]
    public async Task A_generic_host_runs_a_silo_from_the_Silo_section_and_a_client_from_the_Client_section()
    {
        var silo = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = [], DisableDefaults = true });
        silo.Configuration.AddInMemoryCollection(HostApp.Settings(_directory, "generic-1"));
        silo.Services.AddSingleton<IGreeter>(new Greeter("Hey"));
        silo.AddMiddlewareSilo(s => s.AddComponent<IGuestBook, GuestBook>().Configure(o => o.Mirroring = MirroringMode.None));
        using var siloHost = silo.Build();
        await siloHost.StartAsync();
        var endpoints = siloHost.Services.GetRequiredService<SiloEndpoints>();
        Assert.Equal(HttpStatusCode.OK, (await HostApp.Http.GetAsync(new Uri($"http://{endpoints.HttpEndPoint}/health"))).StatusCode);

        var client = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = [], DisableDefaults = true });
        client.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Client:Gateways"] = endpoints.ProtocolEndPoint.ToString(),
            ["Client:ClientName"] = "config-client",
            ["Client:RequestTimeout"] = "00:00:20",
        });
        client.Services.AddMiddlewareClient();
        using var clientHost = client.Build();
        await clientHost.StartAsync();
        var components = clientHost.Services.GetRequiredService<IComponentFactory>();
        Assert.Equal(1, await components.GetComponent<IGuestBook>("generic").Sign("ann"));
        Assert.Equal(["Hey, ann"], await components.GetComponent<IGuestBook>("generic").Entries());
        await clientHost.StopAsync();
        await siloHost.StopAsync();
    }

    [Fact]
    public async Task A_client_without_gateways_fails_the_hosts_start_naming_the_key()
    {
        var client = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = [], DisableDefaults = true });
        client.Services.AddMiddlewareClient();
        using var host = client.Build();
        var e = await Assert.ThrowsAsync<ArgumentException>(() => host.StartAsync());
        Assert.Contains("MiddlewareClientOptions.Gateways is empty", e.Message);
        Assert.Contains("configuration key Client:Gateways", e.Message);
    }
}
