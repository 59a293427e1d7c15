using System.Diagnostics;
using System.Text.RegularExpressions;
using Middleware.Protocol;
using Middleware.Tests.Transport;
using Xunit.Abstractions;
using Middleware.Tests.Support;

namespace Middleware.Tests.Silo;

/// <summary>
/// The outside probe that leaked ~600 MB per round and stalled SIGTERM for 33 s, against a real silo process: peers that
/// fill their window without reading and then disconnect leave no connection, no memory and no slow shutdown behind.
/// </summary>
[Collection(Cluster.ClusterCollection.Name)]
public sealed partial class SiloConnectionLeakTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("mw-leak-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task Peers_that_never_read_and_vanish_leave_no_connection_behind_and_the_silo_stops_promptly()
    {
        await using var silo = await SiloProcess.StartAsync($"sqlite:{Path.Combine(_directory, "middleware.db")}");
        using var http = new HttpClient { BaseAddress = new Uri($"http://{silo.Http}") };
        var before = silo.ResidentMiB();
        // More requests than the in-flight window (10,000) so the old reader waited for a slot nobody would free.
        var payload = new byte[16 * 1024];
        var burst = Enumerable.Range(1, 10_500).SelectMany(i => FrameWriter.ToArray((ulong)i, new EchoMessage(payload))).ToArray();
        for (var round = 1; round <= 3; round++)
        {
            var paused = await silo.ReadMetricAsync("middleware_read_pauses_total");
            await using var peer = await RawPeer.ConnectAsync(silo.Protocol);
            await peer.HandshakeAsync();
            _ = peer.SendAsync(burst); // 165 MiB of replies asked for, none read
            // The peer vanishes once the silo has stopped reading from it, its replies unread.
            await silo.WaitForMetricAsync("middleware_read_pauses_total", paused + 1, TimeSpan.FromSeconds(30));
        }

        await Eventually.TrueAsync(async () => ActiveConnections(await http.GetStringAsync("/metrics")) == 0, "the abandoned connections to be closed (middleware_connections_active 0)");

        var after = silo.ResidentMiB();
        output.WriteLine($"resident memory: {before:0} MiB before, {after:0} MiB after 3 rounds of 10,500 unread 16 KiB echoes");
        Assert.True(after - before < 200, $"resident memory grew from {before:0} to {after:0} MiB");

        var stop = Stopwatch.StartNew();
        silo.Terminate();
        Assert.Equal(0, await silo.WaitForExitAsync());
        output.WriteLine($"SIGTERM to exit: {stop.ElapsedMilliseconds} ms");
        Assert.True(stop.Elapsed < TimeSpan.FromSeconds(5), $"the silo took {stop.Elapsed} to stop");
    }

    private static int ActiveConnections(string metrics) => int.Parse(ActiveLine().Match(metrics).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^middleware_connections_active (\d+)$", RegexOptions.Multiline)]
    private static partial Regex ActiveLine();
}
