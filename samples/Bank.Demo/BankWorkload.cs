using Middleware.Grains;

namespace Bank.Demo;

/// <summary>What a demo request asks for.</summary>
public enum BankOperation
{
    /// <summary><c>IAccount.Deposit</c> on <see cref="BankRequest.Account"/>.</summary>
    Deposit,

    /// <summary><c>IAccount.Withdraw</c> on <see cref="BankRequest.Account"/> (posted to the ledger).</summary>
    Withdraw,

    /// <summary><c>ITeller.Transfer</c> on <see cref="BankRequest.Teller"/>: from <see cref="BankRequest.Account"/> to <see cref="BankRequest.To"/>.</summary>
    Transfer,
}

/// <summary>One request of the demo workload with its request id (an id of the client's session).</summary>
public sealed record BankRequest(string RequestId, BankOperation Operation, string Account, long Amount, string? To = null, string? Teller = null)
{
    /// <summary>The component the request goes to: the account, or for a transfer the teller.</summary>
    public ComponentId Target => Operation == BankOperation.Transfer
        ? new ComponentId(LogVerifier.TellerType, Teller!)
        : new ComponentId(LogVerifier.AccountType, Account);

    /// <summary>Every component the request needs: its target and, for a transfer, both accounts.</summary>
    public IEnumerable<string> Components()
    {
        yield return Target.ToString();
        if (Operation == BankOperation.Transfer)
        {
            yield return LogVerifier.Component(Account);
            yield return LogVerifier.Component(To!);
        }
    }

    /// <inheritdoc />
    public override string ToString() => Operation == BankOperation.Transfer
        ? $"{RequestId} {Teller}.Transfer({Account} -> {To}, {Amount})"
        : $"{RequestId} {Account}.{Operation}({Amount})";
}

/// <summary>How a request ended, as the client learned it.</summary>
/// <param name="Request">The request.</param>
/// <param name="Reply">OK with the returned number (balance, or the teller's transfer count), or the recorded error.</param>
/// <param name="ViaOutcomeQuery">True when the call itself gave up (cluster unavailable) and the outcome query found it committed.</param>
public sealed record BankOutcome(BankRequest Request, HostReply Reply, bool ViaOutcomeQuery = false);

/// <summary>
/// The demo's traffic over accounts and tellers: 45% deposits of 1..1000, 20% withdrawals of 1..2000 (some overdraw and
/// are refused), 35% transfers of 1..1500 through a random teller. Half of the account picks go to the hot quarter of the
/// accounts, so some silo owns clearly busier accounts than the others.
/// </summary>
public sealed class BankWorkload
{
    private readonly Dictionary<string, int> _index;

    /// <summary>A workload over <paramref name="accounts"/> and <paramref name="tellers"/> (keys).</summary>
    public BankWorkload(IReadOnlyList<string> accounts, IReadOnlyList<string> tellers)
    {
        if (accounts.Count < 2) throw new ArgumentException("Transfers need at least two accounts.", nameof(accounts));
        if (tellers.Count < 1) throw new ArgumentException("Transfers need at least one teller.", nameof(tellers));
        Accounts = accounts;
        Tellers = tellers;
        HotAccounts = [.. accounts.Take(Math.Max(1, accounts.Count / 4))];
        _index = accounts.Select((a, i) => (a, i)).ToDictionary(p => p.a, p => p.i, StringComparer.Ordinal);
    }

    /// <summary>The account keys.</summary>
    public IReadOnlyList<string> Accounts { get; }

    /// <summary>The teller keys.</summary>
    public IReadOnlyList<string> Tellers { get; }

    /// <summary>The accounts that get half of the traffic.</summary>
    public IReadOnlyList<string> HotAccounts { get; }

    /// <summary>The position of an account in <see cref="Accounts"/>.</summary>
    public int IndexOf(string account) => _index[account];

    /// <summary>The account keys <c>acct-00</c>, <c>acct-01</c>, ... (with a prefix for a shared server store).</summary>
    public static IReadOnlyList<string> AccountKeys(int count, string prefix = "") =>
        [.. Enumerable.Range(0, count).Select(i => $"{prefix}acct-{i:00}")];

    /// <summary>The teller keys <c>teller-0</c>, ...</summary>
    public static IReadOnlyList<string> TellerKeys(int count, string prefix = "") =>
        [.. Enumerable.Range(0, count).Select(i => $"{prefix}teller-{i}")];

    /// <summary>The next request, with <paramref name="requestId"/>.</summary>
    public BankRequest Next(Random random, string requestId)
    {
        var roll = random.Next(100);
        var account = PickAccount(random);
        if (roll < 45) return new BankRequest(requestId, BankOperation.Deposit, account, random.Next(1, 1001));
        if (roll < 65) return new BankRequest(requestId, BankOperation.Withdraw, account, random.Next(1, 2001));
        var to = PickAccount(random);
        while (to == account) to = Accounts[random.Next(Accounts.Count)];
        return new BankRequest(requestId, BankOperation.Transfer, account, random.Next(1, 1501), to, Tellers[random.Next(Tellers.Count)]);
    }

    private string PickAccount(Random random) =>
        random.Next(2) == 0 ? HotAccounts[random.Next(HotAccounts.Count)] : Accounts[random.Next(Accounts.Count)];
}
