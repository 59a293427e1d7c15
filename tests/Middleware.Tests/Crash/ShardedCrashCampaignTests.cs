using Middleware.Tests.Storage;
using Middleware.Tests.Support;
using Xunit.Abstractions;

namespace Middleware.Tests.Crash;

/// <summary>
/// The crash campaign of <see cref="PostgresCrashCampaignTests"/> with the host on a sharded store over two PostgreSQL
/// servers: concurrent deposits to accounts of both shards, the host SIGKILLed at a random moment in every round,
/// unacknowledged requests resent with their ids. Every acknowledged deposit must be in the logs exactly once and the
/// balances must equal the acknowledged deposits, whichever shard holds the account.
/// </summary>
[Collection(CrashCollection.Name)]
[RequiresPostgres]
public sealed class ShardedCrashCampaignTests(ITestOutputHelper output)
{
    [StoreFact]
    public async Task Every_acknowledged_deposit_on_two_postgres_shards_survives_repeated_SIGKILLs_exactly_once()
    {
        await using var harness = new CrashHarness(output, "sharded", await ShardedPostgresServers.NewSettingAsync());
        await CrashCampaign.RunAsync(harness, CrashCampaign.Rounds(3), "s", random => random.Next(4) == 0
            ? new KillPlan(1, TimeSpan.FromMilliseconds(random.Next(0, 5)))
            : new KillPlan(random.Next(1, CrashCampaign.DepositsPerRound), TimeSpan.FromMilliseconds(random.Next(0, 30))));
    }
}
