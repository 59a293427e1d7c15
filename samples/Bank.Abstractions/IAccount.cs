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
