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

    [Fact]
    public async Task Every_acknowledged_deposit_survives_repeated_SIGKILLs_exactly_once()
    {
        await using var harness = new CrashHarness(output, "campaign");
        await CrashCampaign.RunAsync(harness, CrashCampaign.Rounds(DefaultRounds), "c", PlanKill);
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
            1 => new KillPlan(random.Next(1, CrashCampaign.DepositsPerRound), TimeSpan.FromMilliseconds(random.Next(0, 40)), Times: 2),
            _ => new KillPlan(random.Next(1, CrashCampaign.DepositsPerRound), TimeSpan.FromMilliseconds(random.Next(0, 30))),
        };
}
