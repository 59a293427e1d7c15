using System.Diagnostics;
using Middleware.Tests.Support;
using Npgsql;

namespace Middleware.Tests.Procedures;

/// <summary>
/// The idempotent-request contract as stored functions, for teams whose logic lives in the database: the
/// scripts sql/postgres/idempotent/001..003 are read from the repository (found by walking up from the test
/// output to Middleware.sln, so the tests check the files users run, not a copy) and run in a fresh database;
/// then the example wrapper transfer_funds_idempotent and the mw_* functions are called as a user would.
/// </summary>
[RequiresPostgres]
public sealed class PostgresStoredProcedureContractTests : IAsyncLifetime
{
    private static readonly string[] Scripts = ["001_requests.sql", "002_procedures.sql", "003_example_transfer.sql"];

    private NpgsqlDataSource? _db;

    private NpgsqlDataSource Db => _db ?? throw new InvalidOperationException("not initialized");

    public async Task InitializeAsync()
    {
        var server = await PostgresServer.GetAsync();
        _db = NpgsqlDataSource.Create(await server.CreateDatabaseAsync());
        await RunScriptsAsync();
        await ExecAsync("INSERT INTO example_accounts(id, balance) VALUES ('a', 100), ('b', 0)");
    }

    public async Task DisposeAsync()
    {
        if (_db is not null) await _db.DisposeAsync();
    }

    [StoreFact]
    public async Task A_transfer_moves_money_once_and_every_repeat_returns_the_first_outcome()
    {
        Assert.Equal(("done", "70"), await TransferAsync("t1", "a", "b", 30));
        Assert.Equal((70L, 30L), await BalancesAsync());

        for (var repeat = 0; repeat < 3; repeat++)
        {
            Assert.Equal(("done", "70"), await TransferAsync("t1", "a", "b", 30));
            Assert.Equal((70L, 30L), await BalancesAsync());
        }

        // The repeat returns the recorded remaining balance, not a recomputed one, even after other transfers.
        Assert.Equal(("done", "50"), await TransferAsync("t2", "a", "b", 20));
        Assert.Equal(("done", "70"), await TransferAsync("t1", "a", "b", 30));
        Assert.Equal((50L, 50L), await BalancesAsync());
        Assert.Equal(2L, await ScalarAsync("SELECT count(*) FROM mw_idempotent_requests WHERE status = 'done'"));
    }

    [StoreFact]
    public async Task An_overdraft_is_recorded_as_an_abort_returned_on_every_repeat_with_no_balance_change()
    {
        var first = await TransferAsync("over", "a", "b", 500);
        Assert.Equal("aborted", first.Status);
        Assert.Contains("insufficient funds in a", first.Result);

        // transfer_funds had already taken 500 from 'a' when it raised: the wrapper's savepoint undid that.
        Assert.Equal((100L, 0L), await BalancesAsync());

        // Even once the money is there, the id keeps its recorded abort: nothing runs again.
        await ExecAsync("UPDATE example_accounts SET balance = 1000 WHERE id = 'a'");
        for (var repeat = 0; repeat < 3; repeat++)
        {
            Assert.Equal(first, await TransferAsync("over", "a", "b", 500));
            Assert.Equal((1000L, 0L), await BalancesAsync());
        }

        Assert.Equal("aborted", await ScalarAsync("SELECT status FROM mw_idempotent_requests WHERE request_id = 'over'"));
        Assert.Equal(("done", "500"), await TransferAsync("over-retry", "a", "b", 500)); // a new request needs a new id
        Assert.Equal((500L, 500L), await BalancesAsync());
    }

    [StoreFact]
    public async Task The_same_request_id_with_other_arguments_raises_unique_violation_and_changes_nothing()
    {
        Assert.Equal(("done", "70"), await TransferAsync("t1", "a", "b", 30));

        var e = await Assert.ThrowsAsync<PostgresException>(() => TransferAsync("t1", "a", "b", 31));
        Assert.Equal(PostgresErrorCodes.UniqueViolation, e.SqlState);
        Assert.Contains("t1", e.MessageText);
        Assert.Contains("a new request needs a new id", e.MessageText);

        // Another procedure under the same id is the same mistake.
        var other = await Assert.ThrowsAsync<PostgresException>(() => BeginAsync("t1", "some_other_procedure", 1));
        Assert.Equal(PostgresErrorCodes.UniqueViolation, other.SqlState);
        Assert.Contains("a new request needs a new id", other.MessageText);

        Assert.Equal((70L, 30L), await BalancesAsync());
        Assert.Equal(("done", "70"), await TransferAsync("t1", "a", "b", 30));
    }

    [StoreFact]
    public async Task Two_concurrent_calls_with_the_same_id_execute_once_the_second_waits_for_the_first_commit()
    {
        await using var first = await Db.OpenConnectionAsync();
        await using var second = await Db.OpenConnectionAsync();
        await using var firstTx = await first.BeginTransactionAsync();
        await using var secondTx = await second.BeginTransactionAsync();

        Assert.Equal(("done", "70"), await TransferAsync(first, "c1", "a", "b", 30));
        var waiting = TransferAsync(second, "c1", "a", "b", 30);

        // The second call is blocked on the first one's uncommitted key, not finished early.
        await WaitUntilBlockedBehindAsync(first.ProcessID, second.ProcessID);
        Assert.False(waiting.IsCompleted);

        await firstTx.CommitAsync();
        Assert.Equal(("done", "70"), await waiting);
        await secondTx.CommitAsync();

        Assert.Equal((70L, 30L), await BalancesAsync());
        Assert.Equal(1L, await ScalarAsync("SELECT count(*) FROM mw_idempotent_requests"));
    }

    [StoreFact]
    public async Task A_concurrent_call_waiting_on_a_first_call_that_rolls_back_runs_the_transfer_itself_once()
    {
        await using var first = await Db.OpenConnectionAsync();
        await using var second = await Db.OpenConnectionAsync();
        await using var firstTx = await first.BeginTransactionAsync();
        await using var secondTx = await second.BeginTransactionAsync();

        Assert.Equal(("done", "70"), await TransferAsync(first, "c2", "a", "b", 30));
        var waiting = TransferAsync(second, "c2", "a", "b", 30);
        await WaitUntilBlockedBehindAsync(first.ProcessID, second.ProcessID);

        // The first caller's transaction fails for its own reasons: nothing of it is recorded or moved.
        await firstTx.RollbackAsync();
        Assert.Equal(("done", "70"), await waiting);
        await secondTx.CommitAsync();

        Assert.Equal((70L, 30L), await BalancesAsync());
        Assert.Equal(("done", "70"), await TransferAsync("c2", "a", "b", 30));
    }

    [StoreFact]
    public async Task Begin_request_returns_new_then_the_recorded_outcome_and_new_again_after_a_rollback()
    {
        await using (var connection = await Db.OpenConnectionAsync())
        await using (var tx = await connection.BeginTransactionAsync())
        {
            Assert.Equal(("new", null), await BeginAsync(connection, "r1", "proc", 42));
            await ExecAsync(connection, "SELECT mw_complete_request('r1', convert_to('ok', 'UTF8'))");
            await tx.CommitAsync();
        }

        Assert.Equal(("done", "ok"), await BeginAsync("r1", "proc", 42));
        Assert.Equal(("done", "ok"), await BeginAsync("r1", "proc", 42));

        await using (var connection = await Db.OpenConnectionAsync())
        await using (var tx = await connection.BeginTransactionAsync())
        {
            Assert.Equal(("new", null), await BeginAsync(connection, "r2", "proc", 7));
            await ExecAsync(connection, "SELECT mw_abort_request('r2', 'refused by the rules')");
            await tx.CommitAsync();
        }

        Assert.Equal(("aborted", "refused by the rules"), await BeginAsync("r2", "proc", 7));

        // A begun request whose transaction rolls back left nothing behind: the next call is new again.
        await using (var connection = await Db.OpenConnectionAsync())
        await using (var tx = await connection.BeginTransactionAsync())
        {
            Assert.Equal(("new", null), await BeginAsync(connection, "r3", "proc", 1));
            await tx.RollbackAsync();
        }

        Assert.Equal(("new", null), await BeginAsync("r3", "proc", 1));
    }

    [StoreFact]
    public async Task The_scripts_can_be_run_again_on_a_database_that_has_them_and_keep_its_outcomes()
    {
        Assert.Equal(("done", "70"), await TransferAsync("t1", "a", "b", 30));
        await RunScriptsAsync();
        Assert.Equal(("done", "70"), await TransferAsync("t1", "a", "b", 30));
        Assert.Equal((70L, 30L), await BalancesAsync());
    }

    /// <summary>The repository root: the nearest folder above the test output that holds Middleware.sln.</summary>
    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Middleware.sln"))) return dir.FullName;
        }

        throw new InvalidOperationException($"No Middleware.sln above {AppContext.BaseDirectory}; the stored-procedure tests read sql/postgres/idempotent from the repository.");
    }

    private async Task RunScriptsAsync()
    {
        var folder = Path.Combine(RepositoryRoot(), "sql", "postgres", "idempotent");
        foreach (var script in Scripts)
        {
            await ExecAsync(await File.ReadAllTextAsync(Path.Combine(folder, script)));
        }
    }

    private async Task<(string Status, string? Result)> TransferAsync(string requestId, string from, string to, long amount)
    {
        await using var connection = await Db.OpenConnectionAsync();
        return await TransferAsync(connection, requestId, from, to, amount);
    }

    private static Task<(string Status, string? Result)> TransferAsync(NpgsqlConnection connection, string requestId, string from, string to, long amount) =>
        QueryOutcomeAsync(connection, "SELECT status, convert_from(result, 'UTF8') FROM transfer_funds_idempotent(@id, @from, @to, @amount)",
            ("id", requestId), ("from", from), ("to", to), ("amount", amount));

    private async Task<(string Status, string? Result)> BeginAsync(string requestId, string procedure, long hash)
    {
        await using var connection = await Db.OpenConnectionAsync();
        return await BeginAsync(connection, requestId, procedure, hash);
    }

    private static Task<(string Status, string? Result)> BeginAsync(NpgsqlConnection connection, string requestId, string procedure, long hash) =>
        QueryOutcomeAsync(connection, "SELECT status, convert_from(result, 'UTF8') FROM mw_begin_request(@id, @procedure, @hash)",
            ("id", requestId), ("procedure", procedure), ("hash", hash));

    private static async Task<(string Status, string? Result)> QueryOutcomeAsync(NpgsqlConnection connection, string sql, params (string Name, object Value)[] parameters)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value);
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync(), "the function returned no row");
        var outcome = (reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1));
        Assert.False(await reader.ReadAsync(), "the function returned more than one row");
        return outcome;
    }

    private async Task<(long A, long B)> BalancesAsync() =>
        ((long)(await ScalarAsync("SELECT balance FROM example_accounts WHERE id = 'a'"))!,
         (long)(await ScalarAsync("SELECT balance FROM example_accounts WHERE id = 'b'"))!);

    private async Task<object?> ScalarAsync(string sql)
    {
        await using var command = Db.CreateCommand(sql);
        return await command.ExecuteScalarAsync();
    }

    private async Task ExecAsync(string sql)
    {
        await using var command = Db.CreateCommand(sql);
        await command.ExecuteNonQueryAsync();
    }

    private static async Task ExecAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>Polls pg_locks until session <paramref name="waiter"/> is blocked by session <paramref name="holder"/>.</summary>
    private async Task WaitUntilBlockedBehindAsync(int holder, int waiter)
    {
        await using var command = Db.CreateCommand("SELECT @holder = ANY(pg_blocking_pids(@waiter))");
        command.Parameters.AddWithValue("holder", holder);
        command.Parameters.AddWithValue("waiter", waiter);
        var deadline = Stopwatch.StartNew();
        while (!(bool)(await command.ExecuteScalarAsync())!)
        {
            if (deadline.Elapsed > TimeSpan.FromSeconds(30))
                throw new TimeoutException($"Session {waiter} was not seen waiting on session {holder} within 30 s.");
        }
    }
}
