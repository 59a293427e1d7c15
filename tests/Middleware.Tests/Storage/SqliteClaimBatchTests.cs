using Microsoft.Data.Sqlite;
using Middleware.Recovery.Sqlite;
using Middleware.Recovery.Storage;

namespace Middleware.Tests.Storage;

/// <summary>
/// SQLite combines claims that arrive together into one transaction: many at once are each decided as alone (new
/// components at epoch 1, one winner among claims of the same epoch), also for the same component within one burst.
/// </summary>
public sealed class SqliteClaimBatchTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mw-claims-").FullName;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task A_burst_of_claims_is_decided_claim_by_claim()
    {
        await using var store = SqliteLogStore.Open(Path.Combine(_dir, "log.db"));
        // 600 new components, and each of the first 100 claimed twice more at epoch 0 in the same burst: exactly one of
        // the three claims of those wins.
        var requests = Enumerable.Range(0, 600).Select(i => new ClaimRequest($"C/{i}", 0, "a", ClaimMode.EpochOnly))
            .Concat(Enumerable.Range(0, 100).SelectMany(i => new[] { new ClaimRequest($"C/{i}", 0, "b", ClaimMode.EpochOnly), new ClaimRequest($"C/{i}", 0, "c", ClaimMode.EpochOnly) }))
            .ToList();
        var results = await Task.WhenAll(requests.Select(r => Task.Run(() => store.ClaimAsync(r))));
        for (var i = 0; i < 600; i++)
        {
            var id = $"C/{i}";
            var won = requests.Zip(results).Where(p => p.First.ComponentId == id && p.Second.Claimed is not null).ToList();
            Assert.Single(won);
            Assert.Equal(1, won[0].Second.Claimed!.Epoch);
            var head = await store.GetHeadAsync(id);
            Assert.Equal(1, head!.Epoch);
            Assert.Equal(won[0].First.Owner, head.Owner);
        }

        // The next claims at the epoch each holds now all win, with epoch 2.
        var again = await Task.WhenAll(Enumerable.Range(0, 600).Select(i => store.ClaimAsync(new ClaimRequest($"C/{i}", 1, "d", ClaimMode.EpochOnly))));
        Assert.All(again, r => Assert.Equal(2, r.Claimed!.Epoch));
    }
}
