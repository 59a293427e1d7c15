using Middleware.Recovery.Sharded;
using Middleware.Recovery.Storage;
using Middleware.Recovery.Stores;
using Middleware.Recovery.TestKit;
using Middleware.Tests.Support;

namespace Middleware.Tests.Storage;

/// <summary>
/// A sharded store over two memory stores on one clock the tests move: the contract suites run against the routing
/// (components in both shards, cluster tables in shard 0) without a server and without waiting.
/// </summary>
public sealed class ShardedMemoryStores : StoreFactory
{
    /// <summary>The clock of both shards.</summary>
    public ManualTime Time { get; } = new(new DateTimeOffset(2030, 1, 2, 3, 4, 5, TimeSpan.Zero));

    public override DateTimeOffset Now => Time.GetUtcNow();

    public override async Task<ILogStore> CreateStoreAsync() =>
        await ShardedLogStore.OpenAsync([new MemoryLogStore(Time), new MemoryLogStore(Time)], StoreAccess.ReadWrite);

    public override Task PassAsync(TimeSpan time)
    {
        Time.Advance(time);
        return Task.CompletedTask;
    }
}

/// <summary>
/// A sharded store over two fresh PostgreSQL databases of the test cluster, opened from its setting
/// (<c>sharded:postgres:A|postgres:B</c>) the way a silo opens it: it survives a reopen, and a second instance is a
/// second process. The failover tests run it over two servers (<see cref="ShardedPostgresServers"/>).
/// </summary>
public sealed class ShardedPostgresStores : StoreFactory
{
    /// <summary>The store setting (set by <see cref="CreateStoreAsync"/>).</summary>
    public string Setting { get; private set; } = "";

    /// <summary>The connection strings of the two shards.</summary>
    public string[] Shards { get; private set; } = [];

    public override bool CanReopen => true;

    public override bool IsSharedAcrossProcesses => true;

    public override async Task<ILogStore> CreateStoreAsync()
    {
        var server = await PostgresServer.GetAsync();
        Shards = [await server.CreateDatabaseAsync(), await server.CreateDatabaseAsync()];
        Setting = "sharded:" + string.Join('|', Shards.Select(s => "postgres:" + s));
        return await OpenStoreAsync();
    }

    public override Task<ILogStore> OpenStoreAsync() => LogStores.OpenAsync(Setting);
}

/// <summary>
/// A second PostgreSQL server for the tests that shard over two servers, started once per test process beside the shared
/// one (its own directory and port; stopped and deleted when the test process exits).
/// </summary>
internal static class ShardedPostgresServers
{
    private static readonly Lazy<Task<PrivatePostgresServer>> Second = new(PostgresServer.StartPrivateAsync, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>A store setting over a fresh database on each of the two servers.</summary>
    public static async Task<string> NewSettingAsync()
    {
        var first = await (await PostgresServer.GetAsync()).CreateDatabaseAsync();
        var second = await (await Second.Value).Server.CreateDatabaseAsync();
        return $"sharded:postgres:{first}|postgres:{second}";
    }
}

/// <summary>The storage contract against a sharded store of two memory stores.</summary>
public sealed class ShardedMemoryLogStoreContractTests : LogStoreContract<ShardedMemoryStores>;

/// <summary>The cluster contract against a sharded store of two memory stores (membership and sessions in shard 0).</summary>
public sealed class ShardedMemoryClusterStoreContractTests : ClusterStoreContract<ShardedMemoryStores>;

/// <summary>The storage contract against a sharded store of two PostgreSQL databases.</summary>
[RequiresPostgres]
public sealed class ShardedPostgresLogStoreContractTests : LogStoreContract<ShardedPostgresStores>;

/// <summary>The cluster contract against a sharded store of two PostgreSQL databases.</summary>
[RequiresPostgres]
public sealed class ShardedPostgresClusterStoreContractTests : ClusterStoreContract<ShardedPostgresStores>;
