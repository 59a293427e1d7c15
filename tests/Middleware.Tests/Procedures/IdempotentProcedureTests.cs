using System.Data.Common;
using Middleware.Grains;
using Middleware.Recovery.Log;
using Middleware.Recovery.Procedures;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;
using Middleware.Tests.Support;

namespace Middleware.Tests.Procedures;

/// <summary>
/// Exactly-once side effects in a back-end database, written once and run against every back end (a
/// subclass per database supplies a fresh one).
/// </summary>
public abstract class IdempotentProcedureTests : IAsyncLifetime
{
    private DbDataSource? _ledger;

    protected DbDataSource Ledger => _ledger ?? throw new InvalidOperationException("not initialized");

    protected abstract BackendDialect Dialect { get; }

    /// <summary>A fresh, empty back-end database.</summary>
    protected abstract Task<DbDataSource> CreateBackendAsync();

    public async Task InitializeAsync()
    {
        _ledger = await CreateBackendAsync();
        await using var c = await _ledger.OpenConnectionAsync();
        await using var cmd = c.CreateCommand();
        cmd.CommandText = Poster.Table;
        await cmd.ExecuteNonQueryAsync();
    }

    public virtual async Task DisposeAsync()
    {
        if (_ledger is not null) await _ledger.DisposeAsync();
    }

    private LocalRuntime Runtime(ILogStore store)
    {
        var environment = new RuntimeEnvironment();
        environment.Backends.Add("ledger", Ledger, Dialect);
        return new LocalRuntime(store, new ComponentRegistry().Add<IPoster, Poster>(), environment: environment);
    }

    private async Task<long> LedgerRows(string? account = null)
    {
        await using var c = await Ledger.OpenConnectionAsync();
        await using var cmd = c.CreateCommand();
        cmd.CommandText = account is null ? "SELECT count(*) FROM ledger" : $"SELECT count(*) FROM ledger WHERE account = '{account}'";
        return Convert.ToInt64(await cmd.ExecuteScalarAsync());
    }

    [StoreFact]
    public async Task A_repeated_request_posts_one_row_under_a_deterministic_request_id()
    {
        var store = new MemoryLogStore();
        await using var rt = Runtime(store);
        Assert.Equal(1, await rt.Call<IPoster>("p", "r1").Post("acct", 10));
        Assert.Equal(1, await rt.Call<IPoster>("p", "r1").Post("acct", 10));
        Assert.Equal(2, await rt.Call<IPoster>("p", "r2").Post("acct", 20));
        Assert.Equal(2, await LedgerRows());

        var records = await store.ReadAsync("Poster/p", 1, long.MaxValue);
        Assert.Equal([RecordKind.PartialTurn, RecordKind.Turn, RecordKind.PartialTurn, RecordKind.Turn], records.Select(r => r.Kind));
        var turn = RecordCodec.DecodeTurn(records[1].Payload);
        Assert.Equal("Poster/p:1:1", Assert.Single(turn.Outbound).RequestId);
        Assert.Equal(1, turn.TurnSeq);
    }

    [StoreFact]
    public async Task A_crash_after_the_back_end_commit_but_before_the_turn_is_durable_posts_once_on_retry()
    {
        var store = new FaultInjectingStore(new MemoryLogStore());
        await using (var rt = Runtime(store))
        {
            // The partial record goes through; the back end commits; the turn record then fails.
            store.Inject(FaultMode.Fail, count: 1, skip: 1);
            await Assert.ThrowsAsync<TurnNotDurableException>(() => rt.Call<IPoster>("p", "r1").PostRandom("acct"));
            Assert.Equal(1, await LedgerRows());
        }

        // A new process (same store) gets the retry: it resumes the in-doubt turn with the recorded random
        // amount, reaches the same request id, and the back end returns the first outcome.
        await using var rt2 = Runtime(store);
        var amount = await rt2.Call<IPoster>("p", "r1").PostRandom("acct");
        Assert.Equal(1, await LedgerRows());
        await using (var c = await Ledger.OpenConnectionAsync())
        await using (var cmd = c.CreateCommand())
        {
            cmd.CommandText = "SELECT amount FROM ledger";
            Assert.Equal(amount, Convert.ToInt64(await cmd.ExecuteScalarAsync()));
        }

        Assert.Equal(amount, await rt2.Call<IPoster>("p", "r1").PostRandom("acct"));
        Assert.Equal(1, await rt2.Call<IPoster>("p", "read").Posted());
    }

    [StoreFact]
    public async Task Another_request_after_a_crash_does_not_reuse_the_in_doubt_turns_request_ids()
    {
        var store = new FaultInjectingStore(new MemoryLogStore());
        await using (var rt = Runtime(store))
        {
            store.Inject(FaultMode.Fail, count: 1, skip: 1);
            await Assert.ThrowsAsync<TurnNotDurableException>(() => rt.Call<IPoster>("p", "r1").Post("a", 1));
        }

        await using var rt2 = Runtime(store);
        Assert.Equal(2, await rt2.Call<IPoster>("p", "r2").Post("b", 2)); // a new row, not r1's recorded outcome
        Assert.Equal(1, await rt2.Call<IPoster>("p", "r1").Post("a", 1)); // resumed: the back end's first outcome
        Assert.Equal(2, await LedgerRows());
        Assert.Equal(2, await rt2.Call<IPoster>("p", "read").Posted());
    }

    [StoreFact]
    public async Task An_abort_is_recorded_and_returned_again_with_no_rows_and_no_state_change()
    {
        var store = new MemoryLogStore();
        await using var rt = Runtime(store);
        var e1 = await Assert.ThrowsAsync<IdempotentAbortException>(() => rt.Call<IPoster>("p", "r1").PostRefused("acct", 5));
        Assert.Contains("ledger refuses 5", e1.Message);
        var e2 = await Assert.ThrowsAsync<IdempotentAbortException>(() => rt.Call<IPoster>("p", "r1").PostRefused("acct", 5));
        Assert.Equal(e1.Message, e2.Message);
        Assert.Equal(0, await LedgerRows());
        Assert.Equal(0, await rt.Call<IPoster>("p", "read").Posted());

        // The back end itself returns the abort again for that id, without running the work.
        var executor = new IdempotentExecutor("ledger", Ledger, Dialect);
        var runs = 0;
        var outcome = await executor.ExecuteAsync("Poster/p:1:1", "post", "{\"account\":\"acct\",\"amount\":5}"u8.ToArray(), _ => { runs++; return Task.FromResult<ReadOnlyMemory<byte>>("1"u8.ToArray()); });
        Assert.True(outcome.IsError);
        Assert.Equal(0, runs);
    }

    [StoreFact]
    public async Task Concurrent_duplicates_execute_once_and_all_get_the_first_result()
    {
        var executor = new IdempotentExecutor("ledger", Ledger, Dialect);
        var runs = 0;
        var calls = Enumerable.Range(0, 8).Select(_ => Task.Run(() => executor.ExecuteAsync("dup-1", "post", "[1]"u8.ToArray(), async w =>
        {
            Interlocked.Increment(ref runs);
            await using var insert = w.Command("INSERT INTO ledger(request_id, account, amount) VALUES (@id, 'x', 1)", new { id = w.RequestId });
            await insert.ExecuteNonQueryAsync();
            await Task.Delay(50); // keep the claim while the duplicates line up behind it (any order passes; this makes them meet)
            return (ReadOnlyMemory<byte>)"\"first\""u8.ToArray();
        })));
        var outcomes = await Task.WhenAll(calls);
        Assert.Equal(1, runs);
        Assert.All(outcomes, o => Assert.Equal("\"first\"", o.ToString()));
        Assert.Equal(1, await LedgerRows());
    }

    [StoreFact]
    public async Task An_abort_under_concurrent_duplicates_runs_once_and_every_caller_gets_the_abort()
    {
        var executor = new IdempotentExecutor("ledger", Ledger, Dialect);
        var runs = 0;
        var calls = Enumerable.Range(0, 4).Select(_ => Task.Run(() => executor.ExecuteAsync("abort-1", "post", "[1]"u8.ToArray(), async w =>
        {
            Interlocked.Increment(ref runs);
            await using var insert = w.Command("INSERT INTO ledger(request_id, account, amount) VALUES (@id, 'x', 1)", new { id = w.RequestId });
            await insert.ExecuteNonQueryAsync();
            await Task.Delay(50); // keep the claim while the duplicates line up behind it
            throw new IdempotentAbortException("refused once and for all");
        })));
        var outcomes = await Task.WhenAll(calls);
        Assert.Equal(1, runs);
        Assert.All(outcomes, o => Assert.Equal("refused once and for all", o.ErrorMessage));
        Assert.Equal(0, await LedgerRows());
    }

    [StoreFact]
    public async Task Retention_defaults_to_seven_days_and_reaping_keeps_recent_outcomes()
    {
        var executor = new IdempotentExecutor("ledger", Ledger, Dialect);
        Assert.Equal(TimeSpan.FromDays(7), executor.Retention);
        await executor.ExecuteAsync("keep-1", "post", "[1]"u8.ToArray(), _ => Task.FromResult<ReadOnlyMemory<byte>>("1"u8.ToArray()));
        Assert.Equal(0, await executor.ReapAsync());
        Assert.Throws<ArgumentOutOfRangeException>(() => new IdempotentExecutor("ledger", Ledger, Dialect, TimeSpan.Zero));
    }

    [StoreFact]
    public async Task The_same_request_id_with_other_arguments_is_a_clear_error()
    {
        var executor = new IdempotentExecutor("ledger", Ledger, Dialect);
        await executor.ExecuteAsync("id-1", "post", "[1]"u8.ToArray(), _ => Task.FromResult<ReadOnlyMemory<byte>>("1"u8.ToArray()));
        var e = await Assert.ThrowsAsync<IdempotentRequestMismatchException>(() =>
            executor.ExecuteAsync("id-1", "post", "[2]"u8.ToArray(), _ => Task.FromResult<ReadOnlyMemory<byte>>("2"u8.ToArray())));
        Assert.Contains("'id-1'", e.Message);
        Assert.Contains("new request needs a new id", e.Message);
    }

    [StoreFact]
    public async Task Replay_and_exploratory_reads_use_recorded_values_and_never_touch_the_back_end()
    {
        var store = new MemoryLogStore();
        long seen;
        await using (var rt = Runtime(store))
        {
            await rt.Call<IPoster>("p", "r1").Post("a", 1);
            seen = await rt.Call<IPoster>("p", "r2").PostWithCount("a");
            Assert.Equal(1, seen);
        }

        // Change the back end behind the log's back: replay must not notice, since it never reads it.
        await using (var c = await Ledger.OpenConnectionAsync())
        await using (var cmd = c.CreateCommand())
        {
            cmd.CommandText = "DELETE FROM ledger";
            await cmd.ExecuteNonQueryAsync();
        }

        var environment = new RuntimeEnvironment();
        environment.Backends.Add("ledger", new BrokenDataSource(), Dialect);
        await using var rt2 = new LocalRuntime(store, new ComponentRegistry().Add<IPoster, Poster>(), environment: environment);
        Assert.Equal(2, await rt2.Call<IPoster>("p", "read").Posted());
        Assert.Equal(seen, await rt2.Call<IPoster>("p", "r2").PostWithCount("a"));
    }

    [StoreFact]
    public async Task An_unreachable_back_end_is_not_recorded_and_the_retry_runs_once_it_is_back()
    {
        var store = new MemoryLogStore();
        var broken = new RuntimeEnvironment();
        broken.Backends.Add("ledger", new BrokenDataSource(), Dialect);
        await using (var rt = new LocalRuntime(store, new ComponentRegistry().Add<IPoster, Poster>(), environment: broken))
        {
            var e = await Assert.ThrowsAsync<ComponentInDoubtException>(() => rt.Call<IPoster>("p", "r1").Post("a", 1));
            Assert.IsType<BackendUnavailableException>(e.InnerException);
        }

        await using var rt2 = Runtime(store);
        Assert.Equal(1, await rt2.Call<IPoster>("p", "r1").Post("a", 1));
        Assert.Equal(1, await LedgerRows());
        Assert.Equal(1, await rt2.Call<IPoster>("p", "read").Posted());
    }

    /// <summary>A data source whose connections cannot open: an unreachable back end.</summary>
    private sealed class BrokenDataSource : DbDataSource
    {
        public override string ConnectionString => "broken";

        protected override DbConnection CreateDbConnection() => throw new UnreachableBackend();

        protected override ValueTask<DbConnection> OpenDbConnectionAsync(CancellationToken cancellationToken = default) =>
            ValueTask.FromException<DbConnection>(new UnreachableBackend());
    }

    private sealed class UnreachableBackend() : DbException("the back end is unreachable (test)");
}
