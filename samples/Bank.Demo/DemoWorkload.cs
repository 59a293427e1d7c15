namespace Bank.Demo;

/// <summary>The demo's requests: mostly deposits, some withdrawals (a share of which overdraw), unique ids.</summary>
public static class DemoWorkload
{
    /// <summary>The account names <c>acct-00</c>, <c>acct-01</c>, ...</summary>
    public static IReadOnlyList<string> Accounts(int count) =>
        [.. Enumerable.Range(0, count).Select(i => $"acct-{i:00}")];

    /// <summary>
    /// <paramref name="operations"/> requests with ids <c>demo-1</c>.. over <paramref name="accounts"/>: 75%
    /// deposits of 1..1000, 25% withdrawals of 1..3000, so some withdrawals are refused for overdraft.
    /// </summary>
    public static IReadOnlyList<HostRequest> Create(IReadOnlyList<string> accounts, int operations, Random random)
    {
        var requests = new HostRequest[operations];
        for (var n = 0; n < operations; n++)
        {
            var account = accounts[random.Next(accounts.Count)];
            requests[n] = random.Next(4) == 0
                ? new HostRequest($"demo-{n + 1}", OperationKind.Withdraw, account, random.Next(1, 3001))
                : new HostRequest($"demo-{n + 1}", OperationKind.Deposit, account, random.Next(1, 1001));
        }

        return requests;
    }

    /// <summary>Kill points spread over the middle of the run: each in its own slice of 30%..60% of the acks.</summary>
    public static IReadOnlyList<KillPlan> KillPoints(int operations, int kills, Random random)
    {
        var plans = new List<KillPlan>(kills);
        var from = operations * 0.3;
        var width = operations * 0.3 / Math.Max(1, kills);
        for (var k = 0; k < kills; k++)
        {
            plans.Add(new KillPlan((long)(from + (k * width) + (random.NextDouble() * width)) + 1, TimeSpan.Zero));
        }

        return plans;
    }
}
