using Middleware.Grains;

namespace Middleware.Tests.Support;

/// <summary>Data set through the constructor (parameter names match the properties) and one init-only property.</summary>
public sealed class OverdraftException(string account, long balance, long requested)
    : ComponentException($"{account} holds {balance}; {requested} was asked")
{
    public string Account { get; } = account;

    public long Balance { get; } = balance;

    public long Requested { get; } = requested;

    public IReadOnlyList<string> Hints { get; init; } = [];
}

/// <summary>Data set through setters after the message constructor; runtime handles that are not data.</summary>
public sealed class LimitException(string message) : ComponentException(message)
{
    public decimal Limit { get; set; }

    public DateTime Until { get; set; }

    public Dictionary<string, int> Counts { get; set; } = [];

    public object? Tag { get; set; }

    public Task? Pending { get; set; }

    public CancellationToken Token { get; set; }
}

/// <summary>A property whose value differs on every run: replay must notice it.</summary>
public sealed class StampedException(Guid stamp) : Exception("stamped")
{
    public Guid Stamp { get; } = stamp;
}

public interface IVault : IRecoverableComponent
{
    Task<long> Deposit(long amount);

    /// <summary>Throws <see cref="OverdraftException"/> (with hints) past the balance.</summary>
    Task<long> Withdraw(long amount);

    /// <summary>Throws <see cref="LimitException"/> with its setters' data.</summary>
    Task SetLimit(decimal limit);

    /// <summary>Throws <see cref="StampedException"/> with a new GUID each run (read outside the context on purpose).</summary>
    Task Stamp();

    /// <summary>Withdraws from another vault through a component call; catches the overdraft and returns its data.</summary>
    Task<string> WithdrawFrom(string vault, long amount);
}

public sealed class VaultState
{
    public long Balance { get; set; }
}

public sealed class Vault : RecoverableGrain<VaultState>, IVault
{
    public Task<long> Deposit(long amount) => Task.FromResult(State.Balance += amount);

    public Task<long> Withdraw(long amount)
    {
        if (amount > State.Balance)
            throw new OverdraftException(Context.Id.Key, State.Balance, amount) { Hints = ["deposit first", $"at most {State.Balance}"] };
        return Task.FromResult(State.Balance -= amount);
    }

    public Task SetLimit(decimal limit) => throw new LimitException($"limit {limit} refused")
    {
        Limit = limit,
        Until = new DateTime(2030, 1, 2, 3, 4, 5, DateTimeKind.Utc),
        Counts = new Dictionary<string, int> { ["z"] = 26, ["a"] = 1 },
        Tag = "not data",
        Pending = Task.CompletedTask,
    };

    public Task Stamp() => throw new StampedException(Guid.NewGuid());

    public async Task<string> WithdrawFrom(string vault, long amount)
    {
        try
        {
            return $"ok {await Context.Call<IVault>(vault).Withdraw(amount)}";
        }
        catch (OverdraftException e)
        {
            return $"{e.GetType().Name} {e.Account}:{e.Balance}:{e.Requested}:{string.Join(",", e.Hints)} | {e.Message}";
        }
    }
}
