using Middleware.Recovery.Log;
using Middleware.Recovery.Sqlite;
using Middleware.Recovery.Storage;

namespace Middleware.Tests.Storage;

/// <summary>
/// What only the file store has, run with the SQLite fixture (<see cref="SqliteStores"/>): the name, schema versions of
/// the file, paths that cannot be opened, a write lock held too long, and rows left in the file.
/// </summary>
public sealed partial class SqliteLogStoreContractTests
{
    private string DbPath => Stores.DbPath;

    private string Dir => Stores.Directory;

    [Fact]
    public void The_name_says_sqlite_and_the_path()
    {
        Assert.Equal("sqlite:" + DbPath, Store.Name);
        Assert.True(File.Exists(DbPath));
    }

    [Fact]
    public async Task A_file_written_by_a_newer_schema_is_refused_with_both_versions_and_the_fix()
    {
        await Store.DisposeAsync();
        using (var db = SqliteDb.Open(DbPath, create: false, TimeSpan.FromSeconds(1)))
        {
            db.Exec("INSERT INTO schema_version(version, script, applied_at) VALUES (7, '007_future.sql', 0)");
        }

        var error = Assert.Throws<SchemaVersionException>(() => SqliteLogStore.Open(DbPath));
        Assert.Contains(DbPath, error.Message);
        Assert.Contains("schema version 7", error.Message);
        Assert.Contains($"up to {SchemaMigrator.CurrentVersion}", error.Message);
        Assert.Contains("upgrade the middleware", error.Message);
        Assert.Contains("new data file", error.Message);
    }

    [Fact]
    public async Task A_damaged_schema_version_table_is_refused()
    {
        await Store.DisposeAsync();
        using (var db = SqliteDb.Open(DbPath, create: false, TimeSpan.FromSeconds(1)))
        {
            db.Exec("DELETE FROM schema_version");
        }

        var error = Assert.Throws<SchemaVersionException>(() => SqliteLogStore.Open(DbPath));
        Assert.Contains(DbPath, error.Message);
        Assert.Contains($"expected {SchemaMigrator.CurrentVersion}", error.Message);
    }

    [Fact]
    public void A_sqlite_file_of_some_other_program_is_refused_and_left_alone()
    {
        var foreign = Path.Combine(Dir, "other.db");
        Directory.CreateDirectory(Dir);
        ForeignSqlite.Create(foreign);
        var before = ForeignSqlite.Snapshot(foreign);

        var error = Assert.Throws<SchemaVersionException>(() => SqliteLogStore.Open(foreign));
        Assert.Contains("no schema_version", error.Message);
        // Refused before anything changed the file: no journal_mode=WAL, no CREATE, not one byte written.
        ForeignSqlite.AssertUntouched(foreign, before);
        var readOnly = Assert.Throws<SchemaVersionException>(() => SqliteLogStore.Open(foreign, new SqliteStoreOptions { ReadOnly = true }));
        Assert.Contains("no schema_version", readOnly.Message);
        ForeignSqlite.AssertUntouched(foreign, before);
    }

    [Fact]
    public void Opening_read_only_never_creates_a_missing_or_empty_file_nor_its_directory()
    {
        var missing = Path.Combine(Dir, "not-there", "x.db");
        var gone = Assert.Throws<StoreUnavailableException>(() => SqliteLogStore.Open(missing, new SqliteStoreOptions { ReadOnly = true }));
        Assert.Contains("does not exist", gone.Message);
        Assert.False(Directory.Exists(Path.GetDirectoryName(missing)));

        Directory.CreateDirectory(Dir);
        var empty = Path.Combine(Dir, "empty.db");
        File.WriteAllBytes(empty, []);
        var refused = Assert.Throws<SchemaVersionException>(() => SqliteLogStore.Open(empty, new SqliteStoreOptions { ReadOnly = true }));
        Assert.Contains("empty", refused.Message);
        Assert.Equal(0, new FileInfo(empty).Length);
    }

    [Fact]
    public async Task A_read_only_store_reads_what_a_writer_wrote_and_refuses_writes()
    {
        await using (var writer = SqliteLogStore.Open(DbPath))
        {
            Assert.NotNull((await writer.ClaimAsync(new ClaimRequest("c/1", 0, "me", ClaimMode.EpochOnly))).Claimed);
        }

        await using var reader = SqliteLogStore.Open(DbPath, new SqliteStoreOptions { ReadOnly = true });
        Assert.Equal("c/1", Assert.Single(await reader.ListComponentsAsync()).ComponentId);
        await Assert.ThrowsAsync<InvalidOperationException>(() => reader.ClaimAsync(new ClaimRequest("c/2", 0, "me", ClaimMode.EpochOnly)));
        Assert.Single(await reader.ListComponentsAsync());
    }

    [Fact]
    public void The_schema_scripts_run_by_the_code_are_the_files_in_sql_sqlite()
    {
        Assert.Equal([(1, "001_initial.sql"), (2, "002_cluster.sql"), (3, "003_silo_contact.sql"), (4, "004_session_tokens.sql")], SchemaMigrator.Scripts.Select(s => (s.Version, s.FileName)));
        Assert.Equal(4, SchemaMigrator.CurrentVersion);
        Assert.Contains("CREATE TABLE schema_version", SchemaMigrator.Scripts[0].Sql);
        Assert.Contains("CREATE TABLE silos", SchemaMigrator.Scripts[1].Sql);
        Assert.Contains("ADD COLUMN contact_since", SchemaMigrator.Scripts[2].Sql);
        Assert.Contains("ADD COLUMN token_hash", SchemaMigrator.Scripts[3].Sql);
    }

    [Fact]
    public void A_path_that_cannot_be_created_is_reported_as_unavailable_with_the_path_and_the_fix()
    {
        var blocker = Path.Combine(Dir, "a-file");
        File.WriteAllText(blocker, "not a directory");
        var underAFile = Path.Combine(blocker, "sub", "log.db");

        var error = Assert.Throws<StoreUnavailableException>(() => SqliteLogStore.Open(underAFile));
        Assert.Contains(underAFile, error.Message);
        Assert.Contains("directory", error.Message);

        var isADirectory = Assert.Throws<StoreUnavailableException>(() => SqliteLogStore.Open(Dir));
        Assert.Contains(Dir, isADirectory.Message);
        Assert.Contains("not a directory", isADirectory.Message);
    }

    [Fact]
    public void A_file_that_is_not_a_database_is_reported_as_unavailable()
    {
        var garbage = Path.Combine(Dir, "garbage.db");
        File.WriteAllBytes(garbage, Enumerable.Range(0, 4096).Select(i => (byte)(i * 7)).ToArray());

        var error = Assert.Throws<StoreUnavailableException>(() => SqliteLogStore.Open(garbage));
        Assert.Contains(garbage, error.Message);
    }

    [Fact]
    public async Task A_first_claim_that_cannot_get_the_write_lock_leaves_no_component_behind()
    {
        await using var impatient = SqliteLogStore.Open(DbPath, new SqliteStoreOptions { BusyTimeout = TimeSpan.FromMilliseconds(100) });
        using (var locker = SqliteDb.Open(DbPath, create: false, TimeSpan.Zero))
        {
            locker.Exec("BEGIN IMMEDIATE");
            await Assert.ThrowsAsync<StoreUnavailableException>(() => TryClaimAsync("Account/late", 0, "process-a", impatient));
            locker.Exec("ROLLBACK");
        }

        // Another component takes the next number; the failed claim's component must not be confused with it.
        var other = await ClaimAsync("Account/other");
        Assert.Equal(AppendStatus.Ok, await AppendAsync(Group("Account/other", other, 1, 1)));
        Assert.Null(await impatient.GetHeadAsync("Account/late"));
        Assert.Equal(AppendStatus.Fenced, (await impatient.AppendAsync([Group("Account/late", 1, 1, 1)]))[0]);
        Assert.Equal([1L], await SeqsAsync("Account/other"));
        Assert.Empty(await SeqsAsync("Account/late"));
    }

    [Fact]
    public async Task An_append_that_cannot_get_the_write_lock_fails_as_unavailable_and_writes_nothing()
    {
        await using var impatient = SqliteLogStore.Open(DbPath, new SqliteStoreOptions { BusyTimeout = TimeSpan.FromMilliseconds(200) });
        var epoch = await ClaimAsync("Account/1");
        using (var locker = SqliteDb.Open(DbPath, create: false, TimeSpan.Zero))
        {
            // Another program holds the write lock for longer than the store is willing to wait.
            locker.Exec("BEGIN IMMEDIATE");
            var error = await Assert.ThrowsAsync<StoreUnavailableException>(() => impatient.AppendAsync([Group("Account/1", epoch, 1, 1)]));
            Assert.Contains(DbPath, error.Message);
            Assert.Contains("busy timeout", error.Message);
            Assert.Contains("Nothing from this call was acknowledged", error.Message);
            Assert.Empty(await impatient.ReadAsync("Account/1", 1, long.MaxValue));
            locker.Exec("ROLLBACK");
        }

        Assert.Equal([AppendStatus.Ok], await impatient.AppendAsync([Group("Account/1", epoch, 1, 1)]));
        Assert.Equal([1L], await SeqsAsync("Account/1"));
    }

    [Fact]
    public async Task Fenced_and_conflicting_groups_leave_no_rows_in_the_file()
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
        using var db = SqliteDb.Open(DbPath, create: false, TimeSpan.FromSeconds(1));
        Assert.Equal(3, CountRows(db, "log"));
        Assert.Equal(0, CountRows(db, "checkpoints"));
        Assert.Equal(0, CountRows(db, "dedup"));
    }

    private static long CountRows(SqliteDb db, string table)
    {
        var count = db.Prepare($"SELECT count(*) FROM {table}");
        Assert.True(count.Step());
        return count.Int64(0);
    }
}
