using Middleware.Tests.Admin;
using Middleware.Tests.Crash;
using Xunit.Abstractions;

namespace Middleware.Tests.Cluster;

/// <summary>
/// On SQLite a handover's ownership write rides in the old owner's next write transaction, a group commit of other
/// components' turns or the claim drain's (<c>ClaimCombiner</c>), and is answered once that committed. The old owner is
/// SIGKILLed under load right after the answer (the fault point <c>MIDDLEWARE_FAULT_HOLD_MOVE_WARM</c> holds it there,
/// between the handover and the new owner's warm-up): the store must name the new owner, the component must be served
/// there without the dead silo, and no acknowledged request may be lost or repeated.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class HandOverKillTests(ITestOutputHelper output)
{
    private const string Holding = "fault point: holding the warm-up of ";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task The_old_owner_killed_right_after_a_handover_its_group_commit_carried_loses_and_repeats_nothing()
    {
        var lines = new System.Collections.Concurrent.ConcurrentQueue<(string Silo, string Line)>();
        var accounts = Enumerable.Range(0, 8).Select(i => $"acct-{i}").ToArray();
        var tellers = Enumerable.Range(0, 3).Select(i => $"teller-{i}").ToArray();
        await using var cluster = await BankCluster.StartAsync(siloEnvironment: null, onOutput: (silo, line) => lines.Enqueue((silo, line)),
            idPrefix: null, store: null, environment: new Dictionary<string, string> { ["MIDDLEWARE_FAULT_HOLD_MOVE_WARM"] = "Teller/:8000" });
        await using var client = ClientProcess.Start(cluster.Gateways, accounts, tellers, workers: 16, seed: 11);
        await client.WaitForAcksAsync(300, Patience);

        // The busiest teller: its owner commits turns of it and of the accounts all the time, so the ownership write has
        // group commits to ride in.
        var (teller, owner) = await cluster.BusiestAsync("Teller");
        Assert.NotNull(owner);
        var destination = cluster.Launcher.Running.First(s => s != owner);
        var move = AdminFixture.Mw("move", teller, "--to", destination.Id, "--store", cluster.Store);
        await WaitUntilAsync(() => lines.Any(l => l.Silo == owner!.Id && l.Line.Contains(Holding + teller, StringComparison.Ordinal)), $"{owner!.Id} to hold the warm-up of {teller}");
        await cluster.KillTogetherAsync([owner], null);
        var acksAtKill = client.AckCount;

        // The answered ownership write is in the store, and the new owner serves the teller without the dead silo.
        await using (var store = await cluster.OpenStoreAsync())
            Assert.Equal(destination.Id, (await store.GetHeadAsync(teller))?.Owner);
        await client.WaitForAcksAsync(acksAtKill + 300, Patience);
        var moved = await move.WaitAsync(Patience);
        output.WriteLine($"{owner.Id} handed {teller} to {destination.Id} and was SIGKILLed before its warm-up; {client.AckCount - acksAtKill} acks since; " +
                         $"mw move: exit {moved.Code} {moved.Out.Trim()} {moved.Err.Trim()}");
        Assert.Contains(client.Acks.Skip(acksAtKill), a => a.Component == teller);

        await cluster.RestartAsync([owner.Id]);
        Assert.Equal(0, await client.StopAsync(Patience));
        var report = await cluster.SettleAndAuditAsync(client.Acks, Patience);
        output.WriteLine($"{client.Acks.Count} acks ({client.Acks.Count(a => a.Method == "Transfer")} transfers)");
        report.WriteTo(output);
        Assert.True(report.Passed, report.Describe());
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Gave up waiting for {what} after {Patience.TotalSeconds:0} s.");
            await Task.Delay(50);
        }
    }
}
