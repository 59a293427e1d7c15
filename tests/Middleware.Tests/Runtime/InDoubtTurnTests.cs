using System.Data.Common;
using Bank;
using Microsoft.Data.Sqlite;
using Middleware.Grains;
using Middleware.Recovery.Log;
using Middleware.Recovery.Procedures;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;
using Middleware.Tests.Support;

namespace Middleware.Tests.Runtime;

/// <summary>
/// A turn in doubt (its partial record durable, its final record not) holds its place in the component's history: it
/// is completed first, on the state it started from, whatever arrives next (another request, a checkpoint, an outcome
/// query, the retry). Each case makes the final write of a withdrawal or a transfer fail with the fault-injecting store
/// after its back-end row or its account calls took effect, then checks what a user would: the ledger row matches the
/// committed reply, money moved once, and the retry gets the committed reply.
/// </summary>
public sealed class InDoubtTurnTests : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);
    private readonly string _dir = Directory.CreateTempSubdirectory("mw-indoubt-").FullName;
    private readonly SwitchableLedger _ledger;
    private readonly FaultInjectingStore _store = new(new MemoryLogStore());

    public InDoubtTurnTests() => _ledger = new SwitchableLedger(Path.Combine(_dir, "ledger.db"));

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private LocalRuntime Runtime(int checkpointEveryTurns = 1000)
    {
        var environment = new RuntimeEnvironment();
        environment.Backends.Add(Ledger.BackendName, _ledger, BackendDialect.Sqlite);
        return new LocalRuntime(_store, new ComponentRegistry().Add<IAccount, Account>().Add<ITeller, Teller>(), new RuntimeOptions { CheckpointEveryTurns = checkpointEveryTurns }, environment);
    }

    /// <summary>Withdraws 30 of 100 from <c>Account/a</c> as <c>w1</c>: the ledger row is written, the turn's final record fails.</summary>
    private async Task WithdrawInDoubtAsync(LocalRuntime rt)
    {
        Assert.Equal(100, await rt.Call<IAccount>("a", "d0").Deposit(100));
        // The withdrawal's partial record goes through; its final record (a turn record of Account/a) fails.
        _store.Inject(FaultMode.Fail, count: 1, where: FinalRecordOf("Account/a"));
        await Assert.ThrowsAnyAsync<TurnNotDurableException>(() => rt.Call<IAccount>("a", "w1").Withdraw(30));
        Assert.Equal(new[] { ("w1", 70L) }, await _ledger.RowsAsync());
    }

    /// <summary>Transfers 40 from a to b through <c>Teller/t</c> as <c>x1</c>: both account calls commit, the teller's final record fails.</summary>
    private async Task TransferInDoubtAsync(LocalRuntime rt)
    {
        await rt.Call<IAccount>("a", "d0").Deposit(100);
        await rt.Call<IAccount>("b", "d0").Deposit(100);
        // The teller's partial, the debit of a and the deposit to b go through; the teller's final record fails.
        _store.Inject(FaultMode.Fail, count: 1, where: FinalRecordOf("Teller/t"));
        await Assert.ThrowsAnyAsync<TurnNotDurableException>(() => rt.Call<ITeller>("t", "x1").Transfer("a", "b", 40));
        Assert.Equal(60, await rt.Call<IAccount>("a", "read").Balance());
        Assert.Equal(140, await rt.Call<IAccount>("b", "read").Balance());
    }

    private static Func<AppendGroup, bool> FinalRecordOf(string component) =>
        g => g.ComponentId == component && g.Records.Any(r => r.Kind == RecordKind.Turn);

    private static async Task AssertMovedOnceAsync(LocalRuntime rt)
    {
        Assert.Equal(60, await rt.Call<IAccount>("a", "read").Balance());
        Assert.Equal(140, await rt.Call<IAccount>("b", "read").Balance());
        var totals = await rt.Call<ITeller>("t", "read").Totals();
        Assert.Equal(1, totals.Transfers);
        Assert.Equal(40, totals.Moved);
    }

    [Fact]
    public async Task Other_requests_that_arrive_first_run_after_the_in_doubt_withdrawal_on_the_state_it_left()
    {
        await using var rt = Runtime();
        await WithdrawInDoubtAsync(rt);

        // A deposit arrives before the withdrawal's retry: the withdrawal is completed first (100 - 30), then the deposit.
        Assert.Equal(120, await rt.Call<IAccount>("a", "d1").Deposit(50).WaitAsync(Deadline));
        Assert.Equal(70, await rt.Call<IAccount>("a", "w1").Withdraw(30));
        Assert.Equal(new[] { ("w1", 70L) }, await _ledger.RowsAsync());
        Assert.Equal(120, await rt.Call<IAccount>("a", "read").Balance());
    }

    [Fact]
    public async Task A_checkpoint_taken_after_the_partial_record_does_not_hide_the_in_doubt_transfer()
    {
        await using (var rt = Runtime())
        {
            await TransferInDoubtAsync(rt);
            await rt.CheckpointAsync(new ComponentId("Teller", "t")).WaitAsync(Deadline);
        }

        // Another process, after the checkpoint: the retry gets the committed reply; nothing is debited or credited twice.
        await using var rt2 = Runtime();
        Assert.Equal(1, await rt2.Call<ITeller>("t", "x1").Transfer("a", "b", 40).WaitAsync(Deadline));
        await AssertMovedOnceAsync(rt2);
    }

    [Fact]
    public async Task An_outcome_query_after_a_checkpoint_completes_the_in_doubt_transfer_instead_of_fencing_it()
    {
        await using (var rt = Runtime(checkpointEveryTurns: 1))
        {
            await TransferInDoubtAsync(rt);
            // A periodic checkpoint (every turn here) would follow the next turn of the teller.
            await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => rt.Call<ITeller>("t", "x2").Transfer("a", "b", 0));
        }

        await using var rt2 = Runtime(checkpointEveryTurns: 1);
        var outcome = await rt2.GetOutcomeAsync(new ComponentId("Teller", "t"), "x1").WaitAsync(Deadline);
        Assert.True(outcome.Committed, "the transfer's account calls took effect: it must not be fenced");
        Assert.Equal("1", outcome.Reply!.ToString());
        await AssertMovedOnceAsync(rt2);
        Assert.Equal(1, await rt2.Call<ITeller>("t", "x1").Transfer("a", "b", 40));
    }

    [Fact]
    public async Task A_new_activation_completes_the_in_doubt_turn_before_serving_even_a_read()
    {
        await using (var rt = Runtime())
        {
            await WithdrawInDoubtAsync(rt);
        }

        // No retry has arrived: the balance read already sees the completed withdrawal.
        await using var rt2 = Runtime();
        Assert.Equal(70, await rt2.Call<IAccount>("a", "read").Balance().WaitAsync(Deadline));
        Assert.Equal(70, await rt2.Call<IAccount>("a", "w1").Withdraw(30));
        Assert.Equal(new[] { ("w1", 70L) }, await _ledger.RowsAsync());
    }

    [Fact]
    public async Task While_the_back_end_is_down_nothing_runs_ahead_of_the_in_doubt_turn_and_nothing_is_fenced()
    {
        await using (var rt = Runtime())
        {
            await WithdrawInDoubtAsync(rt);
        }

        _ledger.Down = true;
        await using (var rt2 = Runtime())
        {
            var refused = await Assert.ThrowsAsync<ComponentInDoubtException>(() => rt2.Call<IAccount>("a", "d1").Deposit(50).WaitAsync(Deadline));
            Assert.Equal("w1", refused.InDoubtRequestId);
            Assert.Contains("'w1' is in doubt", refused.Message);
            Assert.Contains("unreachable", refused.Message);
            await Assert.ThrowsAsync<ComponentInDoubtException>(() => rt2.Call<IAccount>("a", "read").Balance());
            // An outcome query about another id must not fence anything ahead of the turn in doubt.
            await Assert.ThrowsAsync<ComponentInDoubtException>(() => rt2.GetOutcomeAsync(new ComponentId("Account", "a"), "never-sent"));
            Assert.True(rt2.HasTurnInDoubt(new ComponentId("Account", "a")));
        }

        _ledger.Down = false;
        await using var rt3 = Runtime();
        Assert.Equal(120, await rt3.Call<IAccount>("a", "d1").Deposit(50).WaitAsync(Deadline));
        Assert.Equal(70, await rt3.Call<IAccount>("a", "w1").Withdraw(30));
        Assert.False((await rt3.GetOutcomeAsync(new ComponentId("Account", "a"), "never-sent")).Committed);
        Assert.Equal(new[] { ("w1", 70L) }, await _ledger.RowsAsync());
    }

    [Fact]
    public async Task A_live_turn_whose_back_end_fails_is_completed_in_the_background_once_it_is_back()
    {
        await using var rt = Runtime();
        Assert.Equal(100, await rt.Call<IAccount>("a", "d0").Deposit(100));
        _ledger.Down = true;
        var first = await Assert.ThrowsAsync<ComponentInDoubtException>(() => rt.Call<IAccount>("a", "w1").Withdraw(30));
        Assert.Equal("w1", first.InDoubtRequestId);
        Assert.Empty(await _ledger.RowsAsync());

        // Nobody retries: the component completes the withdrawal by itself once the ledger answers again.
        _ledger.Down = false;
        var id = new ComponentId("Account", "a");
        await Eventually.TrueAsync(() => !rt.HasTurnInDoubt(id), "the turn in doubt to be completed in the background", Deadline);
        Assert.Equal(new[] { ("w1", 70L) }, await _ledger.RowsAsync());
        Assert.Equal(70, await rt.Call<IAccount>("a", "w1").Withdraw(30));
        Assert.Equal(120, await rt.Call<IAccount>("a", "d1").Deposit(50));
    }

    /// <summary>A SQLite ledger that can be made unreachable, as a back end whose server is down.</summary>
    private sealed class SwitchableLedger : DbDataSource
    {
        private readonly DbDataSource _inner;

        public SwitchableLedger(string path)
        {
            _inner = SqliteFactory.Instance.CreateDataSource($"Data Source={path};Default Timeout=30;Pooling=False");
            using var connection = _inner.OpenConnection();
            using var command = connection.CreateCommand();
            command.CommandText = Ledger.CreateTableSql;
            command.ExecuteNonQuery();
        }

        public volatile bool Down;

        public override string ConnectionString => _inner.ConnectionString;

        public async Task<List<(string Request, long BalanceAfter)>> RowsAsync()
        {
            await using var connection = await _inner.OpenConnectionAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT request_id, balance_after FROM ledger ORDER BY entry_id";
            var rows = new List<(string, long)>();
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync()) rows.Add((reader.GetString(0), reader.GetInt64(1)));
            return rows;
        }

        protected override DbConnection CreateDbConnection() => Down ? throw new LedgerDown() : _inner.CreateConnection();

        protected override ValueTask<DbConnection> OpenDbConnectionAsync(CancellationToken cancellationToken = default) =>
            Down ? ValueTask.FromException<DbConnection>(new LedgerDown()) : _inner.OpenConnectionAsync(cancellationToken);
    }

    private sealed class LedgerDown() : DbException("the ledger is unreachable (test)");
}
