using Middleware.Recovery.Postgres;
using Middleware.Recovery.Storage;
using Middleware.Tests.Support;

namespace Middleware.Tests.Storage;

/// <summary>What only the PostgreSQL store has, run with its fixture (<see cref="PostgresStores"/>): the cluster tables' schema versions and the upgrade of a version-2 database.</summary>
public sealed partial class PostgresClusterStoreContractTests
{
    [StoreFact]
    public async Task The_cluster_tables_come_with_schema_versions_2_to_4()
    {
        Assert.Equal(4, PostgresSchema.CurrentVersion);
        Assert.Equal("004_session_tokens.sql", PostgresSchema.Scripts[3].FileName);
        Assert.Equal(1L, await PostgresServer.ExecuteAsync(Stores.ConnectionString,
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'sessions' AND column_name = 'token_hash'"));
        Assert.Equal("002_cluster.sql", PostgresSchema.Scripts[1].FileName);
        Assert.Equal(3L, await PostgresServer.ExecuteAsync(Stores.ConnectionString,
            "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename IN ('silos', 'sessions', 'session_items')"));
        Assert.Equal(1L, await PostgresServer.ExecuteAsync(Stores.ConnectionString,
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'silos' AND column_name = 'contact_since'"));
    }

    [StoreFact]
    public async Task A_version_2_database_is_upgraded_at_open_and_its_silos_start_their_contact_at_their_last_heartbeat()
    {
        var server = await PostgresServer.GetAsync();
        var old = await server.CreateDatabaseAsync();
        foreach (var script in PostgresSchema.Scripts.Take(2))
        {
            await PostgresServer.ExecuteAsync(old, script.Sql);
            await PostgresServer.ExecuteAsync(old, $"INSERT INTO schema_version(version, script) VALUES ({script.Version}, '{script.FileName}')");
        }

        await PostgresServer.ExecuteAsync(old, "INSERT INTO silos(silo_id, address, http_address, status, heartbeat, dead_after_ms, activations, joined_at) " +
            "VALUES ('silo-old', 'host-old:7000', NULL, 1, clock_timestamp() - interval '1 second', 600000, 2, clock_timestamp() - interval '1 hour')");

        await using (var upgraded = await PostgresLogStore.OpenAsync(old))
        {
            Assert.Equal(4, await PostgresServer.ExecuteAsync(old, "SELECT max(version) FROM schema_version"));
            Assert.Equal(true, await PostgresServer.ExecuteAsync(old, "SELECT contact_since = heartbeat FROM silos WHERE silo_id = 'silo-old'"));
            var cluster = (IClusterStore)upgraded;
            Assert.True(await cluster.HeartbeatAsync("silo-old", 3));
            var silo = Assert.Single(await cluster.ListSilosAsync());
            Assert.Equal(("silo-old", SiloStatus.Active, true, 3), (silo.SiloId, silo.Status, silo.IsLive, silo.Activations));
        }
    }
}
