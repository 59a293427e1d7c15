using Bank.Demo;
using Middleware.Tests.Support;
using Xunit.Abstractions;

namespace Middleware.Tests.Crash;

/// <summary>
/// The crash campaign of <see cref="CrashCampaignTests"/> with the host on PostgreSQL (a fresh database on the
/// test cluster): concurrent deposits with unique ids, the host SIGKILLed at a random moment in every round,
/// unacknowledged requests resent with their same ids. The log must hold every acknowledged request exactly
/// once and the balances must equal the acknowledged deposits. A few rounds keep the test short; more with
/// <c>MIDDLEWARE_CRASH_ROUNDS</c>.
/// </summary>
[Collection(CrashCollection.Name)]
[RequiresPostgres]
public sealed class PostgresCrashCampaignTests(ITestOutputHelper output)
{
    private const int DefaultRounds = 3;
    private const int DepositsPerRound = 300;
    private const int InFlight = 48;

    [StoreFact]
    public async Task Every_acknowledged_deposit_on_postgres_survives_repeated_SIGKILLs_exactly_once()
    {
        var rounds = int.TryParse(Environment.GetEnvironmentVariable("MIDDLEWARE_CRASH_ROUNDS"), out var r) && r > 0 ? r : DefaultRounds;
        var server = await PostgresServer.GetAsync();
        await using var harness = new CrashHarness(output, "postgres", "postgres:" + await server.CreateDatabaseAsync());
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60 + (15 * rounds)));
        var accounts = Enumerable.Range(0, 8).Select(i => $"p-{i}").ToArray();
        var acknowledged = new List<Acknowledged>();
        var kills = 0;
        await harness.Supervisor.StartAsync();

        for (var round = 1; round <= rounds; round++)
        {
            var deposits = Enumerable.Range(1, DepositsPerRound)
                .Select(n => new HostRequest($"r{round}-{n}", OperationKind.Deposit, accounts[harness.Random.Next(accounts.Length)], harness.Random.Next(1, 1001)))
                .ToArray();
            // A single kill mid-burst, or one right at the first ack of the round (while accounts are still recovering).
            var kill = harness.Random.Next(4) == 0
                ? new KillPlan(1, TimeSpan.FromMilliseconds(harness.Random.Next(0, 5)))
                : new KillPlan(harness.Random.Next(1, DepositsPerRound), TimeSpan.FromMilliseconds(harness.Random.Next(0, 30)));
            kills += kill.Times;
            harness.Log($"round {round}/{rounds}: {DepositsPerRound} deposits, kill after {kill.AfterAcks} acks + {kill.ExtraDelay.TotalMilliseconds:0} ms");
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

        Assert.True(report.Passed, string.Join(Environment.NewLine, report.Discrepancies.Prepend(report.Summary).Take(40)));
        Assert.Equal(rounds * DepositsPerRound, report.Acknowledged);
        Assert.Equal((0, 0), (report.Lost, report.Duplicated));
        Assert.Equal(expected.Values.Sum(), balances.Values.Sum());
    }
}
