using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Bank;
using Microsoft.Playwright;
using Middleware.Admin.Cli;
using Middleware.Client;
using Middleware.Tests.Cluster;
using Xunit.Abstractions;

namespace Middleware.Tests.Dashboard;

/// <summary>
/// The dashboard in a real browser: the system's Chromium, driven headless by Playwright, against real silo processes
/// under load. What a person looking at it would notice: the cluster page lists the silos as live, the charts move, the
/// busiest components are listed; a component's page shows its log and state, the same as <c>mw log</c> and
/// <c>mw state</c> print for it; a silo killed with SIGKILL turns dead on the page. With <c>MW_SCREENSHOTS</c> set to a
/// directory it also saves the main pages there as PNG (docs/screenshots.sh).
/// </summary>
public sealed class DashboardBrowserTests(ITestOutputHelper output)
{
    /// <summary>Where Debian's chromium package puts the browser.</summary>
    public const string Chromium = "/usr/bin/chromium";

    private const float Patience = 20_000;

    [Fact]
    public async Task The_dashboard_shows_a_live_cluster_a_component_as_mw_does_and_a_killed_silo_as_dead()
    {
        if (!File.Exists(Chromium))
        {
            // Not a skip: CI installs it (.ci/run), and a developer should know why this test cannot run.
            Assert.Fail($"{Chromium} is missing: the dashboard's browser test drives the system's Chromium. Install it with: sudo apt-get install -y chromium");
        }

        var screenshots = Environment.GetEnvironmentVariable("MW_SCREENSHOTS");
        await using var cluster = await ClusterFixture.StartAsync(2);
        await using var client = await cluster.ConnectAsync();
        using var stop = new CancellationTokenSource();
        var load = Task.WhenAll(Enumerable.Range(0, 4).Select(worker => LoadAsync(client, worker, stop.Token)));
        try
        {
            using var playwright = await Playwright.CreateAsync();
            await using var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = Chromium, Headless = true });
            var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1500, Height = 1000 } });
            var errors = new List<string>();
            page.Console += (_, m) => { if (m.Type == "error") errors.Add(m.Text); };
            page.PageError += (_, e) => errors.Add(e);
            var (first, second) = (cluster.Silos[0], cluster.Silos[1]);
            await page.GotoAsync($"http://{first.Http}/dashboard/");

            // The cluster page: both silos live, the charts moving, the busiest components listed.
            foreach (var silo in cluster.Silos)
                await page.Locator($"#silos-table tr[data-silo='{silo.SiloId}'][data-status='live']").WaitForAsync(new() { Timeout = Patience });
            var total = page.Locator("#chart-throughput polyline[data-series='total']");
            await page.WaitForFunctionAsync("() => Number(document.querySelector('#chart-throughput')?.getAttribute('data-points')) >= 3", null, new() { Timeout = Patience });
            var before = await total.GetAttributeAsync("points");
            await page.WaitForFunctionAsync("() => Number(document.querySelector('#chart-throughput')?.getAttribute('data-points')) >= 6", null, new() { Timeout = Patience });
            var after = await total.GetAttributeAsync("points");
            Assert.NotEqual(before, after);
            // Under load the cluster answers requests every second: the total is above zero, and so is the latency.
            await page.WaitForFunctionAsync("() => Number((document.querySelector('#chart-throughput')?.getAttribute('data-last') || '0').split(' ')[0]) > 0", null, new() { Timeout = Patience });
            await page.WaitForFunctionAsync("() => Number((document.querySelector('#chart-latency')?.getAttribute('data-last') || '0').split(' ')[0]) > 0", null, new() { Timeout = Patience });
            await page.Locator("#busiest-table tr[data-component]").First.WaitForAsync(new() { Timeout = Patience });
            if (screenshots is not null) await ShotAsync(page, screenshots, "dashboard-cluster.png");

            // A component's page: its log and its state, as mw shows them.
            const string Teller = "Teller/t-0";
            await page.GotoAsync($"http://{first.Http}/dashboard/#/component/{Uri.EscapeDataString(Teller)}");
            await page.Locator("#log-table tr[data-seq]").First.WaitForAsync(new() { Timeout = Patience });
            await page.WaitForFunctionAsync("() => document.querySelector('#state-json')?.hasAttribute('data-seq')", null, new() { Timeout = Patience });
            await CompareLogWithMwAsync(page, cluster.Store, Teller);
            await CompareStateWithMwAsync(page, cluster.Store, Teller);
            if (screenshots is not null) await ShotAsync(page, screenshots, "dashboard-component.png");
            var requestId = await page.Locator("#log-table tr.turn td:nth-child(5)").First.InnerTextAsync();

            // A component id is user text: shown as text, never as markup.
            const string Hostile = "Account/<img src=x onerror=\"document.title='pwned'\">";
            await page.GotoAsync($"http://{first.Http}/dashboard/#/component/{Uri.EscapeDataString(Hostile)}");
            await page.Locator("#error:not([hidden])").WaitForAsync(new() { Timeout = Patience });
            Assert.Equal(Hostile, await page.Locator("#component-id").InnerTextAsync());
            Assert.Equal(0, await page.Locator("#component-id img").CountAsync());
            Assert.NotEqual("pwned", await page.TitleAsync());

            // A request id from the log: the outcome page calls it committed.
            await page.GotoAsync($"http://{first.Http}/dashboard/#/outcome");
            await page.Locator("#outcome-request").FillAsync(requestId);
            await page.Locator("#outcome-component").FillAsync(Teller);
            await page.Locator("#outcome-form button").ClickAsync();
            await page.Locator("#outcome dl[data-outcome='committed']").WaitForAsync(new() { Timeout = Patience });

            // An audit of the teller: clean.
            await page.GotoAsync($"http://{first.Http}/dashboard/#/audit");
            await page.Locator("#audit-type").FillAsync("Teller");
            await page.Locator("#audit-form button").ClickAsync();
            await page.Locator("#audit-verdict[data-clean='true']").WaitForAsync(new() { Timeout = Patience });
            if (screenshots is not null) await ShotAsync(page, screenshots, "dashboard-audit.png");

            // SIGKILL the second silo: the first's dashboard shows it dead once its window passes.
            await page.GotoAsync($"http://{first.Http}/dashboard/#/");
            await page.Locator($"#silos-table tr[data-silo='{second.SiloId}'][data-status='live']").WaitForAsync(new() { Timeout = Patience });
            await second.KillAsync();
            await page.Locator($"#silos-table tr[data-silo='{second.SiloId}'][data-status='dead']").WaitForAsync(new() { Timeout = Patience });
            Assert.Equal("dead", await page.Locator($"#silos-table tr[data-silo='{second.SiloId}'] td:nth-child(4)").InnerTextAsync());
            Assert.DoesNotContain(errors, e => !e.Contains("Failed to load resource", StringComparison.Ordinal));
        }
        finally
        {
            await stop.CancelAsync();
            await load;
        }
    }

    /// <summary>Deposits and teller transfers (component calls: outbound records) until stopped.</summary>
    private static async Task LoadAsync(MiddlewareClient client, int worker, CancellationToken stop)
    {
        for (var i = 0; !stop.IsCancellationRequested; i++)
        {
            try
            {
                if (i % 3 == 0) await client.GetComponent<ITeller>($"t-{worker % 2}").Transfer($"a-{worker}", $"a-{(worker + 1) % 4}", 1);
                else await client.GetComponent<IAccount>($"a-{worker}").Deposit(2);
            }
            catch (Exception) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is InsufficientFundsException or Middleware.Core.RequestNotAcknowledgedException)
            {
                // A takeover after the kill: the next request goes on.
            }
        }
    }

    /// <summary>Every record the page lists has the request id, method, outbound calls and reply that <c>mw log --json</c> gives.</summary>
    private async Task CompareLogWithMwAsync(IPage page, string store, string component)
    {
        var rows = page.Locator("#log-table tr[data-seq]");
        var count = await rows.CountAsync();
        Assert.True(count > 0);
        var shown = new Dictionary<long, IReadOnlyList<string>>();
        for (var i = 0; i < count; i++)
        {
            var row = rows.Nth(i);
            var seq = long.Parse((await row.GetAttributeAsync("data-seq"))!, CultureInfo.InvariantCulture);
            shown[seq] = await row.Locator("td").AllInnerTextsAsync();
        }

        var mw = JsonNode.Parse(await MwAsync("log", component, "--from", shown.Keys.Min().ToString(CultureInfo.InvariantCulture), "--to", shown.Keys.Max().ToString(CultureInfo.InvariantCulture), "--store", store, "--json"))!;
        var records = mw["records"]!.AsArray();
        Assert.Equal(shown.Count, records.Count);
        var withCalls = 0;
        foreach (var record in records)
        {
            var cells = shown[record!["seq"]!.GetValue<long>()];
            Assert.Equal(record["kind"]!.GetValue<string>(), cells[1]);
            Assert.Equal(record["requestId"]!.GetValue<string>(), cells[4]);
            Assert.Equal(record["method"]!.GetValue<string>(), cells[7]);
            foreach (var call in record["outbound"]!.AsArray())
            {
                Assert.Contains($"{call!["target"]}.{call["operation"]} [{call["requestId"]}]", cells[10], StringComparison.Ordinal);
                withCalls++;
            }

            if (record["reply"] is { } reply) Assert.Equal(reply.ToJsonString(), cells[11]);
        }

        Assert.True(withCalls > 0, "the teller's log shows no outbound calls; its transfers make two each");
        output.WriteLine($"log of {component}: {records.Count} record(s) on the page match mw log, {withCalls} outbound call(s)");
    }

    /// <summary>The state the page shows is <c>mw state --seq N --json</c>'s for the seq it names.</summary>
    private async Task CompareStateWithMwAsync(IPage page, string store, string component)
    {
        var pre = page.Locator("#state-json");
        var seq = await pre.GetAttributeAsync("data-seq");
        var shown = JsonNode.Parse(await pre.InnerTextAsync());
        var mw = JsonNode.Parse(await MwAsync("state", component, "--seq", seq!, "--components", Silo.SiloProcess.BankAssembly, "--store", store, "--json"))!;
        Assert.True(JsonNode.DeepEquals(mw["state"], shown), $"page: {shown?.ToJsonString()}; mw state: {mw["state"]?.ToJsonString()}");
        output.WriteLine($"state of {component} at seq {seq} matches mw state: {shown?.ToJsonString()}");
    }

    private static async Task<string> MwAsync(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var exit = await AdminCli.RunAsync(args, stdout, stderr);
        Assert.True(exit == 0, $"mw {string.Join(' ', args)} exited {exit}: {stderr}");
        return stdout.ToString();
    }

    private async Task ShotAsync(IPage page, string directory, string name)
    {
        Directory.CreateDirectory(directory);
        await Task.Delay(1500); // on purpose, for the picture only: one more poll, so the charts have a few seconds of history
        await page.ScreenshotAsync(new() { Path = Path.Combine(directory, name), FullPage = false });
        output.WriteLine($"screenshot: {Path.Combine(directory, name)}");
    }
}
