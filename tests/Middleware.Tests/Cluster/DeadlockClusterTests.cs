using Middleware.TestComponents;
using Middleware.Tests.Admin;
using Middleware.Tests.Silo;
using Middleware.Tests.Support;
using Xunit.Abstractions;

namespace Middleware.Tests.Cluster;

/// <summary>
/// Two requests that wait on each other (a's turn calls b while b's turn calls a), in real silo processes: on one silo
/// the cycle is found when the second wait-for edge is added; across two silos by the probe that follows the edges over
/// the silo-to-silo channel. Either way one call gets DeadlockException naming the cycle, well before the call deadline
/// (set to 60 s here), and the other request completes.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class DeadlockClusterTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(40);

    private static string[] Components => ["--components", $"{SiloProcess.BankAssembly};{typeof(Peer).Assembly.Location}", "--call-timeout-ms", "60000"];

    [Fact]
    public async Task A_two_request_deadlock_on_one_silo_is_broken_with_DeadlockException()
    {
        using var gate = new SiloGate(); // disposed after the cluster
        await using var cluster = await ClusterFixture.StartAsync(1, null, Components);
        await using var client = await cluster.ConnectAsync();
        var (a, b) = ($"a-{Guid.NewGuid():N}"[..12], $"b-{Guid.NewGuid():N}"[..12]);
        await AssertDeadlockBrokenAsync(client, a, b, gate);
    }

    [Fact]
    public async Task A_two_request_deadlock_across_two_silos_is_broken_by_a_probe_with_DeadlockException()
    {
        using var gate = new SiloGate();
        await using var cluster = await ClusterFixture.StartAsync(2, null, Components);
        await using var client = await cluster.ConnectAsync();

        var (a, b) = await PeersOnTwoSilosAsync(cluster, client);
        await AssertDeadlockBrokenAsync(client, a, b, gate);
    }

    [Fact]
    public async Task A_deadlock_across_two_silos_is_broken_while_one_of_its_components_is_being_moved()
    {
        // A handover (mw move, or the rebalancer) waits for the component's turn in progress. When that turn is in a
        // deadlock, the probe that must find the cycle and the outcome query that fences the victim's call both reach the
        // moving component: they are answered by its activation, not queued behind the handover that waits on them.
        // Rebalancing off: it would move a back to its rendezvous owner at its next scan, racing the assertions on the owner.
        using var gateOfA = new SiloGate();
        using var gateOfB = new SiloGate();
        await using var cluster = await ClusterFixture.StartAsync(2, null, [.. Components, "--rebalance-per-second", "0"]);
        await using var client = await cluster.ConnectAsync();
        var (a, b) = await PeersOnTwoSilosAsync(cluster, client);
        var siloOfB = (await cluster.OwnerOfAsync($"Peer/{b}"))!.SiloId;
        var siloOfA = cluster.Silos.Single(s => s.SiloId != siloOfB);

        // b's wait starts later, so b's call is the victim: the silo of b must probe a and fence its call to a, while a's
        // silo is handing a over to b's silo and waits for a's turn (which waits on b) to end. Each step waits for the one
        // before it to be seen: a's turn holds a (the move below waits for it), b's turn holds b, a's call waits on b, and
        // only then does b call a.
        var started = System.Diagnostics.Stopwatch.StartNew();
        var first = client.GetComponent<IPeer>(a).CallPeer(b, 0, gateOfA.Name, "", 0);
        await gateOfA.WaitArrivedAsync(1, $"a's turn to hold Peer/{a}", Patience);
        var move = AdminFixture.Mw("move", $"Peer/{a}", "--to", siloOfB, "--store", cluster.Store);
        var second = client.GetComponent<IPeer>(b).CallPeer(a, 0, gateOfB.Name, "", 0);
        await gateOfB.WaitArrivedAsync(1, $"b's turn to hold Peer/{b}", Patience);
        gateOfA.Open();
        await siloOfA.WaitForMetricAsync("middleware_silo_calls_waiting", 1, Patience); // a's turn is parked in its call to b
        gateOfB.Open();
        var results = await Task.WhenAll(first, second).WaitAsync(Patience);
        output.WriteLine($"after {started.ElapsedMilliseconds} ms (load {File.ReadAllText("/proc/loadavg").Trim()}): {string.Join(" | ", results)}");

        Assert.StartsWith("reply:", results[0], StringComparison.Ordinal);
        Assert.StartsWith("DeadlockException:", results[1], StringComparison.Ordinal);
        Assert.Contains($"Peer/{a}", results[1]);
        var moved = await move.WaitAsync(Patience);
        Assert.True(moved.Code == 0, moved.Err);
        Assert.Equal(siloOfB, (await cluster.OwnerOfAsync($"Peer/{a}"))?.SiloId);

        // The fenced call never ran on a (its one piece of work is the placement call), and both outcomes are recorded once.
        var stateOfA = await client.GetComponent<IPeer>(a).Read();
        Assert.Equal(1, stateOfA.Worked);
        Assert.Equal(results[0], Assert.Single(stateOfA.Outcomes));
        Assert.Equal(results[1], Assert.Single((await client.GetComponent<IPeer>(b).Read()).Outcomes));
    }

    /// <summary>Two peers, one on each silo (rendezvous spreads keys, so a few tries find one of each).</summary>
    private async Task<(string A, string B)> PeersOnTwoSilosAsync(ClusterFixture cluster, Middleware.Client.MiddlewareClient client)
    {
        var bySilo = new Dictionary<string, string>();
        for (var i = 0; i < 60 && bySilo.Count < 2; i++)
        {
            var key = $"p{i}-{Guid.NewGuid():N}"[..14];
            await client.GetComponent<IPeer>(key).Work("");
            var owner = await cluster.OwnerOfAsync($"Peer/{key}") ?? throw new InvalidOperationException($"Peer/{key} has no owner");
            bySilo.TryAdd(owner.SiloId, key);
        }

        Assert.Equal(2, bySilo.Count);
        output.WriteLine($"peers: {string.Join(", ", bySilo.Select(kv => $"Peer/{kv.Value} on {kv.Key}"))}");
        var keys = bySilo.Values.ToArray();
        return (keys[0], keys[1]);
    }

    private async Task AssertDeadlockBrokenAsync(Middleware.Client.MiddlewareClient client, string a, string b, SiloGate gate)
    {
        // Both turns start and wait at the gate; once both hold their component the gate opens and each calls the other.
        var started = System.Diagnostics.Stopwatch.StartNew();
        var first = client.GetComponent<IPeer>(a).CallPeer(b, 0, gate.Name, "", 0);
        var second = client.GetComponent<IPeer>(b).CallPeer(a, 0, gate.Name, "", 0);
        await gate.WaitArrivedAsync(2, $"both turns to hold their component (Peer/{a}, Peer/{b})", Patience);
        gate.Open();
        var results = await Task.WhenAll(first, second).WaitAsync(Patience);
        output.WriteLine($"after {started.ElapsedMilliseconds} ms (load {File.ReadAllText("/proc/loadavg").Trim()}): {string.Join(" | ", results)}");

        var victim = Assert.Single(results, r => r.StartsWith("DeadlockException:", StringComparison.Ordinal));
        Assert.Contains($"Peer/{a}", victim);
        Assert.Contains($"Peer/{b}", victim);
        Assert.Single(results, r => r.StartsWith("reply:", StringComparison.Ordinal));

        // The outcome is part of the component's state (recorded with the turn), and a retry of either request repeats it.
        Assert.Equal(results[0], Assert.Single((await client.GetComponent<IPeer>(a).Read()).Outcomes));
        Assert.Equal(results[1], Assert.Single((await client.GetComponent<IPeer>(b).Read()).Outcomes));
    }
}
