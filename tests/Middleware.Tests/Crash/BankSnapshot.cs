using System.Data.Common;
using Bank.Demo;
using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;

namespace Middleware.Tests.Crash;

/// <summary>One row of the external ledger (the <c>ledger</c> table the sample's Withdraw posts to).</summary>
internal sealed record LedgerRow(string EntryId, string RequestId, string Account, long Amount, long BalanceAfter);

/// <summary>What the cluster reports through a client: each account's balance and each teller's transfer count.</summary>
internal sealed record ClusterReport(IReadOnlyDictionary<string, long> Balances, IReadOnlyDictionary<string, long> Transfers);

/// <summary>
/// A consistent picture of a settled bank cluster: every Account and Teller log in the store, the whole ledger, and what
/// the cluster reports through a client, taken while no turn was in doubt or in flight and nothing was appended.
/// </summary>
internal sealed record BankSnapshot(
    IReadOnlyDictionary<string, IReadOnlyList<LogRecord>> Accounts,
    IReadOnlyDictionary<string, IReadOnlyList<LogRecord>> Tellers,
    IReadOnlyList<LedgerRow> Ledger,
    ClusterReport Reported)
{
    /// <summary>
    /// Waits until the cluster has settled, then takes the snapshot. Settled: <see cref="ILogStore.ListInDoubtAsync"/> is
    /// empty (every turn whose partial record is durable has its final record), and nothing changes while the logs, the
    /// ledger and the report are read (the heads before equal the heads after), so a transfer or withdrawal still
    /// running for a killed client's request cannot show one side without the other. Throws
    /// <see cref="TimeoutException"/> naming what is still in doubt or still moving after <paramref name="patience"/>.
    /// </summary>
    public static async Task<BankSnapshot> SettleAndTakeAsync(ILogStore store, DbDataSource ledger, Func<IReadOnlyList<string>, IReadOnlyList<string>, Task<ClusterReport>> report, TimeSpan patience)
    {
        var deadline = DateTime.UtcNow + patience;
        var problem = "nothing read yet";
        while (true)
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"The cluster did not settle within {patience.TotalSeconds:0} s: {problem}.");
            var inDoubt = await store.ListInDoubtAsync();
            if (inDoubt.Count > 0)
            {
                problem = $"{inDoubt.Count} component(s) still in doubt: {await DescribeAsync(store, inDoubt)}";
                await Task.Delay(200);
                continue;
            }

            var before = await BankHeadsAsync(store);
            var logs = new Dictionary<string, IReadOnlyList<LogRecord>>(StringComparer.Ordinal);
            foreach (var (id, head) in before) logs[id] = head.LastSeq == 0 ? [] : await store.ReadAsync(id, 1, head.LastSeq);
            var open = logs.Where(l => l.Value.Count > 0 && l.Value[^1].Kind == RecordKind.PartialTurn).Select(l => l.Key).ToList();
            if (open.Count > 0)
            {
                problem = $"turns in flight on {string.Join(", ", open.Take(10))}";
                await Task.Delay(200);
                continue;
            }

            var rows = await ReadLedgerAsync(ledger);
            var accounts = KeysOf(before.Keys, LogVerifier.AccountType);
            var tellers = KeysOf(before.Keys, LogVerifier.TellerType);
            var reported = await report(accounts, tellers);
            var after = await BankHeadsAsync(store);
            var moved = after.Where(a => !before.TryGetValue(a.Key, out var b) || b.LastSeq != a.Value.LastSeq).Select(a => a.Key).ToList();
            if (moved.Count == 0)
            {
                return new BankSnapshot(
                    accounts.ToDictionary(k => k, k => logs[LogVerifier.Component(k)], StringComparer.Ordinal),
                    tellers.ToDictionary(k => k, k => logs[LogVerifier.TellerComponent(k)], StringComparer.Ordinal),
                    rows,
                    reported);
            }

            problem = $"logs still growing while they were read: {string.Join(", ", moved.Take(10))}";
            await Task.Delay(200);
        }
    }

    /// <summary>The heads of every Account and Teller component in the store.</summary>
    private static async Task<Dictionary<string, ComponentHead>> BankHeadsAsync(ILogStore store) =>
        (await store.ListComponentsAsync())
        .Where(h => h.ComponentId.StartsWith(LogVerifier.AccountType + "/", StringComparison.Ordinal) || h.ComponentId.StartsWith(LogVerifier.TellerType + "/", StringComparison.Ordinal))
        .ToDictionary(h => h.ComponentId, StringComparer.Ordinal);

    private static List<string> KeysOf(IEnumerable<string> ids, string type) =>
        [.. ids.Where(id => id.StartsWith(type + "/", StringComparison.Ordinal)).Select(id => id[(type.Length + 1)..]).Order(StringComparer.Ordinal)];

    /// <summary>Each component in doubt with the request, seq and epoch of its last partial record and its owner.</summary>
    private static async Task<string> DescribeAsync(ILogStore store, IReadOnlyList<ComponentHead> heads)
    {
        var parts = new List<string>();
        foreach (var head in heads.Take(10))
        {
            var last = await store.ReadAsync(head.ComponentId, head.LastSeq, head.LastSeq);
            var partial = last.Count == 1 && last[0].Kind == RecordKind.PartialTurn ? RecordCodec.DecodeTurn(last[0].Payload) : null;
            parts.Add(partial is null
                ? $"{head.ComponentId} (owner {head.Owner ?? "none"})"
                : $"{head.ComponentId} request {partial.RequestId} {partial.Method}{Text.Of(partial.Args)} partial at seq {head.LastSeq} epoch {last[0].Epoch} (owner {head.Owner ?? "none"}, epoch now {head.Epoch})");
        }

        return string.Join("; ", parts);
    }

    /// <summary>Every row of the ledger table.</summary>
    public static async Task<List<LedgerRow>> ReadLedgerAsync(DbDataSource ledger)
    {
        var rows = new List<LedgerRow>();
        await using var connection = await ledger.OpenConnectionAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT entry_id, request_id, account, amount, balance_after FROM ledger";
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
            rows.Add(new LedgerRow(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetInt64(3), reader.GetInt64(4)));
        return rows;
    }
}
