using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using Middleware.Admin.Cli;
using Middleware.Tests.Support;

namespace Middleware.Tests.Dashboard;

/// <summary>
/// The dashboard's rules over HTTP, on <c>mw dashboard</c> run in process with a key: the data needs the key as a bearer
/// token, the page's files do not; nothing but GET and HEAD is answered; bad input is a 400 naming the fix.
/// </summary>
public sealed class DashboardAccessTests
{
    private const string Key = "dashboard-test-key-0123456789";

    [Fact]
    public async Task The_api_needs_the_key_and_answers_only_reads()
    {
        var directory = Directory.CreateTempSubdirectory("mw-dashboard-").FullName;
        var port = FreePort();
        using var stop = new CancellationTokenSource();
        using var output = new StringWriter();
        using var error = new StringWriter();
        Assert.Equal(0, await AdminCli.RunAsync(["db", "migrate", "--store", $"sqlite:{Path.Combine(directory, "m.db")}"], output, error));
        var serving = AdminCli.RunAsync(["dashboard", "--store", $"sqlite:{Path.Combine(directory, "m.db")}", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--cluster-key", Key], output, error, stop.Token);
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            await WaitServingAsync(http, serving, error);

            Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/dashboard/api/about")).StatusCode);
            using (var wrong = new HttpRequestMessage(HttpMethod.Get, "/dashboard/api/about"))
            {
                wrong.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Key + "x");
                Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(wrong)).StatusCode);
            }

            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Key);
            var about = await http.GetAsync("/dashboard/api/about");
            Assert.Equal(HttpStatusCode.OK, about.StatusCode);
            Assert.Contains("\"keyRequired\":true", await about.Content.ReadAsStringAsync(), StringComparison.Ordinal);

            // The page itself holds no data: served without the key, with a policy that allows no inline script.
            http.DefaultRequestHeaders.Authorization = null;
            var page = await http.GetAsync("/dashboard/");
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            Assert.Contains("script-src 'self'", page.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
            Assert.Equal(HttpStatusCode.MethodNotAllowed, (await http.PostAsync("/dashboard/api/about", null)).StatusCode);

            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Key);
            var bad = await http.GetAsync("/dashboard/api/log?id=no-slash");
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
            Assert.Contains("Type/key", await bad.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            var unknown = await http.GetAsync("/dashboard/api/component?id=Account%2Fnobody");
            Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
            var noTypes = await http.GetAsync("/dashboard/api/state?id=Account%2Fnobody");
            Assert.Contains("--components", await noTypes.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        finally
        {
            await stop.CancelAsync();
            var exit = await serving;
            Assert.True(exit == 0, $"mw dashboard exited {exit} after Ctrl+C: {error}");
            Directory.Delete(directory, recursive: true);
        }
    }

    private static async Task WaitServingAsync(HttpClient http, Task<int> serving, StringWriter error)
    {
        await Eventually.TrueAsync(async () =>
        {
            if (serving.IsCompleted) Assert.Fail($"mw dashboard exited {await serving}: {error}");
            try
            {
                await http.GetAsync("/dashboard/");
                return true;
            }
            catch (HttpRequestException)
            {
                return false; // not listening yet
            }
        }, "mw dashboard to start serving");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
