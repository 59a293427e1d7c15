using System.Collections.Concurrent;
using System.Text;
using Middleware.Recovery.Log;
using Middleware.Recovery.Postgres;
using Middleware.Recovery.Storage;
using Middleware.Tests.Support;

namespace Middleware.Tests.Storage;

/// <summary>
/// The one-statement append (heads locked and fenced inside the statement that writes) against claims made at the same
/// moment by another store instance on the same database, as a new owner in another process would: every append the
/// old owner was told is Ok is in the log, every one it was told is fenced is not, and the new owner continues right
/// after the last acknowledged record.
/// </summary>
[RequiresPostgres]
public sealed class PostgresAppendRaceTests
{
    [StoreFact]
    public async Task Appends_racing_claims_from_another_process_are_either_wholly_written_or_fenced()
    {
        var server = await PostgresServer.GetAsync();
        var database = await server.CreateDatabaseAsync();
        await using var oldOwner = await PostgresLogStore.OpenAsync(database);
        await using var newOwner = await PostgresLogStore.OpenAsync(database);
        var ids = Enumerable.Range(1, 24).Select(i => $"Race/{i:D2}").ToArray();
        var epochs = new Dictionary<string, long>();
        foreach (var id in ids)
            epochs[id] = (await oldOwner.ClaimAsync(new ClaimRequest(id, 0, "old", ClaimMode.EpochOnly))).Claimed!.Epoch;

        // The old owner appends one record to every still-owned component per call, several calls in flight (as the
        // group-commit writer does, each on its own components), while the new owner claims them one by one.
        var acknowledged = new ConcurrentDictionary<string, long>(ids.Select(id => KeyValuePair.Create(id, 0L)));
        var fenced = new ConcurrentDictionary<string, bool>(ids.Select(id => KeyValuePair.Create(id, false)));
        var halves = new[] { ids[..12], ids[12..] };
        var claims = Task.Run(async () =>
        {
            foreach (var id in ids.Reverse())
            {
                await Task.Delay(15); // spreads the claims over the appends (any interleaving must pass); not a wait for anything
                Assert.NotNull((await newOwner.ClaimAsync(new ClaimRequest(id, epochs[id], "new", ClaimMode.EpochOnly))).Claimed);
            }
        });
        var writers = halves.Select(half => Task.Run(async () =>
        {
            // Bounded, so a fence that lets the old owner through fails the test instead of hanging it.
            for (var round = 0; round < 2000 && half.Any(id => !fenced[id]); round++)
            {
                var live = half.Where(id => !fenced[id]).ToArray();
                var statuses = await oldOwner.AppendAsync(live.Select(id => new AppendGroup(id, epochs[id],
                    [new LogRecord(acknowledged[id] + 1, epochs[id], RecordKind.Turn, Encoding.UTF8.GetBytes($"{id} old {acknowledged[id] + 1}"))])).ToArray());
                for (var i = 0; i < live.Length; i++)
                {
                    Assert.NotEqual(AppendStatus.SeqConflict, statuses[i]);
                    if (statuses[i] == AppendStatus.Ok) acknowledged[live[i]]++;
                    else fenced[live[i]] = true;
                }
            }
        })).ToArray();
        await Task.WhenAll(writers.Append(claims));
        Assert.All(ids, id => Assert.True(fenced[id], $"{id}: the old owner's appends were never fenced after the new owner's claim"));

        foreach (var id in ids)
        {
            var head = await newOwner.GetHeadAsync(id);
            Assert.Equal(("new", epochs[id] + 1, acknowledged[id]), (head!.Owner, head.Epoch, head.LastSeq));
            var log = await newOwner.ReadAsync(id, 1, long.MaxValue);
            Assert.Equal(Enumerable.Range(1, (int)acknowledged[id]).Select(s => (long)s), log.Select(r => r.Seq));
            Assert.All(log, r => Assert.Equal($"{id} old {r.Seq}", Encoding.UTF8.GetString(r.Payload.Span)));

            var next = new LogRecord(head.LastSeq + 1, head.Epoch, RecordKind.Turn, Encoding.UTF8.GetBytes($"{id} new"));
            Assert.Equal([AppendStatus.Ok], await newOwner.AppendAsync([new AppendGroup(id, head.Epoch, [next])]));
        }

        Assert.True(acknowledged.Values.Sum() > ids.Length, "the old owner should have committed several rounds before the claims fenced it");
    }
}
