using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;

namespace Middleware.Recovery.TestKit;

/// <summary>
/// Rule 5 (claims) of the storage contract, in <see cref="ClaimMode.EpochOnly"/>; the membership side of the same claim
/// is in ClusterStoreContract.Ownership.cs.
/// </summary>
public abstract partial class LogStoreContract<TStores>
{
    [StoreFact]
    public async Task A_claim_raises_the_epoch_by_one_and_records_the_owner()
    {
        var first = await TryClaimAsync("Account/1", 0, "runtime-1");
        Assert.Equal(new ComponentHead("Account/1", 1, "runtime-1", 0, 0), first);

        var second = await TryClaimAsync("Account/1", 1, "runtime-2");
        Assert.Equal(new ComponentHead("Account/1", 2, "runtime-2", 0, 0), second);
        Assert.Equal(second, await Store.GetHeadAsync("Account/1"));
    }

    [StoreFact]
    public async Task A_claim_with_a_stale_expected_epoch_returns_null_and_changes_nothing()
    {
        await ClaimAsync("Account/1");
        await ClaimAsync("Account/1", 1, "runtime-2");

        Assert.Null(await TryClaimAsync("Account/1", 1, "runtime-3"));
        Assert.Null(await TryClaimAsync("Account/1", 0, "runtime-3"));
        Assert.Null(await TryClaimAsync("Account/1", 5, "runtime-3"));
        Assert.Null(await TryClaimAsync("Account/never", 3, "runtime-3"));
        Assert.Equal(new ComponentHead("Account/1", 2, "runtime-2", 0, 0), await Store.GetHeadAsync("Account/1"));
        Assert.Null(await Store.GetHeadAsync("Account/never"));
    }

    [StoreFact]
    public async Task A_new_owner_keeps_the_log_and_continues_after_the_last_seq()
    {
        var old = await ClaimAsync("Account/1");
        await AppendAsync(Group("Account/1", old, 1, 3, Checkpoint(3, old)));

        var head = await TryClaimAsync("Account/1", old, "runtime-2");
        Assert.Equal(new ComponentHead("Account/1", old + 1, "runtime-2", 3, 3), head);
        Assert.Equal(AppendStatus.Fenced, await AppendAsync(Group("Account/1", old, 4, 1)));
        Assert.Equal(AppendStatus.Ok, await AppendAsync(Group("Account/1", old + 1, 4, 1)));

        var records = await Store.ReadAsync("Account/1", 1, long.MaxValue);
        Assert.Equal([old, old, old, old + 1], records.Select(r => r.Epoch));
    }

    [StoreFact]
    public async Task Two_claimers_racing_with_the_same_expected_epoch_have_exactly_one_winner()
    {
        for (var round = 0; round < 20; round++)
        {
            var id = $"Race/{round}";
            var expected = 0L;
            for (var generation = 0; generation < 3; generation++)
            {
                using var start = new Barrier(2);
                var claims = Enumerable.Range(0, 2).Select(i => Task.Run(async () =>
                {
                    start.SignalAndWait();
                    return await TryClaimAsync(id, expected, $"claimer-{i}");
                })).ToArray();
                var heads = await Task.WhenAll(claims);

                var winner = Assert.Single(heads, h => h is not null);
                Assert.Equal(expected + 1, winner!.Epoch);
                Assert.Equal(winner, await Store.GetHeadAsync(id));
                expected = winner.Epoch;
            }
        }
    }

    [StoreFact]
    public async Task A_claim_without_a_component_an_owner_or_a_mode_is_refused_and_changes_nothing()
    {
        await Assert.ThrowsAsync<ArgumentNullException>(() => Store.ClaimAsync(null!));
        var noId = await Assert.ThrowsAsync<ArgumentException>(() => Store.ClaimAsync(new ClaimRequest("", 0, "runtime-1", ClaimMode.EpochOnly)));
        Assert.Contains("component id is empty", noId.Message);
        var noOwner = await Assert.ThrowsAsync<ArgumentException>(() => Store.ClaimAsync(new ClaimRequest("Account/1", 0, " ", ClaimMode.EpochOnly)));
        Assert.Contains("must name its owner", noOwner.Message);
        var noSilo = await Assert.ThrowsAsync<ArgumentException>(() => Store.ClaimAsync(new ClaimRequest("Account/1", 0, "", ClaimMode.RespectLiveSilo)));
        Assert.Contains("silo id", noSilo.Message);
        var noMode = await Assert.ThrowsAsync<ArgumentException>(() => Store.ClaimAsync(new ClaimRequest("Account/1", 0, "runtime-1", default)));
        Assert.Contains("must say its mode", noMode.Message);
        Assert.Empty(await Store.ListComponentsAsync());
    }
}
