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

    [StoreFact]
    public async Task Every_acknowledged_deposit_on_postgres_survives_repeated_SIGKILLs_exactly_once()
    {
        var server = await PostgresServer.GetAsync();
        await using var harness = new CrashHarness(output, "postgres", "postgres:" + await server.CreateDatabaseAsync());

        // A single kill mid-burst, or one right at the first ack of the round (while accounts are still recovering).
        await CrashCampaign.RunAsync(harness, CrashCampaign.Rounds(DefaultRounds), "p", random => random.Next(4) == 0
            ? new KillPlan(1, TimeSpan.FromMilliseconds(random.Next(0, 5)))
            : new KillPlan(random.Next(1, CrashCampaign.DepositsPerRound), TimeSpan.FromMilliseconds(random.Next(0, 30))));
    }
}
