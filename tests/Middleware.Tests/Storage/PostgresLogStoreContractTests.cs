using Middleware.Recovery.Log;
using Middleware.Recovery.Postgres;
using Middleware.Recovery.Storage;
using Middleware.Tests.Support;

namespace Middleware.Tests.Storage;

/// <summary>
/// What only the PostgreSQL store has, run with its fixture (<see cref="PostgresStores"/>): the name, schema version
/// checks, schema creation by stores opening at once, an unreachable server, a missing database, and rows left behind.
/// </summary>
public sealed partial class PostgresLogStoreContractTests
{
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
        await PostgresServer.ExecuteAsync(Stores.ConnectionString, "INSERT INTO schema_version(version, script) VALUES (7, '007_future.sql')");

        var error = await Assert.ThrowsAsync<SchemaVersionException>(() => PostgresLogStore.OpenAsync(Stores.ConnectionString));
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
        Assert.Equal([(1, "001_initial.sql"), (2, "002_cluster.sql"), (3, "003_silo_contact.sql"), (4, "004_session_tokens.sql")], PostgresSchema.Scripts.Select(s => (s.Version, s.FileName)));
        Assert.Equal(4, PostgresSchema.CurrentVersion);
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
        Assert.Equal(3L, await PostgresServer.ExecuteAsync(Stores.ConnectionString, "SELECT count(*) FROM log"));
        Assert.Equal(0L, await PostgresServer.ExecuteAsync(Stores.ConnectionString, "SELECT count(*) FROM checkpoints"));
        Assert.Equal(0L, await PostgresServer.ExecuteAsync(Stores.ConnectionString, "SELECT count(*) FROM dedup"));
    }
}
