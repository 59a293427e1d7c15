using Bank;
using Middleware.Tests.Admin;
using Middleware.Tests.Crash;
using Middleware.Tests.Silo;
using Xunit.Abstractions;

namespace Middleware.Tests.Cluster;

/// <summary>
/// A handover whose warm-up is late: the old owner pauses (the fault point <c>MIDDLEWARE_FAULT_HOLD_MOVE_WARM</c>) after
/// it handed a component over and before it asks the new owner to activate it. Meanwhile the component's requests go on
/// at the new owner, the component may move on, and the new owner may die together with its client; the late warm-up
/// must then neither take the component back nor repeat or lose a request.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class HeldWarmUpTests(ITestOutputHelper output)
{
    private const string Holding = HeldTellerMove.Holding;
    private const string Sending = HeldTellerMove.Sending;
    private static readonly TimeSpan Patience = HeldTellerMove.Patience;

    [Fact]
    public async Task A_warm_up_that_arrives_after_the_component_moved_on_does_not_take_it_back()
    {
        // Rebalancing off: every move here is the test's own.
        await using var cluster = await ClusterFixture.StartAsync(2, null, "--rebalance-per-second", "0");
        var key = $"held-{Guid.NewGuid():N}"[..14];
        var component = $"Account/{key}";
        var held = await cluster.StartSiloAsync(cluster.Silos[0].SiloId[..^1] + "3",
            new Dictionary<string, string> { ["MIDDLEWARE_FAULT_HOLD_MOVE_WARM"] = component + ":6000" }, "--rebalance-per-second", "0");
        await cluster.WaitAllSeeEachOtherAsync();
        var (b, c) = (cluster.Silos[0], cluster.Silos[1]);
        await using var client = await cluster.ConnectAsync();
        var account = client.GetComponent<IAccount>(key);

        Assert.Equal(10, await account.Deposit(10));
        await MoveAsync(cluster, component, held);
        Assert.Equal(11, await account.Deposit(1));

        // The holding silo hands the account to b and holds the warm-up; the account's next request activates it at b.
        var first = AdminFixture.Mw("move", component, "--to", b.SiloId, "--store", cluster.Store);
        await WaitForLineAsync(held, Holding + component);
        Assert.Equal(12, await account.Deposit(1));
        Assert.Equal(b.SiloId, (await cluster.HeadOfAsync(component))!.Owner);

        // It moves on to c before the warm-up reaches b.
        await MoveAsync(cluster, component, c);
        Assert.Equal(13, await account.Deposit(1));
        var atC = await cluster.HeadOfAsync(component);
        Assert.Equal(c.SiloId, atC!.Owner);
        Assert.DoesNotContain(Sending + component, held.Stdout);

        // The late warm-up reaches b, which must not claim the account away from its live owner c.
        await WaitForLineAsync(held, Sending + component);
        var moved = await first.WaitAsync(Patience);
        Assert.True(moved.Code == 0, moved.Err);
        var after = await cluster.HeadOfAsync(component);
        output.WriteLine($"{held.SiloId} handed {component} to {b.SiloId} and held its warm-up; it moved on to {c.SiloId} (epoch {atC.Epoch}); after the late warm-up: owner {after!.Owner}, epoch {after.Epoch}");
        Assert.Equal((c.SiloId, atC.Epoch), (after.Owner, after.Epoch));
        Assert.Equal(14, await account.Deposit(1));
        Assert.Equal((c.SiloId, atC.Epoch), ((await cluster.HeadOfAsync(component))!.Owner, (await cluster.HeadOfAsync(component))!.Epoch));
    }

    [Fact]
    public async Task The_new_owner_killed_with_its_client_while_the_warm_up_is_held_loses_and_repeats_nothing()
    {
        // Every silo holds the warm-up of its first teller handover: the test's move, and perhaps a rebalancing move after the
        // kill (both best effort by design; a held one only delays the activation it asks for). The busiest teller makes
        // account calls all the time, so its new owner dies with turns of it half done.
        await using var held = await HeldTellerMove.StartAsync(seed: 7);
        var (cluster, client, teller, owner, destination) = (held.Cluster, held.Client, held.Teller, held.Owner, held.Destination);
        var acksAtHandover = client.AckCount;
        await client.WaitForAcksAsync(acksAtHandover + 50, Patience);
        var sentBeforeKill = held.Printed(owner, Sending + teller);
        await cluster.KillTogetherAsync([destination], client);
        await client.WaitForExitAsync(Patience);
        output.WriteLine($"{owner.Id} handed {teller} to {destination.Id} and held its warm-up; {client.AckCount - acksAtHandover} acks later {destination.Id} was SIGKILLed with the client (warm-up sent before the kill: {sentBeforeKill})");
        Assert.False(sentBeforeKill, "the warm-up was sent before the kill; hold it longer for this test to mean anything");

        var moved = await held.Move.WaitAsync(Patience);
        output.WriteLine($"mw move: exit {moved.Code} {moved.Out.Trim()} {moved.Err.Trim()}");
        Assert.True(moved.Code == 0, moved.Err);
        await held.WaitForLineAsync(owner, Sending + teller, $"{owner.Id} to send the held warm-up");
        await cluster.RestartAsync([destination.Id]);

        var report = await cluster.SettleAndAuditAsync(client.Acks, Patience);
        output.WriteLine($"{client.Acks.Count} acks ({client.Acks.Count(a => a.Method == "Transfer")} transfers); {await cluster.InDoubtCompletedAsync():0} turns in doubt completed by the silos' sweeps");
        report.WriteTo(output);
        Assert.True(report.Passed, report.Describe());
    }

    /// <summary><c>mw move</c> of <paramref name="component"/> to <paramref name="to"/>, which must succeed.</summary>
    private static async Task MoveAsync(ClusterFixture cluster, string component, SiloProcess to)
    {
        if ((await cluster.HeadOfAsync(component))?.Owner == to.SiloId) return;
        var run = await AdminFixture.Mw("move", component, "--to", to.SiloId, "--store", cluster.Store);
        Assert.True(run.Code == 0, run.Err);
        Assert.Equal(to.SiloId, (await cluster.HeadOfAsync(component))!.Owner);
    }

    private static Task WaitForLineAsync(SiloProcess silo, string text) =>
        HeldTellerMove.WaitUntilAsync(() => silo.Stdout.Contains(text, StringComparison.Ordinal), $"{silo.SiloId} to print '{text}'");
}
