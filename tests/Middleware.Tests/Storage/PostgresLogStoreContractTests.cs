using Middleware.Recovery.Log;
using Middleware.Recovery.Postgres;
using Middleware.Recovery.Storage;
using Middleware.Tests.Support;

namespace Middleware.Tests.Storage;

/// <summary>
/// The storage contract against PostgreSQL (a fresh database per test on the process-wide throwaway cluster,
/// reopened through a new data source where the contract checks durability), plus what only a server store has:
/// schema version checks, an unreachable server, and two store instances fencing each other like two processes.
/// </summary>
[RequiresPostgres]
public sealed class PostgresLogStoreContractTests : LogStoreContract
{
    private string _connectionString = "";

    protected override async Task<ILogStore> CreateStoreAsync()
    {
        var server = await PostgresServer.GetAsync();
        _connectionString = await server.CreateDatabaseAsync();
        return await PostgresLogStore.OpenAsync(_connectionString);
    }

    protected override async Task<ILogStore?> ReopenAsync(ILogStore old)
    {
        await old.DisposeAsync();
        return await PostgresLogStore.OpenAsync(_connectionString);
    }

    [StoreFact]
    public void The_name_says_postgres_and_the_database_but_not_a_password()
    {
        Assert.StartsWith("postgres:", Store.Name);
        Assert.Contains("Database=t_", Store.Name);
        Assert.Equal("postgres:Host=db;Username=app", PostgresLogStore.DescribeWithoutPassword("Host=db;Username=app;Password=secret"));
    }

    [StoreFact]
    public async Task A_database_written_by_a_newer_schema_is_refused_with_both_versions_and_the_fix()
    {
        await PostgresServer.ExecuteAsync(_connectionString, "INSERT INTO schema_version(version, script) VALUES (7, '007_future.sql')");

        var error = await Assert.ThrowsAsync<SchemaVersionException>(() => PostgresLogStore.OpenAsync(_connectionString));
        Assert.Contains("schema version 7", error.Message);
        Assert.Contains($"up to {PostgresSchema.CurrentVersion}", error.Message);
        Assert.Contains("upgrade the middleware", error.Message);
        Assert.Contains("Database=t_", error.Message);
    }

    [StoreFact]
    public async Task A_database_of_some_other_program_is_refused_and_left_alone()
    {
        var server = await PostgresServer.GetAsync();
        var foreign = await server.CreateDatabaseAsync();
        await PostgresServer.ExecuteAsync(foreign, "CREATE TABLE customers(id int PRIMARY KEY, name text)");

        var error = await Assert.ThrowsAsync<SchemaVersionException>(() => PostgresLogStore.OpenAsync(foreign));
        Assert.Contains("no schema_version", error.Message);
        Assert.Equal(0L, await PostgresServer.ExecuteAsync(foreign, "SELECT count(*) FROM pg_tables WHERE tablename = 'log'"));
    }

    [StoreFact]
    public void The_schema_scripts_run_by_the_code_are_the_files_in_sql_postgres()
    {
        Assert.Equal([(1, "001_initial.sql"), (2, "002_cluster.sql"), (3, "003_silo_contact.sql")], PostgresSchema.Scripts.Select(s => (s.Version, s.FileName)));
        Assert.Equal(3, PostgresSchema.CurrentVersion);
        Assert.Contains("CREATE TABLE schema_version", PostgresSchema.Scripts[0].Sql);
        Assert.Contains("CREATE TABLE silos", PostgresSchema.Scripts[1].Sql);
        Assert.Contains("ADD COLUMN contact_since", PostgresSchema.Scripts[2].Sql);
    }

    [StoreFact]
    public async Task Stores_opening_a_new_database_at_once_create_the_schema_once()
    {
        var server = await PostgresServer.GetAsync();
        var fresh = await server.CreateDatabaseAsync();
        var stores = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() => PostgresLogStore.OpenAsync(fresh))));
        foreach (var s in stores) await s.DisposeAsync();
        Assert.Equal((long)PostgresSchema.CurrentVersion, await PostgresServer.ExecuteAsync(fresh, "SELECT count(*) FROM schema_version"));
    }

    [StoreFact]
    public async Task An_unreachable_server_is_reported_as_unavailable_naming_the_store_and_the_fix_without_the_password()
    {
        var port = PostgresServer.FreePort();
        var error = await Assert.ThrowsAsync<StoreUnavailableException>(
            () => PostgresLogStore.OpenAsync($"Host=127.0.0.1;Port={port};Username=app;Password=s3cret-pw;Database=mw;Timeout=5"));
        Assert.Contains($"Port={port}", error.Message);
        Assert.Contains("running and accepts TCP connections", error.Message);
        Assert.DoesNotContain("s3cret-pw", error.Message);
    }

    [StoreFact]
    public async Task A_missing_database_is_reported_as_unavailable_with_the_fix()
    {
        var server = await PostgresServer.GetAsync();
        var error = await Assert.ThrowsAsync<StoreUnavailableException>(() => PostgresLogStore.OpenAsync(server.ConnectionString("no_such_db")));
        Assert.Contains("no_such_db", error.Message);
        Assert.Contains("CREATE DATABASE", error.Message);
    }

    [StoreFact]
    public async Task Two_stores_on_one_database_fence_each_other_like_two_processes()
    {
        await using var other = await PostgresLogStore.OpenAsync(_connectionString);
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
    public async Task Concurrent_appends_of_disjoint_components_all_commit()
    {
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

    [StoreFact]
    public async Task Fenced_and_conflicting_groups_leave_no_rows_in_the_database()
    {
        var stale = await ClaimAsync("Account/a");
        var current = await ClaimAsync("Account/a", stale);
        var b = await ClaimAsync("Account/b");

        var statuses = await Store.AppendAsync(
        [
            Group("Account/a", stale, 1, 3, Checkpoint(2, stale, new DedupEntry("r", 1, 1, Bytes("x")))),
            Group("Account/b", b, 1, 2),
            Group("Account/b", b, 9, 4),
            Group("Account/a", current, 1, 1),
        ]);

        Assert.Equal([AppendStatus.Fenced, AppendStatus.Ok, AppendStatus.SeqConflict, AppendStatus.Ok], statuses);
        Assert.Equal(3L, await PostgresServer.ExecuteAsync(_connectionString, "SELECT count(*) FROM log"));
        Assert.Equal(0L, await PostgresServer.ExecuteAsync(_connectionString, "SELECT count(*) FROM checkpoints"));
        Assert.Equal(0L, await PostgresServer.ExecuteAsync(_connectionString, "SELECT count(*) FROM dedup"));
    }
}
