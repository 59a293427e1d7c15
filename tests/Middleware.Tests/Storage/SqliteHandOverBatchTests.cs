using System.Text;
using Microsoft.Data.Sqlite;
using Middleware.Recovery.Log;
using Middleware.Recovery.Sqlite;
using Middleware.Recovery.Storage;
using Middleware.Tests.Support;

namespace Middleware.Tests.Storage;

/// <summary>
/// On SQLite a hand-over (a move's ownership write) rides in the next write transaction of the process: an append's (the
/// group commit's) or the claim drain's. Many at once, while appends of other components commit all the time, are each
/// decided as alone: the owner changes only when the stated owner and epoch both still hold, the epoch never moves, and
/// the appends beside them are unaffected.
/// </summary>
public sealed class SqliteHandOverBatchTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mw-handovers-").FullName;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Hand_overs_that_arrive_together_beside_appends_are_each_decided_as_alone()
    {
        await using var store = SqliteLogStore.Open(Path.Combine(_dir, "log.db"));
        foreach (var silo in new[] { "a", "b" }) await store.JoinAsync(silo, silo + ":1", null, TimeSpan.FromMinutes(5));
        const int Count = 300;
        var moved = Enumerable.Range(0, Count).Select(i => $"M/{i}").ToList();
        var busy = Enumerable.Range(0, 8).Select(i => $"Busy/{i}").ToList();
        foreach (var id in moved.Concat(busy))
            Assert.Equal(1, (await store.ClaimAsync(new ClaimRequest(id, 0, "a", ClaimMode.RespectLiveSilo))).Claimed?.Epoch);

        // Appends of other components of "a" commit all the time, so the hand-overs find transactions to ride in.
        using var stop = new CancellationTokenSource();
        var appended = 0;
        var appenders = busy.Select(id => Task.Run(async () =>
        {
            for (long seq = 1; !stop.IsCancellationRequested; seq++)
            {
                var status = await store.AppendAsync([new AppendGroup(id, 1, [new LogRecord(seq, 1, RecordKind.Turn, Encoding.UTF8.GetBytes(id))])]);
                Assert.Equal([AppendStatus.Ok], status);
                Interlocked.Increment(ref appended);
            }
        })).ToList();
        await Eventually.TrueAsync(() => Volatile.Read(ref appended) >= 50, "the busy components' first 50 appends");

        // For each component at once: the real hand-over (to "b", or released for every fourth), one at an epoch it no
        // longer has, one from a silo that does not own it.
        var real = moved.Select((id, i) => Task.Run(() => store.HandOverAsync(id, 1, "a", i % 4 == 0 ? null : "b"))).ToList();
        var stale = moved.Select(id => Task.Run(() => store.HandOverAsync(id, 0, "a", "b"))).ToList();
        var notOwner = moved.Select(id => Task.Run(() => store.HandOverAsync(id, 1, "c", "b"))).ToList();
        var results = await Task.WhenAll(real.Concat(stale).Concat(notOwner));
        await stop.CancelAsync();
        await Task.WhenAll(appenders);

        Assert.All(results.Take(Count), Assert.True);
        Assert.All(results.Skip(Count), Assert.False);
        for (var i = 0; i < Count; i++)
        {
            var head = await store.GetHeadAsync(moved[i]);
            Assert.Equal((i % 4 == 0 ? null : "b", 1L), (head!.Owner, head.Epoch));
        }

        foreach (var id in busy) Assert.Equal(("a", 1L), ((await store.GetHeadAsync(id))!.Owner, (await store.GetHeadAsync(id))!.Epoch));
        Assert.True(Volatile.Read(ref appended) > 50, "no append committed beside the hand-overs");
    }
}
