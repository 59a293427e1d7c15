using Middleware.Grains;

namespace Bank;

/// <summary>The account component.</summary>
[UsesBackend(Ledger.BackendName)]
[Mirrored]
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
