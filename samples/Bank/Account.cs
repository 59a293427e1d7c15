using Middleware.Grains;

namespace Bank;

/// <summary>A bank account: deposits, withdrawals that refuse to overdraw, and the balance.</summary>
public interface IAccount : IRecoverableComponent
{
    /// <summary>Adds money and returns the new balance.</summary>
    Task<long> Deposit(long amount);

    /// <summary>
    /// Takes money out, posts the withdrawal to the external ledger (exactly once, through the "ledger" back end)
    /// and returns the new balance; throws <see cref="InsufficientFundsException"/> on overdraft.
    /// </summary>
    Task<long> Withdraw(long amount);

    /// <summary>
    /// Takes money out for a transfer to another account (no ledger posting: the money stays in the bank) and returns the
    /// new balance; throws <see cref="InsufficientFundsException"/> on overdraft.
    /// </summary>
    Task<long> Debit(long amount);

    /// <summary>The current balance.</summary>
    [ReadOnlyTurn]
    Task<long> Balance();
}

/// <summary>The state of an account; amounts are in cents.</summary>
public sealed class AccountState
{
    /// <summary>Balance in cents.</summary>
    public long Balance { get; set; }

    /// <summary>Number of operations applied (deposits and withdrawals that succeeded).</summary>
    public long Operations { get; set; }

    /// <summary>When the account last changed (recorded time).</summary>
    public DateTime LastChangeUtc { get; set; }
}

/// <summary>The external ledger every withdrawal is posted to: a table in a separate back-end database.</summary>
public static class Ledger
{
    /// <summary>The back-end name the runtime must register (<c>RuntimeOptions.Backends.Add("ledger", ...)</c>).</summary>
    public const string BackendName = "ledger";

    /// <summary>Creates the ledger table (SQLite and PostgreSQL); safe to run every start.</summary>
    public const string CreateTableSql =
        "CREATE TABLE IF NOT EXISTS ledger (entry_id TEXT PRIMARY KEY, request_id TEXT NOT NULL, account TEXT NOT NULL, amount BIGINT NOT NULL, balance_after BIGINT NOT NULL)";

    /// <summary>Posts one withdrawal; entry_id is the deterministic back-end request id.</summary>
    public const string InsertSql =
        "INSERT INTO ledger (entry_id, request_id, account, amount, balance_after) VALUES (@entry, @request, @account, @amount, @balance)";
}

/// <summary>A withdrawal asked for more than the balance.</summary>
public sealed class InsufficientFundsException(string message) : ComponentException(message);

/// <summary>The account component.</summary>
public sealed class Account : RecoverableGrain<AccountState>, IAccount
{
    /// <inheritdoc />
    public Task<long> Deposit(long amount)
    {
        if (amount <= 0) throw new ArgumentOutOfRangeException(nameof(amount), amount, "A deposit must be positive.");
        State.Balance += amount;
        State.Operations++;
        State.LastChangeUtc = Context.UtcNow;
        return Task.FromResult(State.Balance);
    }

    /// <inheritdoc />
    public async Task<long> Withdraw(long amount)
    {
        if (amount <= 0) throw new ArgumentOutOfRangeException(nameof(amount), amount, "A withdrawal must be positive.");
        if (amount > State.Balance)
            throw new InsufficientFundsException($"Cannot withdraw {amount} from {Context.Id}: the balance is {State.Balance}.");
        State.Balance -= amount;
        State.Operations++;
        State.LastChangeUtc = Context.UtcNow;

        // The side effect outside the component: one ledger row per withdrawal, even if this turn is re-executed
        // after a crash (the back end runs a request id once and returns its first outcome).
        var account = Context.Id.Key;
        var requestId = Context.RequestId;
        var balance = State.Balance;
        await Context.Backend(Ledger.BackendName).ExecuteAsync("post-withdrawal", new { account, amount, requestId }, async work =>
        {
            await using var insert = work.Command(Ledger.InsertSql, new { entry = work.RequestId, request = requestId, account, amount, balance });
            return await insert.ExecuteNonQueryAsync(work.CancellationToken);
        });
        return State.Balance;
    }

    /// <inheritdoc />
    public Task<long> Debit(long amount)
    {
        if (amount <= 0) throw new ArgumentOutOfRangeException(nameof(amount), amount, "A debit must be positive.");
        if (amount > State.Balance)
            throw new InsufficientFundsException($"Cannot debit {amount} from {Context.Id}: the balance is {State.Balance}.");
        State.Balance -= amount;
        State.Operations++;
        State.LastChangeUtc = Context.UtcNow;
        return Task.FromResult(State.Balance);
    }

    /// <inheritdoc />
    public Task<long> Balance() => Task.FromResult(State.Balance);
}
