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
    private static readonly TimeSpan Patience = HeldTellerMove.Patience;

    [Fact]
    public async Task The_old_owner_killed_right_after_a_handover_its_group_commit_carried_loses_and_repeats_nothing()
    {
        // The busiest teller: its owner commits turns of it and of the accounts all the time, so the ownership write has
        // group commits to ride in.
        await using var held = await HeldTellerMove.StartAsync(seed: 11);
        var (cluster, client, teller, owner, destination) = (held.Cluster, held.Client, held.Teller, held.Owner, held.Destination);
        await cluster.KillTogetherAsync([owner], null);
        var acksAtKill = client.AckCount;

        // The answered ownership write is in the store, and the new owner serves the teller without the dead silo.
        await using (var store = await cluster.OpenStoreAsync())
            Assert.Equal(destination.Id, (await store.GetHeadAsync(teller))?.Owner);
        await client.WaitForAcksAsync(acksAtKill + 300, Patience);
        var moved = await held.Move.WaitAsync(Patience);
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
}
