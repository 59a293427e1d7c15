using System.Collections.Concurrent;
using Bank;
using Xunit.Abstractions;

namespace Middleware.Tests.Cluster;

/// <summary>
/// Component-to-component calls between components of the same silo take the router's local path (straight into the
/// runtime, no protocol messages): killing that silo under a load of such calls must still move each transfer exactly once.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class LocalCallFailoverTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"waited {Patience.TotalSeconds} s for {what}");
            await Task.Delay(20);
        }
    }

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

        var completed = new ConcurrentDictionary<string, long>();
        var failures = new ConcurrentQueue<Exception>();
        using var stop = new CancellationTokenSource();
        long total = 0;
        async Task WorkerAsync(int worker)
        {
            var random = new Random(worker);
            var teller = tellers[worker % tellers.Count];
            while (!stop.IsCancellationRequested)
            {
                var from = random.Next(accounts.Count);
                var to = (from + 1 + random.Next(accounts.Count - 1)) % accounts.Count;
                try
                {
                    await client.GetComponent<ITeller>(teller).Transfer(accounts[from], accounts[to], random.Next(1, 40));
                    completed.AddOrUpdate(teller, 1, (_, v) => v + 1);
                }
                catch (InsufficientFundsException)
                {
                    // Refused: nothing moved.
                }
                catch (Exception e)
                {
                    failures.Enqueue(e);
                    return;
                }

                Interlocked.Increment(ref total);
            }
        }

        var workers = Enumerable.Range(0, 8).Select(w => Task.Run(() => WorkerAsync(w))).ToArray();
        await WaitUntilAsync(() => Interlocked.Read(ref total) >= 200 || !failures.IsEmpty, "200 transfers before the kill");
        await victim.KillAsync();
        var atKill = Interlocked.Read(ref total);
        await WaitUntilAsync(() => Interlocked.Read(ref total) >= atKill + 200 || !failures.IsEmpty, "200 transfers after the kill");
        await stop.CancelAsync();
        await Task.WhenAll(workers).WaitAsync(Patience);

        Assert.Empty(failures);
        long sum = 0;
        foreach (var account in allAccounts) sum += await client.GetComponent<IAccount>(account).Balance();
        Assert.Equal(allAccounts.Count * 1000L, sum);
        foreach (var teller in tellers)
            Assert.Equal(completed.GetValueOrDefault(teller), (await client.GetComponent<ITeller>(teller).Totals()).Transfers);
        output.WriteLine($"killed {silo} after {atKill} transfers; {total} attempted, {completed.Values.Sum()} completed; money conserved, each teller's count matches");
    }
}
