using System.Text;
using Microsoft.Data.Sqlite;
using Middleware.Recovery.Log;
using Middleware.Recovery.Sqlite;
using Middleware.Recovery.Storage;

namespace Middleware.Tests.Storage;

/// <summary>
/// The SQLite writer's batch path (multi-row INSERTs, <c>SqliteWriter.BatchInsert.cs</c>) writes the rows the per-group
/// path writes, byte for byte and position for position, and a batch where a fence refuses a group still gets every
/// group's own verdict, with nothing of the refused group stored.
/// </summary>
public sealed class SqliteBatchInsertTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mw-batchinsert-").FullName;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private static string Id(int i) => $"Account/b{i}";

    private static int Size(int i, int round) => (i + round) % 3 + 1;

    // More rows than one INSERT carries, groups of one to three records, in an order that is not the claim order.
    private static List<AppendGroup> Batch(int round)
    {
        var groups = new List<AppendGroup>();
        for (var i = 44; i >= 0; i--)
        {
            var first = round == 1 ? 1 : Size(i, 1) + 1;
            var records = Enumerable.Range(0, Size(i, round))
                .Select(k => new LogRecord(first + k, 1, k == 1 ? RecordKind.PartialTurn : RecordKind.Turn, Encoding.UTF8.GetBytes($"{Id(i)} r{round} k{k}")))
                .ToList();
            groups.Add(new AppendGroup(Id(i), 1, records));
        }

        return groups;
    }

    private static async Task ClaimAll(ILogStore store)
    {
        for (var i = 0; i <= 44; i++) Assert.NotNull((await store.ClaimAsync(new ClaimRequest(Id(i), 0, "runtime-1", ClaimMode.EpochOnly))).Claimed);
    }

    private static List<string> Rows(string path)
    {
        using var connection = new SqliteConnection($"Data Source={path};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT pos, cid, seq, epoch, kind, prev_pos, hex(payload) FROM log ORDER BY pos";
        using var reader = command.ExecuteReader();
        var rows = new List<string>();
        while (reader.Read()) rows.Add(string.Join('|', Enumerable.Range(0, 7).Select(c => reader.GetValue(c).ToString())));
        return rows;
    }

    private static List<string> Heads(string path)
    {
        using var connection = new SqliteConnection($"Data Source={path};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT cid, epoch, last_seq, last_pos, checkpoint_seq FROM heads ORDER BY cid";
        using var reader = command.ExecuteReader();
        var rows = new List<string>();
        while (reader.Read()) rows.Add(string.Join('|', Enumerable.Range(0, 5).Select(c => reader.GetValue(c).ToString())));
        return rows;
    }

    [Fact]
    public async Task A_batch_stores_the_rows_and_heads_that_one_append_per_group_stores()
    {
        var batched = Path.Combine(_dir, "batched.db");
        var single = Path.Combine(_dir, "single.db");
        await using (var store = SqliteLogStore.Open(batched))
        {
            await ClaimAll(store);
            for (var round = 1; round <= 2; round++) Assert.All(await store.AppendAsync(Batch(round)), s => Assert.Equal(AppendStatus.Ok, s));
            Assert.Equal((2, 0), store.BatchPath);
            // b6: two records in round 1, three in round 2.
            var records = await store.ReadAsync(Id(6), 1, 5);
            Assert.Equal(["r1 k0", "r1 k1", "r2 k0", "r2 k1", "r2 k2"], records.Select(r => Encoding.UTF8.GetString(r.Payload.Span)[(Id(6).Length + 1)..]));
        }

        await using (var store = SqliteLogStore.Open(single))
        {
            await ClaimAll(store);
            for (var round = 1; round <= 2; round++)
            {
                foreach (var group in Batch(round)) Assert.Equal(AppendStatus.Ok, (await store.AppendAsync([group])).Single());
            }

            Assert.Equal((0, 0), store.BatchPath); // one group per append: always the per-group path
        }

        var rows = Rows(batched);
        Assert.Equal(Batch(1).Concat(Batch(2)).Sum(g => g.Records.Count), rows.Count);
        Assert.True(rows.Count > 2 * SqliteWriter.MaxRowsPerInsert);
        Assert.Equal(Rows(single), rows);
        Assert.Equal(Heads(single), Heads(batched));
    }

    [Fact]
    public async Task A_refused_group_in_a_batch_gets_its_verdict_and_the_others_are_written()
    {
        await using var store = SqliteLogStore.Open(Path.Combine(_dir, "fenced.db"));
        await ClaimAll(store);
        // b1 moves to epoch 2: its epoch-1 group is stale. b2's group skips a seq: a conflict.
        Assert.NotNull((await store.ClaimAsync(new ClaimRequest(Id(1), 1, "runtime-2", ClaimMode.EpochOnly))).Claimed);
        AppendGroup Group(int i, long seq) => new(Id(i), 1, [new LogRecord(seq, 1, RecordKind.Turn, Encoding.UTF8.GetBytes($"{Id(i)} {seq}"))]);
        var statuses = await store.AppendAsync([Group(0, 1), Group(1, 1), Group(3, 1), Group(2, 2), Group(4, 1)]);
        Assert.Equal([AppendStatus.Ok, AppendStatus.Fenced, AppendStatus.Ok, AppendStatus.SeqConflict, AppendStatus.Ok], statuses);
        Assert.Equal((0, 1), store.BatchPath); // tried, refused by b1's fence, rolled back, decided group by group

        foreach (var i in new[] { 0, 3, 4 })
        {
            Assert.Equal([$"{Id(i)} 1"], (await store.ReadAsync(Id(i), 1, 1)).Select(r => Encoding.UTF8.GetString(r.Payload.Span)));
            Assert.Equal(1, (await store.GetHeadAsync(Id(i)))!.LastSeq);
        }

        Assert.Equal(0, (await store.GetHeadAsync(Id(1)))!.LastSeq);
        Assert.Equal(0, (await store.GetHeadAsync(Id(2)))!.LastSeq);
        Assert.Empty(await store.ReadAsync(Id(2), 1, 2));

        // The next batch of the same components takes the batch path again and chains to what was stored.
        var next = await store.AppendAsync([Group(0, 2), Group(3, 2), Group(4, 2)]);
        Assert.All(next, s => Assert.Equal(AppendStatus.Ok, s));
        Assert.Equal((1, 1), store.BatchPath);
        Assert.Equal([$"{Id(3)} 1", $"{Id(3)} 2"], (await store.ReadAsync(Id(3), 1, 2)).Select(r => Encoding.UTF8.GetString(r.Payload.Span)));
    }
}
