using System.Globalization;
using System.Text.Json;
using Bank;
using Middleware.Tests.Admin;
using Middleware.Tests.Silo;
using Xunit.Abstractions;
using Middleware.Tests.Support;

namespace Middleware.Tests.Cluster;

/// <summary>
/// What a client notices of a rebalancing move, with real silo processes on one SQLite file: the component is already
/// active at its new silo when its next request arrives (the old owner asks the new one to activate it right after the
/// handover), so that request neither waits for a claim and a checkpoint read nor replays anything, and it answers
/// with every earlier deposit in place.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class RebalancingWarmTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task A_moved_component_is_active_at_its_new_silo_before_its_next_request()
    {
        await using var cluster = await ClusterFixture.StartAsync(3);
        await using var client = await cluster.ConnectAsync();
        var keys = Enumerable.Range(0, 48).Select(i => $"warm-{Guid.NewGuid():N}"[..14] + i).ToArray();
        foreach (var key in keys) await client.GetComponent<IAccount>(key).Deposit(5);

        var fourth = await cluster.StartSiloAsync(cluster.Silos[0].SiloId[..^1] + "4");
        var share = 0;
        await WaitUntilAsync(async () =>
        {
            var status = await StatusAsync(cluster);
            // The fourth silo may not be listed yet, or listed before its share is known (null): wait again, do not throw.
            var listed = status.GetProperty("silos").EnumerateArray().Where(s => s.GetProperty("siloId").GetString() == fourth.SiloId).ToArray();
            if (listed.Length == 0 || listed[0].GetProperty("rendezvousShare").ValueKind != System.Text.Json.JsonValueKind.Number) return false;
            share = listed[0].GetProperty("rendezvousShare").GetInt32();
            return status.GetProperty("live").GetInt32() == 4 && status.GetProperty("misplaced").GetInt32() == 0
                && listed[0].GetProperty("componentsOwned").GetInt32() == share;
        }, "the fourth silo to own its rendezvous share");
        Assert.InRange(share, 1, keys.Length - 1);

        // No request has reached the moved components since they moved, yet each has been activated on the fourth silo (an
        // activation counts as started once it serves).
        var activated = 0.0;
        await WaitUntilAsync(async () => (activated = await fourth.ReadMetricAsync("middleware_activations_started_total")) >= share,
            $"the {share} moved components to be active on the fourth silo");
        var replayed = await ReplaysAsync(fourth);
        output.WriteLine($"the fourth silo owns {share} of {keys.Length}, {activated} activations started there before any request, {replayed} records replayed");

        // Their next requests are served by those activations: no activation on a request, no replay, nothing lost.
        foreach (var key in keys) Assert.Equal(6, await client.GetComponent<IAccount>(key).Deposit(1));
        Assert.Equal(activated, await fourth.ReadMetricAsync("middleware_activations_started_total"));
        Assert.Equal(replayed, await ReplaysAsync(fourth));
        Assert.True(await fourth.ReadMetricAsync("middleware_activations") >= share);
    }

    /// <summary>Log records replayed by activations on <paramref name="silo"/>: the engine's replays counter, summed over its labels.</summary>
    private static async Task<double> ReplaysAsync(SiloProcess silo)
    {
        using var http = new HttpClient();
        var text = await http.GetStringAsync(new Uri($"http://{silo.Http}/metrics"));
        return text.Split('\n').Where(l => l.StartsWith("middleware_engine_replays", StringComparison.Ordinal) && !l.StartsWith('#'))
            .Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));
    }

    private static async Task<JsonElement> StatusAsync(ClusterFixture cluster)
    {
        var run = await AdminFixture.Mw("cluster", "status", "--json", "--store", cluster.Store);
        Assert.True(run.Code == 0, run.Err);
        return JsonDocument.Parse(run.Out).RootElement.Clone();
    }

    private static Task WaitUntilAsync(Func<Task<bool>> condition, string what) => Eventually.TrueAsync(condition, what, Patience);
}
