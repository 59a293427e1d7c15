using System.Text.Json;
using Bank;
using Microsoft.Extensions.DependencyInjection;
using Middleware.Client;
using Middleware.Core;
using Middleware.Recovery.Stores;
using Middleware.Silo;
using Middleware.Tests.Silo;
using Middleware.Tests.Support;

namespace Middleware.Tests.Hosting;

/// <summary>
/// The silo's <see cref="IComponentFactory"/> in a cluster of two real silos on one store: a silo hosted in this test's
/// application (with the sample's components, added by assembly) and a silo process. Calls from host code reach the
/// components the other silo owns (forwarded to it) and the local ones, each call once.
/// </summary>
public sealed class ClusterComponentFactoryTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("mw-hostcluster-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task Host_code_calls_components_the_other_silo_owns_through_it_and_each_call_applies_once()
    {
        var store = $"sqlite:{Path.Combine(_directory, "middleware.db")}";
        await using var other = await SiloProcess.StartAsync(store, "--silo-id", "process-silo");
        var settings = HostApp.Settings(_directory, "app-silo");
        await using var host = HostApp.Build(settings, silo => silo
            .AddComponentsFrom(typeof(Account).Assembly)
            .AddBackend("ledger", SiloProcess.DefaultLedger));
        await host.App.StartAsync();

        // Both silos see each other before anything is placed.
        var siloHttp = new Uri($"http://{host.Silo.HttpEndPoint}");
        await Eventually.TrueAsync(
            async () => JsonDocument.Parse(await HostApp.Http.GetStringAsync(new Uri(siloHttp, "/health"))).RootElement
                .GetProperty("liveSilos").EnumerateArray().Any(s => s.GetString() == "process-silo"),
            "the hosted silo to see the silo process as live");

        var components = host.App.Services.GetRequiredService<IComponentFactory>();
        var keys = Enumerable.Range(0, 16).Select(i => $"acct-{Guid.NewGuid():N}-{i}").ToList();
        foreach (var key in keys)
        {
            // Two equal deposits: two calls, two request ids, two turns.
            Assert.Equal(5, await components.GetComponent<IAccount>(key).Deposit(5));
            Assert.Equal(10, await components.GetComponent<IAccount>(key).Deposit(5));
        }

        await using var opened = await LogStores.OpenAsync(store);
        var owners = new Dictionary<string, string?>();
        foreach (var key in keys) owners[key] = (await opened.GetHeadAsync($"Account/{key}"))?.Owner;
        var remote = keys.Where(k => owners[k] == "process-silo").ToList();
        Assert.True(remote.Count > 0, $"no account was placed on the silo process: {string.Join(", ", owners.Values)}");
        Assert.Contains(keys, k => owners[k] == "app-silo");
        Assert.True(host.App.Services.GetRequiredService<ClusterRouter>().Stats.Forwarded >= 2 * remote.Count);

        // Read on the owner itself (a client of the silo process only): each forwarded call ran once there.
        await using var client = await MiddlewareClient.ConnectAsync(new MiddlewareClientOptions { Gateways = [other.Address], DiscoverGateways = false, RouteToOwners = false });
        foreach (var key in remote)
        {
            Assert.Equal(10, await client.GetComponent<IAccount>(key).Balance());
            var head = await opened.GetHeadAsync($"Account/{key}");
            Assert.Equal(2, head!.LastSeq);
        }

        await host.App.StopAsync();
    }
}
