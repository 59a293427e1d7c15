using Middleware.Grains;

namespace Bank;

/// <summary>A bank account: deposits, withdrawals that refuse to overdraw, and the balance.</summary>
public interface IAccount : IRecoverableComponent
{
    /// <summary>Adds money and returns the new balance.</summary>
    Task<long> Deposit(long amount);

    /// <summary>Takes money out and returns the new balance; throws <see cref="InsufficientFundsException"/> on overdraft.</summary>
    Task<long> Withdraw(long amount);

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
    public Task<long> Withdraw(long amount)
    {
        if (amount <= 0) throw new ArgumentOutOfRangeException(nameof(amount), amount, "A withdrawal must be positive.");
        if (amount > State.Balance)
            throw new InsufficientFundsException($"Cannot withdraw {amount} from {Context.Id}: the balance is {State.Balance}.");
        State.Balance -= amount;
        State.Operations++;
        State.LastChangeUtc = Context.UtcNow;
        return Task.FromResult(State.Balance);
    }

    /// <inheritdoc />
    public Task<long> Balance() => Task.FromResult(State.Balance);
}
