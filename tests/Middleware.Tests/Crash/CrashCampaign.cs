using System.Diagnostics;
using Bank.Demo;

namespace Middleware.Tests.Crash;

/// <summary>
/// The crash campaign shared by every store: in each round, concurrent deposits with unique ids while the host is
/// SIGKILLed as <paramref name="planKill"/> says; unacknowledged requests are resent with their same ids. At the end
/// the log must hold every acknowledged request exactly once and the balances must equal the acknowledged deposits.
/// </summary>
internal static class CrashCampaign
{
    public const int DepositsPerRound = 300;
    private const int InFlight = 48;

    /// <summary>Rounds from <c>MIDDLEWARE_CRASH_ROUNDS</c>, else <paramref name="defaultRounds"/>.</summary>
    public static int Rounds(int defaultRounds) =>
        int.TryParse(Environment.GetEnvironmentVariable("MIDDLEWARE_CRASH_ROUNDS"), out var r) && r > 0 ? r : defaultRounds;

    public static async Task RunAsync(CrashHarness harness, int rounds, string accountPrefix, Func<Random, KillPlan> planKill)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60 + (15 * rounds)));
        var accounts = Enumerable.Range(0, 8).Select(i => $"{accountPrefix}-{i}").ToArray();
        var acknowledged = new List<Acknowledged>();
        var clock = Stopwatch.StartNew();
        var kills = 0;
        await harness.Supervisor.StartAsync();

        for (var round = 1; round <= rounds; round++)
        {
            var deposits = Enumerable.Range(1, DepositsPerRound)
                .Select(n => new HostRequest($"r{round}-{n}", OperationKind.Deposit, accounts[harness.Random.Next(accounts.Length)], harness.Random.Next(1, 1001)))
                .ToArray();
            var kill = planKill(harness.Random);
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
}
