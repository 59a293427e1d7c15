using Middleware.Grains;

namespace Bank;

/// <summary>A withdrawal asked for more than the balance.</summary>
public sealed class InsufficientFundsException(string message) : ComponentException(message);
