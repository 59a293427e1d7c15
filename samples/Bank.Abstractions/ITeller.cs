using Middleware.Grains;

namespace Bank;

/// <summary>
/// Moves money between accounts. Turns are not reentrant, so accounts never call each other (two opposite transfers
/// would wait on each other forever); a teller orchestrates instead: it debits one account and credits the other,
/// both as component calls with deterministic request ids, so a teller turn re-run after a crash repeats neither.
/// </summary>
public interface ITeller : IRecoverableComponent
{
    /// <summary>
    /// Debits <paramref name="from"/> and credits <paramref name="to"/> with <paramref name="amount"/>; returns the
    /// number of transfers this teller completed. Throws <see cref="InsufficientFundsException"/> (and moves nothing)
    /// when <paramref name="from"/> cannot cover it.
    /// </summary>
    Task<long> Transfer(string from, string to, long amount);

    /// <summary>Transfers completed and money moved by this teller.</summary>
    [ReadOnlyTurn]
    Task<TellerState> Totals();
}

/// <summary>What a teller has done.</summary>
public sealed class TellerState
{
    /// <summary>Transfers completed.</summary>
    public long Transfers { get; set; }

    /// <summary>Money moved, in cents.</summary>
    public long Moved { get; set; }
}
