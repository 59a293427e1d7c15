using Middleware.Tests.Storage;
using Middleware.Tests.Support;

namespace Middleware.Tests.Admin;

/// <summary>
/// Read-only commands never create or alter a store, and no command alters a file before its schema check: a missing,
/// empty or foreign SQLite file, or an empty PostgreSQL database, is refused with one line and left exactly as it was.
/// </summary>
public sealed class AdminReadOnlyStoreTests : IDisposable
{
    private readonly AdminFixture _fx = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("mw-readonly-").FullName;

    public void Dispose()
    {
        _fx.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>Every read-only command, with what it needs besides the store.</summary>
    public static TheoryData<string[]> ReadOnlyCommands() => new()
    {
        new[] { "components", "list" },
        new[] { "components", "show", "Account/a0" },
        new[] { "log", "Account/a0" },
        new[] { "state", "Account/a0", "--components", AdminFixture.BankDll },
        new[] { "audit", "--all", "--components", AdminFixture.BankDll },
        new[] { "sessions", "list" },
        new[] { "sessions", "show", "s1" },
        new[] { "outcome", "s1:1", "--component", "Account/a0" },
        new[] { "outcome", "s1:1" },
        new[] { "db", "verify" },
    };

    /// <summary>Commands that write (a claim, a checkpoint, a truncation, a decision, the silos' verdicts): refused just the same before any change.</summary>
    public static TheoryData<string[]> WritingCommands() => new()
    {
        new[] { "checkpoint", "Account/a0", "--components", AdminFixture.BankDll },
        new[] { "truncate", "Account/a0", "--before", "2", "--force" },
        new[] { "cluster", "status" },
        new[] { "quarantine", "Account/a0", "--reason", "test", "--components", AdminFixture.BankDll },
        new[] { "move", "Account/a0", "--to", "silo-1" },
    };

    private static void AssertRefused((int Code, string Out, string Err) run, string mentions)
    {
        Assert.True(run.Code == 2, $"exit {run.Code}\n{run.Out}\n{run.Err}");
        var line = Assert.Single(run.Err.TrimEnd().Split('\n'));
        Assert.StartsWith("mw: ", line, StringComparison.Ordinal);
        Assert.Contains(mentions, line, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(ReadOnlyCommands))]
    public async Task A_read_only_command_on_an_empty_file_refuses_it_and_leaves_it_empty(string[] command)
    {
        var empty = Path.Combine(_dir, "empty.db");
        await File.WriteAllBytesAsync(empty, []);
        AssertRefused(await AdminFixture.Mw([.. command, "--store", "sqlite:" + empty]), "empty");
        Assert.Equal(0, new FileInfo(empty).Length);
        Assert.False(File.Exists(empty + "-wal"));
        Assert.False(File.Exists(empty + "-journal"));
    }

    [Theory]
    [MemberData(nameof(ReadOnlyCommands))]
    [MemberData(nameof(WritingCommands))]
    public async Task Any_command_on_a_foreign_sqlite_file_refuses_it_untouched(string[] command)
    {
        var foreign = Path.Combine(_dir, "foreign.db");
        ForeignSqlite.Create(foreign);
        var before = ForeignSqlite.Snapshot(foreign);
        AssertRefused(await AdminFixture.Mw([.. command, "--store", "sqlite:" + foreign]), "not a log store of this middleware");
        ForeignSqlite.AssertUntouched(foreign, before);
    }

    [Theory]
    [MemberData(nameof(WritingCommands))]
    public async Task A_writing_command_on_an_empty_file_refuses_it_too(string[] command)
    {
        var empty = Path.Combine(_dir, "empty.db");
        await File.WriteAllBytesAsync(empty, []);
        AssertRefused(await AdminFixture.Mw([.. command, "--store", "sqlite:" + empty]), "empty");
        Assert.Equal(0, new FileInfo(empty).Length);
    }

    [Fact]
    public async Task A_read_only_command_on_a_real_store_changes_none_of_its_bytes()
    {
        await _fx.WriteBankAsync();
        var before = ForeignSqlite.Snapshot(_fx.Db);
        foreach (var command in ReadOnlyCommands())
        {
            var run = await _fx.MwOnStore(command);
            Assert.True(run.Code == 0 || run.Err.StartsWith("mw: No session", StringComparison.Ordinal), $"{string.Join(' ', command)}: exit {run.Code}\n{run.Err}");
        }

        var after = ForeignSqlite.Snapshot(_fx.Db);
        Assert.True(before.Bytes.AsSpan().SequenceEqual(after.Bytes), "a read-only command changed the store's bytes");
        Assert.Equal(before.Modified, after.Modified);
    }

    [Fact]
    public async Task A_read_only_command_on_an_older_schema_says_to_migrate_and_leaves_it_alone()
    {
        await _fx.WriteBankAsync();
        await using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={_fx.Db};Pooling=False"))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "DELETE FROM schema_version WHERE version = (SELECT max(version) FROM schema_version)";
            await command.ExecuteNonQueryAsync();
        }

        var before = ForeignSqlite.Snapshot(_fx.Db);
        AssertRefused(await _fx.MwOnStore("components", "list"), "mw db migrate");
        Assert.True(before.Bytes.AsSpan().SequenceEqual(ForeignSqlite.Snapshot(_fx.Db).Bytes));
    }
}

/// <summary>The same on PostgreSQL: a read-only command creates no table in an empty database and leaves a foreign one alone.</summary>
[RequiresPostgres]
public sealed class AdminReadOnlyPostgresTests
{
    private const string CountTables = "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()";

    [StoreFact]
    public async Task A_read_only_command_on_an_empty_database_creates_no_table()
    {
        var server = await PostgresServer.GetAsync();
        var database = await server.CreateDatabaseAsync();
        string[][] commands = [["components", "list"], ["sessions", "list"], ["log", "Account/a0"], ["outcome", "s1:1"], ["audit", "--all", "--components", AdminFixture.BankDll]];
        foreach (var command in commands)
        {
            var run = await AdminFixture.Mw([.. command, "--store", "postgres:" + database]);
            Assert.True(run.Code == 2, $"{string.Join(' ', command)}: exit {run.Code}\n{run.Out}\n{run.Err}");
            var line = Assert.Single(run.Err.TrimEnd().Split('\n'));
            Assert.StartsWith("mw: ", line, StringComparison.Ordinal);
            Assert.Contains("no tables", line, StringComparison.Ordinal);
            Assert.Equal(0L, await PostgresServer.ExecuteAsync(database, CountTables));
        }
    }

    [StoreFact]
    public async Task A_read_only_command_on_a_foreign_database_refuses_it_and_adds_nothing()
    {
        var server = await PostgresServer.GetAsync();
        var database = await server.CreateDatabaseAsync();
        await PostgresServer.ExecuteAsync(database, "CREATE TABLE customers(id int PRIMARY KEY, name text)");
        var run = await AdminFixture.Mw("components", "list", "--store", "postgres:" + database);
        Assert.Equal(2, run.Code);
        Assert.Contains("not a log store of this middleware", run.Err, StringComparison.Ordinal);
        Assert.Equal(1L, await PostgresServer.ExecuteAsync(database, CountTables));
    }

    [StoreFact]
    public async Task A_read_only_command_reads_a_store_a_writer_created()
    {
        var server = await PostgresServer.GetAsync();
        var database = await server.CreateDatabaseAsync();
        await (await Middleware.Recovery.Stores.LogStores.OpenAsync("postgres:" + database)).DisposeAsync();
        var run = await AdminFixture.Mw("components", "list", "--store", "postgres:" + database, "--json");
        Assert.True(run.Code == 0, run.Err);
        Assert.Contains("\"components\": []", run.Out, StringComparison.Ordinal);
    }
}
