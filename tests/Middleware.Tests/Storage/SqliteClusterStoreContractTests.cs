using Middleware.Recovery.Log;
using Middleware.Recovery.Sqlite;
using Middleware.Recovery.Storage;

namespace Middleware.Tests.Storage;

/// <summary>
/// What only the file store has, run with the SQLite fixture (<see cref="SqliteStores"/>): the upgrade of version-1,
/// version-2 and version-3 files, a write lock held too long, and SQLite's clock as the store clock.
/// </summary>
public sealed partial class SqliteClusterStoreContractTests
{
    private string DbPath => Stores.DbPath;

    [Fact]
    public async Task A_version_1_file_is_upgraded_at_open_and_its_components_can_be_claimed_by_silos()
    {
        await Store.DisposeAsync();
        var old = Path.Combine(Stores.Directory, "v1.db");
        using (var db = SqliteDb.Open(old, create: true, TimeSpan.FromSeconds(1)))
        {
            db.Exec(SchemaMigrator.Scripts[0].Sql);
            db.Exec("INSERT INTO schema_version(version, script, applied_at) VALUES (1, '001_initial.sql', 0)");
            db.Exec("INSERT INTO components(cid, id, owner, claimed_at) VALUES (1, 'Account/1', 'local-runtime', 0)");
            db.Exec("INSERT INTO heads(cid, epoch, last_seq, last_pos, checkpoint_seq) VALUES (1, 3, 0, 0, 0)");
        }

        await using var upgraded = SqliteLogStore.Open(old);
        using (var check = SqliteDb.Open(old, create: false, TimeSpan.FromSeconds(1)))
        {
            var versions = check.Prepare("SELECT group_concat(script, ',') FROM (SELECT script FROM schema_version ORDER BY version)");
            Assert.True(versions.Step());
            Assert.Equal("001_initial.sql,002_cluster.sql,003_silo_contact.sql,004_session_tokens.sql", versions.Text(0));
        }

        await upgraded.JoinAsync("silo-a", "host-a:7000", null, LongWindow);
        var claimed = await ClaimForSiloAsync("Account/1", 3, "silo-a", upgraded);
        Assert.Equal(new ComponentHead("Account/1", 4, "silo-a", 0, 0), claimed.Claimed);
    }

    [Fact]
    public async Task A_version_2_file_is_upgraded_at_open_and_its_silos_start_their_contact_at_their_last_heartbeat()
    {
        await Store.DisposeAsync();
        var old = Path.Combine(Stores.Directory, "v2.db");
        using (var db = SqliteDb.Open(old, create: true, TimeSpan.FromSeconds(1)))
        {
            foreach (var script in SchemaMigrator.Scripts.Take(2))
            {
                db.Exec(script.Sql);
                db.Exec($"INSERT INTO schema_version(version, script, applied_at) VALUES ({script.Version}, '{script.FileName}', 0)");
            }

            var heartbeat = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 1000;
            db.Exec("INSERT INTO silos(silo_id, address, http_address, status, heartbeat, dead_after_ms, activations, joined_at) " +
                $"VALUES ('silo-old', 'host-old:7000', NULL, 1, {heartbeat}, 600000, 2, {heartbeat - 3_600_000})");
        }

        await using var upgraded = SqliteLogStore.Open(old);
        using (var check = SqliteDb.Open(old, create: false, TimeSpan.FromSeconds(1)))
        {
            var row = check.Prepare("SELECT (SELECT max(version) FROM schema_version), contact_since = heartbeat FROM silos WHERE silo_id = 'silo-old'");
            Assert.True(row.Step());
            Assert.Equal((4L, 1L), (row.Int64(0), row.Int64(1)));
        }

        Assert.True(await upgraded.HeartbeatAsync("silo-old", 3));
        var silo = Assert.Single(await upgraded.ListSilosAsync());
        Assert.Equal(("silo-old", SiloStatus.Active, true, 3), (silo.SiloId, silo.Status, silo.IsLive, silo.Activations));
    }

    [Fact]
    public async Task A_version_3_file_is_upgraded_and_its_sessions_stay_resumable_without_a_token_hash()
    {
        await Store.DisposeAsync();
        var old = Path.Combine(Stores.Directory, "v3.db");
        using (var db = SqliteDb.Open(old, create: true, TimeSpan.FromSeconds(1)))
        {
            foreach (var script in SchemaMigrator.Scripts.Take(3))
            {
                db.Exec(script.Sql);
                db.Exec($"INSERT INTO schema_version(version, script, applied_at) VALUES ({script.Version}, '{script.FileName}', 0)");
            }

            db.Exec("INSERT INTO sessions(session_id, status, reserved, opens, created_at, last_opened_at) VALUES ('old-session', 1, 10, 1, 0, 0)");
        }

        await using var upgraded = SqliteLogStore.Open(old);
        var session = (await upgraded.GetSessionAsync("old-session"))!;
        Assert.Equal((10L, null), (session.Reserved, session.TokenHash));
        var resumed = await upgraded.OpenSessionAsync("old-session", 5, new string('c', 64));
        Assert.Equal((11L, null), (resumed.First, resumed.Session.TokenHash));
    }

    [Fact]
    public async Task A_cluster_write_that_cannot_get_the_write_lock_fails_as_unavailable_and_changes_nothing()
    {
        await using var impatient = SqliteLogStore.Open(DbPath, new SqliteStoreOptions { BusyTimeout = TimeSpan.FromMilliseconds(100) });
        using (var locker = SqliteDb.Open(DbPath, create: false, TimeSpan.Zero))
        {
            locker.Exec("BEGIN IMMEDIATE");
            var join = await Assert.ThrowsAsync<StoreUnavailableException>(() => impatient.JoinAsync("silo-a", "host-a:7000", null, LongWindow));
            Assert.Contains(DbPath, join.Message);
            Assert.Contains("busy timeout", join.Message);
            await Assert.ThrowsAsync<StoreUnavailableException>(() => impatient.OpenSessionAsync("s", 1));
            await Assert.ThrowsAsync<StoreUnavailableException>(() => ClaimForSiloAsync("Account/1", 0, "silo-a", impatient));
            locker.Exec("ROLLBACK");
        }

        Assert.Empty(await Cluster.ListSilosAsync());
        Assert.Null(await Cluster.GetSessionAsync("s"));
        Assert.Null(await Store.GetHeadAsync("Account/1"));
        Assert.Equal((1L, 1L), ((await impatient.OpenSessionAsync("s", 1)).First, (await impatient.GetSessionAsync("s"))!.Reserved));
    }

    [Fact]
    public async Task Heartbeat_ages_and_join_times_come_from_the_sqlite_clock_not_the_process_clock()
    {
        // A store whose own TimeProvider is far off: membership must not use it.
        await using var skewed = SqliteLogStore.Open(DbPath, new SqliteStoreOptions { TimeProvider = new Support.ManualTime(new DateTimeOffset(2001, 1, 1, 0, 0, 0, TimeSpan.Zero)) });
        var joined = await skewed.JoinAsync("silo-a", "host-a:7000", null, LongWindow);
        Assert.InRange(joined.JoinedAt, DateTimeOffset.UtcNow - TimeSpan.FromMinutes(1), DateTimeOffset.UtcNow + TimeSpan.FromMinutes(1));
        var listed = Assert.Single(await Cluster.ListSilosAsync());
        Assert.True(listed.IsLive);
        Assert.Equal(joined.JoinedAt, listed.JoinedAt);
    }
}
