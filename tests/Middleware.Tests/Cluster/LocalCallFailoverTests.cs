using Bank;
using Xunit.Abstractions;
using Middleware.Tests.Support;

namespace Middleware.Tests.Cluster;

/// <summary>
/// Component-to-component calls between components of the same silo take the router's local path (straight into the
/// runtime, no protocol messages): killing that silo under a load of such calls must still move each transfer exactly once.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class LocalCallFailoverTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    private static Task WaitUntilAsync(Func<bool> condition, string what) => Eventually.TrueAsync(condition, what, Patience);

    [Fact]
    public async Task Transfers_between_components_of_one_silo_apply_once_when_that_silo_is_killed()
    {
        await using var cluster = await ClusterFixture.StartAsync(2);
        await using var client = await cluster.ConnectAsync();
        var prefix = Guid.NewGuid().ToString("N")[..6];

        // Touch candidates until a teller and three accounts live on the same silo: their calls are local there.
        var bySilo = new Dictionary<string, (List<string> Accounts, List<string> Tellers)>();
        for (var i = 0; i < 40; i++)
        {
            var account = $"{prefix}-a{i}";
            await client.GetComponent<IAccount>(account).Deposit(1000);
            var teller = $"{prefix}-t{i}";
            Assert.Equal(0, (await client.GetComponent<ITeller>(teller).Totals()).Transfers);
            foreach (var (component, isTeller) in new[] { ($"Account/{account}", false), ($"Teller/{teller}", true) })
            {
                var owner = (await cluster.OwnerOfAsync(component))?.SiloId ?? throw new InvalidOperationException($"{component} has no owner");
                if (!bySilo.TryGetValue(owner, out var lists)) bySilo[owner] = lists = ([], []);
                (isTeller ? lists.Tellers : lists.Accounts).Add(component[(component.IndexOf('/') + 1)..]);
            }
        }

        var (silo, (accounts, tellers)) = bySilo.First(e => e.Value.Accounts.Count >= 3 && e.Value.Tellers.Count >= 2);
        var victim = cluster.Silos.Single(s => s.SiloId == silo);
        var allAccounts = bySilo.Values.SelectMany(v => v.Accounts).ToList();
        output.WriteLine($"{silo} owns accounts {string.Join(", ", accounts)} and tellers {string.Join(", ", tellers)}");

        var load = TellerLoad.Start(client, tellers, accounts, maxAmount: 40);
        await WaitUntilAsync(() => load.Total >= 200 || load.Failures.Count > 0, "200 transfers before the kill");
        await victim.KillAsync();
        var atKill = load.Total;
        await WaitUntilAsync(() => load.Total >= atKill + 200 || load.Failures.Count > 0, "200 transfers after the kill");
        await load.StopAsync(Patience);

        Assert.Empty(load.Failures);
        long sum = 0;
        foreach (var account in allAccounts) sum += await client.GetComponent<IAccount>(account).Balance();
        Assert.Equal(allAccounts.Count * 1000L, sum);
        foreach (var teller in tellers)
            Assert.Equal(load.CompletedBy(teller), (await client.GetComponent<ITeller>(teller).Totals()).Transfers);
        output.WriteLine($"killed {silo} after {atKill} transfers; {load.Total} attempted, {load.Completed} completed; money conserved, each teller's count matches");
    }
}
