using System.Diagnostics;
using Bank.Demo;
using Xunit.Abstractions;

namespace Middleware.Tests.Crash;

/// <summary>
/// A bounded crash campaign against a real host process: in every round concurrent deposits with unique
/// ids run while the host is SIGKILLed at a random moment (a random ack count plus a random delay, so
/// kills also land right after a restart and during recovery); every unacknowledged request is resent
/// with its same id to the restarted host. The log must then hold every acknowledged request exactly
/// once and the balances must equal the sum of the acknowledged deposits.
/// Rounds: 8, or <c>MIDDLEWARE_CRASH_ROUNDS</c> for a long campaign.
/// </summary>
[Collection(CrashCollection.Name)]
public sealed class CrashCampaignTests(ITestOutputHelper output)
{
    private const int DefaultRounds = 8;
    private const int DepositsPerRound = 300;
    private const int InFlight = 48;

    [Fact]
    public async Task Every_acknowledged_deposit_survives_repeated_SIGKILLs_exactly_once()
    {
        var rounds = int.TryParse(Environment.GetEnvironmentVariable("MIDDLEWARE_CRASH_ROUNDS"), out var r) && r > 0 ? r : DefaultRounds;
        await using var harness = new CrashHarness(output, "campaign");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60 + (15 * rounds)));
        var accounts = Enumerable.Range(0, 8).Select(i => $"c-{i}").ToArray();
        var acknowledged = new List<Acknowledged>();
        var clock = Stopwatch.StartNew();
        var kills = 0;
        await harness.Supervisor.StartAsync();

        for (var round = 1; round <= rounds; round++)
        {
            var deposits = Enumerable.Range(1, DepositsPerRound)
                .Select(n => new HostRequest($"r{round}-{n}", OperationKind.Deposit, accounts[harness.Random.Next(accounts.Length)], harness.Random.Next(1, 1001)))
                .ToArray();
            var kill = PlanKill(harness.Random);
            kills += kill.Times;
            harness.Log($"round {round}/{rounds}: {DepositsPerRound} deposits, kill after {kill.AfterAcks} acks + {kill.ExtraDelay.TotalMilliseconds:0} ms{(kill.Times > 1 ? $", {kill.Times} times in a row" : "")}");
            var runner = new WorkloadRunner(harness.Supervisor, InFlight) { OnRestart = harness.LogRestart };
            await runner.RunAsync(deposits, [kill], timeout.Token);
            Assert.Equal(DepositsPerRound, runner.Acknowledged.Count);
            Assert.All(runner.Acknowledged.Values, a => Assert.Equal(ReplyKind.Ok, a.Reply.Kind));
            acknowledged.AddRange(runner.Acknowledged.Values);
        }

        Assert.Equal(kills, harness.Supervisor.Kills);
        var balances = await harness.BalancesAsync(accounts, timeout.Token);
        var expected = LogVerifier.ExpectedBalances(acknowledged);
        var report = await harness.StopAndVerifyAsync(acknowledged, balances);
        harness.Log($"{rounds} rounds in {clock.Elapsed.TotalSeconds:0.0} s");

        Assert.True(report.Passed, string.Join(Environment.NewLine, report.Discrepancies.Prepend(report.Summary).Take(40)));
        Assert.Equal(rounds * DepositsPerRound, report.Acknowledged);
        Assert.Equal((0, 0), (report.Lost, report.Duplicated));
        Assert.Equal(expected.Values.Sum(), balances.Values.Sum());
    }

    /// <summary>
    /// Mostly single mid-burst kills; some right at the first ack of the round (just after the previous
    /// restart, while accounts are still being recovered), and some double kills whose second one lands
    /// while the restarted host is replaying logs and answering resent requests.
    /// </summary>
    private static KillPlan PlanKill(Random random) =>
        random.Next(6) switch
        {
            0 => new KillPlan(1, TimeSpan.FromMilliseconds(random.Next(0, 5))),
            1 => new KillPlan(random.Next(1, DepositsPerRound), TimeSpan.FromMilliseconds(random.Next(0, 40)), Times: 2),
            _ => new KillPlan(random.Next(1, DepositsPerRound), TimeSpan.FromMilliseconds(random.Next(0, 30))),
        };
}
