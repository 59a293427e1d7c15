using System.Data.Common;
using System.Diagnostics;
using Middleware.Recovery.Procedures;
using Middleware.Tests.Support;
using Npgsql;

namespace Middleware.Tests.Procedures;

/// <summary>
/// The idempotent-procedure suite against a real PostgreSQL back end (a fresh database per test on the
/// process-wide throwaway cluster), plus what only a server with row locks shows: concurrent duplicates
/// observed waiting on the first one's primary-key claim, and reaping recorded outcomes.
/// </summary>
[RequiresPostgres]
public sealed class PostgresIdempotentProcedureTests : IdempotentProcedureTests
{
    protected override BackendDialect Dialect => BackendDialect.Postgres;

    protected override async Task<DbDataSource> CreateBackendAsync()
    {
        var server = await PostgresServer.GetAsync();
        return NpgsqlDataSource.Create(await server.CreateDatabaseAsync());
    }

    [StoreFact]
    public async Task Concurrent_duplicates_wait_on_the_first_claim_of_the_key_and_then_get_its_result()
    {
        const int duplicates = 8;
        var executor = new IdempotentExecutor("ledger", Ledger, Dialect);
        var runs = 0;
        var calls = Enumerable.Range(0, duplicates).Select(_ => Task.Run(() => executor.ExecuteAsync("dup-pk", "post", "[1]"u8.ToArray(), async w =>
        {
            Interlocked.Increment(ref runs);
            await using (var insert = w.Command("INSERT INTO ledger(request_id, account, amount) VALUES (@id, 'x', 1)", new { id = w.RequestId }))
            {
                await insert.ExecuteNonQueryAsync();
            }

            // Keep the claim uncommitted until every other duplicate is seen blocked behind this transaction on
            // the INSERT into mw_idempotent_requests: that is the wait the executor relies on, not luck of timing.
            await using var pidCommand = w.Command("SELECT pg_backend_pid()");
            var pid = Convert.ToInt32(await pidCommand.ExecuteScalarAsync());
            await WaitUntilBlockedBehindAsync(pid, duplicates - 1);
            return (ReadOnlyMemory<byte>)"\"first\""u8.ToArray();
        })));
        var outcomes = await Task.WhenAll(calls);

        Assert.Equal(1, runs);
        Assert.All(outcomes, o => Assert.Equal("\"first\"", o.ToString()));
        Assert.Equal(1L, await ScalarAsync("SELECT count(*) FROM ledger"));
        Assert.Equal("done", await ScalarAsync("SELECT status FROM mw_idempotent_requests WHERE request_id = 'dup-pk'"));
    }

    [StoreFact]
    public async Task Reaping_deletes_only_outcomes_older_than_the_retention()
    {
        var executor = new IdempotentExecutor("ledger", Ledger, Dialect);
        await executor.ExecuteAsync("old", "post", "[1]"u8.ToArray(), _ => Task.FromResult<ReadOnlyMemory<byte>>("1"u8.ToArray()));
        await executor.ExecuteAsync("recent", "post", "[2]"u8.ToArray(), _ => Task.FromResult<ReadOnlyMemory<byte>>("2"u8.ToArray()));
        await ScalarAsync("UPDATE mw_idempotent_requests SET created_at = now() - interval '2 hours' WHERE request_id = 'old'");

        Assert.Equal(1, await executor.ReapAsync(TimeSpan.FromHours(1)));
        Assert.Equal("recent", await ScalarAsync("SELECT string_agg(request_id, ',') FROM mw_idempotent_requests"));

        // The kept outcome is still returned without running the work.
        var outcome = await executor.ExecuteAsync("recent", "post", "[2]"u8.ToArray(), _ => throw new InvalidOperationException("must not run"));
        Assert.Equal("2", outcome.ToString());
    }

    [StoreFact]
    public async Task Executors_first_used_at_once_on_a_new_database_all_create_the_table_and_run()
    {
        // Before 001_requests.sql took an advisory lock, nearly every round failed one executor with
        // "duplicate key value violates unique constraint pg_type_typname_nsp_index".
        var server = await PostgresServer.GetAsync();
        for (var round = 0; round < 3; round++)
        {
            await using var fresh = NpgsqlDataSource.Create(await server.CreateDatabaseAsync());
            var outcomes = await Task.WhenAll(Enumerable.Range(0, 4).Select(i => Task.Run(() =>
                new IdempotentExecutor("ledger", fresh, Dialect).ExecuteAsync($"first-{i}", "post", "[0]"u8.ToArray(),
                    _ => Task.FromResult<ReadOnlyMemory<byte>>("0"u8.ToArray())))));
            Assert.All(outcomes, o => Assert.Equal("0", o.ToString()));
            await using var count = fresh.CreateCommand("SELECT count(*) FROM mw_idempotent_requests");
            Assert.Equal(4L, await count.ExecuteScalarAsync());
        }
    }

    private async Task<object?> ScalarAsync(string sql)
    {
        await using var command = Ledger.CreateCommand(sql);
        return await command.ExecuteScalarAsync();
    }

    /// <summary>Polls pg_stat_activity until <paramref name="count"/> sessions wait on <paramref name="pid"/>'s claim.</summary>
    private async Task WaitUntilBlockedBehindAsync(int pid, int count)
    {
        await using var connection = await Ledger.OpenConnectionAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT count(*) FROM pg_stat_activity WHERE @pid = ANY(pg_blocking_pids(pid)) AND query LIKE 'INSERT INTO mw_idempotent_requests%'";
        var parameter = command.CreateParameter();
        parameter.ParameterName = "@pid";
        parameter.Value = pid;
        command.Parameters.Add(parameter);
        var deadline = Stopwatch.StartNew();
        long blocked;
        while ((blocked = Convert.ToInt64(await command.ExecuteScalarAsync())) < count)
        {
            if (deadline.Elapsed > TimeSpan.FromSeconds(30))
                throw new TimeoutException($"Only {blocked} of {count} duplicates were seen waiting on the first one's key claim after 30 s.");
        }
    }
}
