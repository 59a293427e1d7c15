using Middleware.Tests.Storage;
using Middleware.Tests.Support;
using Xunit.Abstractions;

namespace Middleware.Tests.Cluster;

/// <summary>
/// The cluster failover tests (three silo processes, SIGKILL and SIGSTOP, clients of the real SDK) on a sharded store over
/// two PostgreSQL servers: a database on the shared test server (shard 0: the cluster tables and its share of the
/// components) and one on a second server (the other share).
/// </summary>
[RequiresPostgres]
public sealed class ShardedPostgresClusterFailoverTests(ITestOutputHelper output) : ClusterFailoverTests(output)
{
    internal override async Task<ClusterFixture> StartClusterAsync(int count) =>
        await ClusterFixture.StartAsync(count, await ShardedPostgresServers.NewSettingAsync());
}
