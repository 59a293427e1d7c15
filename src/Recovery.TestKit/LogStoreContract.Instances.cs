using Middleware.Recovery.Log;

namespace Middleware.Recovery.TestKit;

/// <summary>
/// What the contract asks of concurrent callers: two instances on one database fence each other like two processes
/// (<see cref="StoreFactory.IsSharedAcrossProcesses"/>), reads run while another thread appends, and a store that lets
/// the writer keep several appends in flight (<c>MaxConcurrentAppends</c> &gt; 1, the store's own declaration) takes them.
/// </summary>
public abstract partial class LogStoreContract<TStores>
{
    [StoreFact]
    public async Task Two_stores_on_one_database_fence_each_other_like_two_processes()
    {
        if (await OpenSecondInstanceAsync() is not { } other) return; // needs IsSharedAcrossProcesses
        var first = await ClaimAsync("Account/1", owner: "process-a");
        Assert.Equal(AppendStatus.Ok, await AppendAsync(Group("Account/1", first, 1, 2)));

        var second = await TryClaimAsync("Account/1", first, "process-b", other);
        Assert.NotNull(second);
        Assert.Equal((first + 1, 2L), (second.Epoch, second.LastSeq));
        Assert.Null(await TryClaimAsync("Account/1", first, "process-a"));

        Assert.Equal(AppendStatus.Fenced, await AppendAsync(Group("Account/1", first, 3, 1, tag: " from the old owner")));
        Assert.Equal([AppendStatus.Ok], await other.AppendAsync([Group("Account/1", second.Epoch, 3, 1, tag: " from the new owner")]));

        var seenByOld = await Store.ReadAsync("Account/1", 1, long.MaxValue);
        Assert.Equal(Range(1, 3), seenByOld.Select(r => r.Seq));
        Assert.Equal("Account/1 turn 3 from the new owner", Text(seenByOld[2].Payload));
        Assert.Equal(new ComponentHead("Account/1", second.Epoch, "process-b", 3, 0), await Store.GetHeadAsync("Account/1"));
    }

    [StoreFact]
    public async Task A_component_first_claimed_by_another_instance_is_found_by_this_one()
    {
        // This instance has never seen the component (nothing cached in process): it must look it up in the database.
        if (await OpenSecondInstanceAsync() is not { } other) return; // needs IsSharedAcrossProcesses
        Assert.Equal(AppendStatus.Fenced, await AppendAsync(Group("Account/elsewhere", 1, 1, 1)));
        var claimed = await TryClaimAsync("Account/elsewhere", 0, "process-b", other);
        Assert.NotNull(claimed);
        Assert.Equal([AppendStatus.Ok], await other.AppendAsync([Group("Account/elsewhere", claimed.Epoch, 1, 2)]));

        var mine = await TryClaimAsync("Account/elsewhere", claimed.Epoch, "process-a");
        Assert.Equal(new ComponentHead("Account/elsewhere", claimed.Epoch + 1, "process-a", 2, 0), mine);
        Assert.Equal(AppendStatus.Ok, await AppendAsync(Group("Account/elsewhere", mine!.Epoch, 3, 1)));
        Assert.Equal(AppendStatus.Fenced, (await other.AppendAsync([Group("Account/elsewhere", claimed.Epoch, 3, 1)]))[0]);
        Assert.Equal(Range(1, 3), await SeqsAsync("Account/elsewhere"));
    }

    [StoreFact]
    public async Task Reads_run_while_another_thread_appends()
    {
        var epoch = await ClaimAsync("Busy/1");
        var reader = await ClaimAsync("Quiet/1");
        await AppendAsync(Group("Quiet/1", reader, 1, 100));

        using var stop = new CancellationTokenSource();
        var writer = Task.Run(async () =>
        {
            var seq = 1L;
            while (!stop.IsCancellationRequested)
            {
                Assert.Equal(AppendStatus.Ok, await AppendAsync(Group("Busy/1", epoch, seq, 8)));
                seq += 8;
            }

            return seq - 1;
        });

        var reads = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            for (var i = 0; i < 50; i++) Assert.Equal(Range(1, 100), await SeqsAsync("Quiet/1"));
        }));
        await Task.WhenAll(reads);
        stop.Cancel();
        var written = await writer;
        Assert.Equal(Range(1, written), await SeqsAsync("Busy/1"));
    }

    [StoreFact]
    public async Task Concurrent_appends_of_disjoint_components_all_commit()
    {
        if (Store.MaxConcurrentAppends <= 1) return; // the writer never overlaps appends on this store
        var ids = Enumerable.Range(0, 16).Select(i => $"Par/{i}").ToArray();
        var epochs = new Dictionary<string, long>();
        foreach (var id in ids) epochs[id] = await ClaimAsync(id);

        // Each task owns two components and appends to them in its own calls, all calls in flight at once.
        var work = Enumerable.Range(0, 8).Select(t => Task.Run(async () =>
        {
            for (var seq = 1L; seq <= 40; seq += 4)
            {
                var statuses = await Store.AppendAsync([Group(ids[2 * t], epochs[ids[2 * t]], seq, 4), Group(ids[(2 * t) + 1], epochs[ids[(2 * t) + 1]], seq, 4)]);
                Assert.Equal([AppendStatus.Ok, AppendStatus.Ok], statuses);
            }
        }));
        await Task.WhenAll(work);
        foreach (var id in ids) Assert.Equal(Range(1, 40), await SeqsAsync(id));
    }
}
