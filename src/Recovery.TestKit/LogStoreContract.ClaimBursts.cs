using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;

namespace Middleware.Recovery.TestKit;

/// <summary>
/// Rule 5 (claims) under bursts: a store may decide the claims that arrive together in one transaction, or in the
/// transaction of appends that arrive with them (SQLite and PostgreSQL batch them); each must still be decided as it
/// would be alone: exactly one winner per component and epoch, and a previous owner's append racing the claim either
/// commits before it (the winner's head includes it) or is fenced.
/// </summary>
public abstract partial class LogStoreContract<TStores>
{
    [StoreFact]
    public async Task A_burst_of_racing_claims_over_many_components_has_exactly_one_winner_per_component()
    {
        const int components = 120;
        var expected = new long[components];
        for (var generation = 0; generation < 3; generation++)
        {
            // Three claimers per component, all with the epoch each holds now, started together in random order.
            var racers = Enumerable.Range(0, components).SelectMany(c => Enumerable.Range(0, 3).Select(r => (Component: c, Claimer: r)))
                .OrderBy(_ => Random.Shared.Next()).ToList();
            var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var racing = racers.Select(x => Task.Run(async () =>
            {
                await start.Task;
                return await TryClaimAsync($"Burst/{x.Component}", expected[x.Component], $"claimer-{x.Claimer}");
            })).ToList();
            start.SetResult();
            var heads = await Task.WhenAll(racing);

            for (var c = 0; c < components; c++)
            {
                var won = racers.Zip(heads).Where(p => p.First.Component == c && p.Second is not null).Select(p => p.Second!).ToList();
                var winner = Assert.Single(won);
                Assert.Equal(expected[c] + 1, winner.Epoch);
                Assert.Equal(winner, await Store.GetHeadAsync($"Burst/{c}"));
                expected[c] = winner.Epoch;
            }
        }
    }

    [StoreFact]
    public async Task Claims_racing_the_previous_owners_appends_fence_them_or_include_them()
    {
        const int components = 60;
        var epochs = new long[components];
        for (var c = 0; c < components; c++) epochs[c] = await ClaimAsync($"Fence/{c}");
        for (var round = 0; round < 3; round++)
        {
            // For every component at once: the owner appends one record after its head while a new owner claims it.
            var heads = new ComponentHead[components];
            for (var c = 0; c < components; c++) heads[c] = (await Store.GetHeadAsync($"Fence/{c}"))!;
            var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var appends = Enumerable.Range(0, components).Select(c => Task.Run(async () =>
            {
                await start.Task;
                return await AppendAsync(Group($"Fence/{c}", epochs[c], heads[c].LastSeq + 1, 1));
            })).ToArray();
            var claims = Enumerable.Range(0, components).Select(c => Task.Run(async () =>
            {
                await start.Task;
                return await TryClaimAsync($"Fence/{c}", epochs[c], $"owner-{round}");
            })).ToArray();
            start.SetResult();
            await Task.WhenAll(appends);
            await Task.WhenAll(claims);

            for (var c = 0; c < components; c++)
            {
                var claimed = claims[c].Result;
                Assert.NotNull(claimed);
                Assert.Equal(epochs[c] + 1, claimed.Epoch);
                var appended = appends[c].Result;
                Assert.True(appended is AppendStatus.Ok or AppendStatus.Fenced, $"Fence/{c}: {appended}");
                // Committed before the claim: the claimed head includes it. Fenced: the log did not move.
                Assert.Equal(heads[c].LastSeq + (appended == AppendStatus.Ok ? 1 : 0), claimed.LastSeq);
                Assert.Equal(claimed, await Store.GetHeadAsync($"Fence/{c}"));
                Assert.Equal(claimed.LastSeq, (await Store.ReadAsync($"Fence/{c}", 1, long.MaxValue)).Count);
                // And the old epoch stays fenced from now on.
                Assert.Equal(AppendStatus.Fenced, await AppendAsync(Group($"Fence/{c}", epochs[c], claimed.LastSeq + 1, 1)));
                epochs[c] = claimed.Epoch;
            }
        }
    }
}
