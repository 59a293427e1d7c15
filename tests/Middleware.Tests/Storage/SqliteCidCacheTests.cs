using System.Text;
using Microsoft.Data.Sqlite;
using Middleware.Recovery.Log;
using Middleware.Recovery.Sqlite;
using Middleware.Recovery.Storage;

namespace Middleware.Tests.Storage;

/// <summary>
/// The SQLite writer's id → cid cache is bounded in two generations (<see cref="SqliteWriter.MaxCachedCids"/> each): past
/// more distinct components than one generation holds, every write still lands on its own component, whether its id is in
/// the current generation, was moved back from the previous one, or was dropped and is read from the id index again.
/// </summary>
public sealed class SqliteCidCacheTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mw-cidcache-").FullName;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Appends_land_on_their_component_after_the_cache_rolled_over_twice()
    {
        await using var store = SqliteLogStore.Open(Path.Combine(_dir, "log.db"));
        // Just over two generations of components, claimed in order: the first generation is then out of the cache, the
        // second is the previous one.
        var count = SqliteWriter.MaxCachedCids * 2 + 1000;
        string Id(int i) => $"Account/c{i}";
        for (var start = 0; start < count; start += 4096)
        {
            var claims = Enumerable.Range(start, Math.Min(4096, count - start))
                .Select(i => store.ClaimAsync(new ClaimRequest(Id(i), 0, "runtime-1", ClaimMode.EpochOnly)));
            Assert.All(await Task.WhenAll(claims), r => Assert.NotNull(r.Claimed));
        }

        // Dropped (the first generation), previous (moved back), current; each twice, so a moved id is used from its new place.
        int[] probes = [0, 1, SqliteWriter.MaxCachedCids + 10, SqliteWriter.MaxCachedCids + 11, count - 2, count - 1];
        for (var round = 1; round <= 2; round++)
        {
            var groups = probes.Select(i => new AppendGroup(Id(i), 1, [new LogRecord(round, 1, RecordKind.Turn, Encoding.UTF8.GetBytes($"{Id(i)} turn {round}"))])).ToList();
            Assert.All(await store.AppendAsync(groups), s => Assert.Equal(AppendStatus.Ok, s));
        }

        foreach (var i in probes)
        {
            var records = await store.ReadAsync(Id(i), 1, 2);
            Assert.Equal([$"{Id(i)} turn 1", $"{Id(i)} turn 2"], records.Select(r => Encoding.UTF8.GetString(r.Payload.Span)));
        }

        Assert.Equal(0, (await store.GetHeadAsync(Id(2)))!.LastSeq); // a neighbour got nothing
    }
}
