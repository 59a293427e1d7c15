using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Bank;
using Microsoft.Extensions.Configuration;
using Middleware.Client;
using Middleware.Recovery.Storage;
using Middleware.Recovery.Stores;
using Middleware.Silo;
using Xunit.Abstractions;

namespace Middleware.Tests.Silo;

/// <summary>
/// A starting silo runs its request path on a scratch store before it joins the cluster (<c>--warmup-turns</c>), so no
/// silo hands it a component and no request is routed to it before its code is compiled: while it warms up it is not in
/// the silos table (its <c>/health</c> says so), and afterwards nothing of the warm-up is in the store or left on disk.
/// </summary>
public sealed class SiloWarmupTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("mw-silo-warmup-").FullName;

    private string Store => StoreNamed("middleware.db");

    private string StoreNamed(string file) => $"sqlite:{Path.Combine(_directory, file)}";

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task A_silo_is_not_live_in_the_cluster_until_it_has_warmed_up()
    {
        // 1,500 turns: long enough for /health to answer during the warm-up on most boxes (it polls every 20 ms), short
        // enough to end well within the warm-up's 10 s bound on a loaded box (with 4,000 a box at load 30 took 14 s for the
        // turns). On a quiet box the turns can be over before the HTTP listener first answers (1 run in 6 on session 15's
        // host): then the window this test checks was not observed, and it runs again with more turns, which such a box
        // finishes well within the bound.
        foreach (var turns in new[] { 1500, 6000 })
        {
            var last = turns == 6000;
            if (await NotLiveUntilWarmedUpAsync(turns, last)) return;
            output.WriteLine($"the warm-up of {turns} turns was over before /health first answered; again with more turns");
        }
    }

    /// <summary>
    /// One silo with <paramref name="turns"/> warm-up turns: false when the warm-up was over before /health first answered
    /// and this is not the <paramref name="last"/> try (the window was not observed); asserts everything else.
    /// </summary>
    private async Task<bool> NotLiveUntilWarmedUpAsync(int turns, bool last)
    {
        // Fixed ports, so /health can be read before the listening line (which comes after the join).
        var (port, httpPort) = (FreePort(), FreePort());
        var siloId = $"warm-{turns}";
        var store = StoreNamed($"warm-{turns}.db"); // each try its own store: a silo of an earlier try is not left in its silos table
        await using var silo = SiloProcess.Launch(["--store", store, "--port", Text(port), "--http-port", Text(httpPort), "--silo-id", siloId,
            "--components", SiloProcess.BankAssembly, "--Silo:Backends:ledger", SiloProcess.DefaultLedger, "--warmup-turns", Text(turns)]);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var warming = 0;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            Assert.True(DateTime.UtcNow < deadline, $"the silo did not join within 60 s:\n{silo.Stdout}\n{silo.Stderr}");
            // The silos table first, /health second: a silo the table lists has finished its warm-up by the time /health
            // answers. (The store exists once /health answers: the silo opens it before its listeners start.)
            var listed = warming > 0 && await ListedAsync(store, siloId);
            JsonElement health;
            try
            {
                health = JsonDocument.Parse(await http.GetStringAsync(new Uri($"http://127.0.0.1:{httpPort}/health"))).RootElement.Clone();
            }
            catch (HttpRequestException)
            {
                await Task.Delay(20); // the next look: this loop watches /health pass through "warming", not one condition
                continue; // not listening yet
            }

            var warmedUp = health.GetProperty("warmup").ValueKind != JsonValueKind.Null;
            if (listed)
            {
                Assert.True(warmedUp, $"the silo was live in the silos table before its warm-up finished: {health}");
                output.WriteLine($"joined after the warm-up: {health.GetProperty("warmup")}; /health answered {warming} time(s) while it warmed up");
                Assert.True(health.GetProperty("warmup").GetProperty("turns").GetInt32() > 0, health.ToString());
                Assert.Equal(JsonValueKind.Null, health.GetProperty("warmup").GetProperty("problem").ValueKind);
                break;
            }

            if (!warmedUp || warming == 0)
            {
                if (warmedUp && !last) return false;
                Assert.False(warmedUp, $"the warm-up of {turns} turns was over before /health first answered: {health}");
                warming++;
                Assert.Equal(JsonValueKind.Null, health.GetProperty("address").ValueKind); // not joined: no address in the cluster
            }

            await Task.Delay(20); // the next look at /health and the silos table
        }

        await silo.WaitListeningAsync();
        // The warm-up left nothing in the silo's store (no component of its own) and no scratch file behind.
        await using (var opened = await LogStores.OpenAsync(store))
            Assert.Empty(await opened.ListComponentsAsync());
        Assert.Empty(Directory.GetFiles(Path.GetTempPath(), $"middleware-warmup-{silo.Pid}-*"));
        Assert.True(warming > 0, $"/health never answered while the silo warmed up ({turns} turns): the window this test checks was not observed");

        // And it serves.
        await using var client = await MiddlewareClient.ConnectAsync(new MiddlewareClientOptions { Gateways = [silo.Protocol.ToString()] });
        Assert.Equal(7, await client.GetComponent<IAccount>("warmed").Deposit(7));
        await using (var opened = await LogStores.OpenAsync(store))
            Assert.Equal(["Account/warmed"], (await opened.ListComponentsAsync()).Select(h => h.ComponentId).ToArray());
        return true;
    }

    [Fact]
    public async Task With_warmup_turns_0_a_silo_joins_without_warming_up()
    {
        await using var silo = await SiloProcess.StartAsync(Store, "--warmup-turns", "0");
        using var http = new HttpClient();
        var health = JsonDocument.Parse(await http.GetStringAsync(new Uri($"http://{silo.Http}/health"))).RootElement;
        Assert.Equal(0, health.GetProperty("warmup").GetProperty("turns").GetInt32());
        Assert.DoesNotContain("warmed up", silo.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void The_warm_up_setting_is_read_and_a_negative_one_names_the_fix()
    {
        static SiloOptions Read(params string[] args) =>
            SiloSettings.Read(new ConfigurationBuilder().AddCommandLine(args, SiloSettings.SwitchMappings()).Build());
        Assert.Equal(0, Read().WarmupTurns);
        Assert.Equal(200, Read("--warmup-turns", "200").WarmupTurns);
        Assert.Equal(0, Read("--warmup-turns", "0").WarmupTurns);
        var error = Assert.Throws<SiloOptionsException>(() => Read("--warmup-turns", "-5"));
        Assert.Contains("MIDDLEWARE_WARMUP_TURNS", error.Message, StringComparison.Ordinal);
        Assert.Contains("0 to join without warming up", error.Message, StringComparison.Ordinal);
    }

    private static async Task<bool> ListedAsync(string storeSpec, string siloId)
    {
        await using var store = await LogStores.OpenAsync(storeSpec);
        return (await ((IClusterStore)store).ListSilosAsync()).Any(s => s.SiloId == siloId && s.IsLive);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);
}
