using System.Text;
using Middleware.Recovery.Log;
using Middleware.Recovery.Sharded;
using Middleware.Recovery.Storage;
using Middleware.Recovery.Stores;
using Middleware.Recovery.TestKit;
using Middleware.Tests.Support;

namespace Middleware.Tests.Storage;

/// <summary>
/// What only the sharded store has: where components land, where the cluster tables live, the shard map that refuses a
/// changed shard list, and the errors of a bad <c>sharded:</c> setting. On two PostgreSQL databases of the test cluster.
/// </summary>
[RequiresPostgres]
public sealed class ShardedStoreTests : IAsyncLifetime
{
    private readonly ShardedPostgresStores _stores = new();
    private ShardedLogStore _store = null!;

    public async Task InitializeAsync() => _store = (ShardedLogStore)await _stores.CreateStoreAsync();

    public async Task DisposeAsync() => await _store.DisposeAsync();

    [StoreFact]
    public async Task Components_spread_over_both_databases_and_each_is_in_exactly_the_shard_the_hash_names()
    {
        var ids = Enumerable.Range(0, 40).Select(i => $"Account/{i}").ToList();
        foreach (var id in ids)
        {
            var epoch = (await _store.ClaimAsync(new ClaimRequest(id, 0, "runtime-1", ClaimMode.EpochOnly))).Claimed!.Epoch;
            Assert.Equal([AppendStatus.Ok], await _store.AppendAsync([new AppendGroup(id, epoch, [new LogRecord(1, epoch, RecordKind.Turn, Encoding.UTF8.GetBytes(id))])]));
        }

        var counts = new List<long>();
        for (var k = 0; k < 2; k++)
        {
            var expected = ids.Where(id => ShardMap.ShardOf(id, 2) == k).ToList();
            counts.Add((long)(await PostgresServer.ExecuteAsync(_stores.Shards[k], "SELECT count(*) FROM log"))!);
            Assert.Equal(expected.Count, counts[k]);
            foreach (var id in expected) Assert.Equal(1, (await _store.Shards[k].GetHeadAsync(id))?.LastSeq);
        }

        Assert.All(counts, c => Assert.InRange(c, 10, 30)); // 40 ids: both shards carry a share
        Assert.Equal(ids.Order(StringComparer.Ordinal), (await _store.ListComponentsAsync()).Select(h => h.ComponentId)); // the map's marker is not listed
    }

    [StoreFact]
    public async Task The_map_is_stable_across_processes_and_versions()
    {
        // Version 1 of the map is FNV-1a 64 of the UTF-8 id modulo the count: these values must never change.
        Assert.Equal(0xcbf29ce484222325UL, ShardMap.Hash(""));
        Assert.Equal(0xaf63dc4c8601ec8cUL, ShardMap.Hash("a"));
        Assert.Equal((int)(ShardMap.Hash("Account/1") % 2), ShardMap.ShardOf("Account/1", 2));
        await Task.CompletedTask;
    }

    [StoreFact]
    public async Task Silos_and_sessions_live_in_shard_0_and_leaving_releases_components_in_every_shard()
    {
        var inShard1 = Enumerable.Range(0, 50).Select(i => $"Account/{i}").First(id => ShardMap.ShardOf(id, 2) == 1);
        var inShard0 = Enumerable.Range(0, 50).Select(i => $"Account/{i}").First(id => ShardMap.ShardOf(id, 2) == 0);
        await _store.JoinAsync("silo-a", "host-a:7000", null, TimeSpan.FromMinutes(10));
        await _store.JoinAsync("silo-b", "host-b:7000", null, TimeSpan.FromMinutes(10));
        await _store.OpenSessionAsync("s1", 10);
        Assert.Equal(1L, (long)(await PostgresServer.ExecuteAsync(_stores.Shards[0], "SELECT count(*) FROM sessions"))!);
        Assert.Equal(0L, (long)(await PostgresServer.ExecuteAsync(_stores.Shards[1], "SELECT count(*) FROM sessions"))!);
        Assert.Equal(0L, (long)(await PostgresServer.ExecuteAsync(_stores.Shards[1], "SELECT count(*) FROM silos"))!);

        Assert.NotNull((await _store.ClaimAsync(new ClaimRequest(inShard1, 0, "silo-a", ClaimMode.RespectLiveSilo))).Claimed);
        Assert.NotNull((await _store.ClaimAsync(new ClaimRequest(inShard0, 0, "silo-a", ClaimMode.RespectLiveSilo))).Claimed);
        // A live owner in shard 0's membership refuses a claim of a component in shard 1, naming its address.
        Assert.Equal(new ClaimResult(null, "silo-a", "host-a:7000"), await _store.ClaimAsync(new ClaimRequest(inShard1, 1, "silo-b", ClaimMode.RespectLiveSilo)));

        await _store.LeaveAsync("silo-a");
        Assert.Null((await _store.GetHeadAsync(inShard1))!.Owner);
        Assert.Null((await _store.GetHeadAsync(inShard0))!.Owner);
        Assert.Equal(2, (await _store.ClaimAsync(new ClaimRequest(inShard1, 1, "silo-b", ClaimMode.RespectLiveSilo))).Claimed?.Epoch);
    }

    [StoreFact]
    public async Task A_different_shard_count_or_order_is_refused_naming_the_fix_and_nothing_is_written()
    {
        await _store.DisposeAsync();
        var server = await PostgresServer.GetAsync();
        var third = await server.CreateDatabaseAsync();
        var (a, b) = (_stores.Shards[0], _stores.Shards[1]);

        var more = await Assert.ThrowsAsync<ShardMapException>(() => LogStores.OpenAsync($"sharded:postgres:{a}|postgres:{b}|postgres:{third}"));
        Assert.Contains("was created with 2 shards", more.Message);
        Assert.Contains("this setting lists 3", more.Message);
        Assert.Contains("list the same 2 stores in the same order", more.Message);

        var swapped = await Assert.ThrowsAsync<ShardMapException>(() => LogStores.OpenAsync($"sharded:postgres:{b}|postgres:{a}"));
        Assert.Contains("shard 1 of 2", swapped.Message);
        Assert.Contains("original order", swapped.Message);

        var fewer = await Assert.ThrowsAsync<ShardMapException>(() => LogStores.OpenAsync($"sharded:postgres:{a}"));
        Assert.Contains("this setting lists 1", fewer.Message);

        Assert.Equal(0L, (long)(await PostgresServer.ExecuteAsync(third, "SELECT count(*) FROM components"))!);
        _store = (ShardedLogStore)await _stores.OpenStoreAsync(); // the right list still opens
    }

    [StoreFact]
    public async Task A_shard_opened_on_its_own_is_refused_for_writing_and_may_be_read()
    {
        var error = await Assert.ThrowsAsync<ShardMapException>(() => LogStores.OpenAsync("postgres:" + _stores.Shards[1]));
        Assert.Contains("shard 1 of 2", error.Message);
        Assert.Contains("sharded:", error.Message);

        await using var reader = await LogStores.OpenAsync("postgres:" + _stores.Shards[1], StoreAccess.ReadOnly);
        Assert.Contains(ShardMap.MarkerId, (await reader.ListComponentsAsync()).Select(h => h.ComponentId));
    }

    [StoreFact]
    public async Task A_database_that_holds_an_unsharded_store_cannot_become_a_shard()
    {
        var server = await PostgresServer.GetAsync();
        var used = await server.CreateDatabaseAsync();
        await using (var plain = await LogStores.OpenAsync("postgres:" + used))
        {
            await plain.ClaimAsync(new ClaimRequest("Account/x", 0, "runtime-1", ClaimMode.EpochOnly));
        }

        var fresh = await server.CreateDatabaseAsync();
        var error = await Assert.ThrowsAsync<ShardMapException>(() => LogStores.OpenAsync($"sharded:postgres:{fresh}|postgres:{used}"));
        Assert.Contains("already holds components but no shard map", error.Message);
        Assert.Equal(0L, (long)(await PostgresServer.ExecuteAsync(fresh, "SELECT count(*) FROM components"))!); // nothing set up
    }

    [StoreFact]
    public async Task Read_only_a_store_never_set_up_is_refused()
    {
        var server = await PostgresServer.GetAsync();
        var (a, b) = (await server.CreateDatabaseAsync(), await server.CreateDatabaseAsync());
        await (await LogStores.OpenAsync("postgres:" + a)).DisposeAsync(); // schemas, no map
        await (await LogStores.OpenAsync("postgres:" + b)).DisposeAsync();
        var error = await Assert.ThrowsAsync<ShardMapException>(() => LogStores.OpenAsync($"sharded:postgres:{a}|postgres:{b}", StoreAccess.ReadOnly));
        Assert.Contains("never opened read-write", error.Message);
    }

    [Theory]
    [InlineData("sharded:", "needs its shards after the colon")]
    [InlineData("sharded:postgres:Host=a||postgres:Host=b", "shard 1 of the sharded: setting is empty")]
    [InlineData("sharded:postgres:Host=a|sqlite:/tmp/x.db", "must be of one kind; found postgres, sqlite")]
    [InlineData("sharded:sharded:memory:", "cannot itself be sharded")]
    [InlineData("sharded:postgres:Host=a;Password=pw1|postgres:Host=a;Password=pw1", "shards 0 and 1 of the sharded: setting are the same store")]
    public async Task A_bad_sharded_setting_is_refused_naming_the_fix_without_echoing_a_password(string setting, string expected)
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(() => LogStores.OpenAsync(setting));
        Assert.Contains(expected, error.Message);
        Assert.Contains("sharded:KIND:A|KIND:B", error.Message);
        Assert.DoesNotContain("pw1", error.Message);
    }
}
