using Middleware.Grains;

namespace Bank;

/// <summary>The teller component.</summary>
[Mirrored]
public sealed class Teller : RecoverableGrain<TellerState>, ITeller
{
    /// <inheritdoc />
    public async Task<long> Transfer(string from, string to, long amount)
    {
        if (amount <= 0) throw new ArgumentOutOfRangeException(nameof(amount), amount, "A transfer must be positive.");
        if (from == to) throw new ArgumentException($"A transfer needs two different accounts; both are '{from}'.");
        // A refused debit throws out of this turn: nothing was credited, and the turn's own state is rolled back.
        await Context.Call<IAccount>(from).Debit(amount);
        await Context.Call<IAccount>(to).Deposit(amount);
        State.Transfers++;
        State.Moved += amount;
        return State.Transfers;
    }

    /// <inheritdoc />
    public Task<TellerState> Totals() => Task.FromResult(State);
}
