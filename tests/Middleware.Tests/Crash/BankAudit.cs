using System.Globalization;
using Bank;
using Bank.Demo;
using Middleware.Recovery.Log;

namespace Middleware.Tests.Crash;

/// <summary>
/// The bank audit from the store and the ledger alone (no client needs to have survived): every account log replays to
/// its recorded replies; every account turn a teller made is a recorded call of a committed transfer, once, with the same
/// outcome; the ledger holds exactly one row per committed OK withdrawal, with its amount and balance; money is
/// conserved and the cluster reports the same balances; and every request a client printed as acknowledged is in its
/// component's log once with the reply the client got. The replay and transfer rules are <see cref="LogVerifier"/>'s.
/// </summary>
internal static class BankAudit
{
    /// <summary>Runs every check on <paramref name="snapshot"/>; <paramref name="acks"/> are what clients printed.</summary>
    public static BankAuditReport Run(BankSnapshot snapshot, IReadOnlyCollection<ClientAck> acks)
    {
        var report = new BankAuditReport();
        var logs = BankLogs.Decode(snapshot, report.Issues("replay"));
        Replay(logs, report);
        TransferLegs(logs, report);
        Ledger(logs, snapshot.Ledger, report);
        Money(logs, snapshot.Reported, report);
        Acknowledged(logs, acks, report);
        report.CompletedByLaterEpoch = logs.CompletedByLaterEpoch;
        report.PartialToFinal = logs.PartialToFinal;
        report.Stats = $"stats: {logs.All.Count} final turns, {logs.CompletedByLaterEpoch} turn(s) completed by a newer activation than the one that started them " +
                       $"(in doubt at a crash or a store failure), {logs.Partials} partial records";
        return report;
    }

    private static void Replay(BankLogs logs, BankAuditReport report)
    {
        var issues = report.Issues("replay");
        foreach (var (key, turns) in logs.Accounts)
        {
            long balance = 0;
            foreach (var t in turns) balance = LogVerifier.Replay(t.Component, t.Seq, t.Turn, balance, issues);
            logs.Balances[key] = balance;
        }

        foreach (var (key, turns) in logs.Tellers)
        {
            long transfers = 0;
            foreach (var t in turns.Where(t => !t.Turn.Reply.IsError))
            {
                // A teller's OK reply is its transfer count: 1, 2, 3, ... in log order.
                transfers++;
                if (Text.Of(t.Turn.Reply.Result) != transfers.ToString(CultureInfo.InvariantCulture))
                    issues.Add($"{t.Component} seq {t.Seq} {t.Turn.RequestId}: replied {Text.Of(t.Turn.Reply.Result)} but it is transfer number {transfers} of the log");
            }

            logs.Transfers[key] = transfers;
        }

        foreach (var (id, entries) in logs.ByRequest.Where(e => e.Value.Count > 1))
            issues.Add($"{id}: in the logs {entries.Count} times ({string.Join(", ", entries.Select(e => $"{e.Component} seq {e.Seq}"))}): applied more than once");
        var accountTurns = logs.Accounts.Values.Sum(t => t.Count);
        var refused = logs.Accounts.Values.SelectMany(t => t).Count(t => t.Turn.Reply.IsError);
        report.Summary("replay", $"{logs.Accounts.Count} account logs ({accountTurns} turns, {refused} refused) and {logs.Tellers.Count} teller logs replay to their recorded replies; no request id twice; seqs gapless, epochs never go back");
    }

    private static void TransferLegs(BankLogs logs, BankAuditReport report)
    {
        var issues = report.Issues("transfer legs");
        var caused = new Dictionary<string, Acknowledged>(StringComparer.Ordinal);
        var calls = new Dictionary<string, OutboundCall>(StringComparer.Ordinal);
        int ok = 0, refused = 0;
        foreach (var (key, turns) in logs.Tellers)
        {
            foreach (var t in turns)
            {
                LogVerifier.AddCausedCalls(key, t.Turn, caused, issues);
                foreach (var call in t.Turn.Outbound.Where(c => c.Kind == OutboundKind.Component)) calls[call.RequestId] = call;
                if (t.Turn.Reply.IsError) refused++;
                else ok++;
            }
        }

        var legs = 0;
        foreach (var t in logs.Accounts.Values.SelectMany(turns => turns).Where(t => t.Turn.Caller is not null || t.Turn.RequestId.StartsWith(LogVerifier.TellerType + "/", StringComparison.Ordinal)))
        {
            legs++;
            var what = $"{t.Component} seq {t.Seq} {t.Turn.Method}{Text.Of(t.Turn.Args)} -> {t.Turn.Reply} by {t.Turn.RequestId}";
            if (!calls.TryGetValue(t.Turn.RequestId, out var call))
                issues.Add($"{what}: no committed teller turn made this call (an orphan leg: money moved by a transfer that never happened)");
            else if (call.Target != t.Component || call.Operation != t.Turn.Method || !call.Args.Span.SequenceEqual(t.Turn.Args.Span))
                issues.Add($"{what}: the teller recorded {call.Operation}{Text.Of(call.Args)} to {call.Target}");
            else if (!call.Outcome.SameAs(t.Turn.Reply))
                issues.Add($"{what}: the teller recorded the outcome '{call.Outcome}'");
        }

        foreach (var (id, leg) in caused.Where(c => !logs.ByRequest.ContainsKey(c.Key)))
            issues.Add($"{LogVerifier.Component(leg.Request.Account)} {id}: a committed transfer recorded {leg.Request.Kind}({leg.Request.Amount}) -> {leg.Reply} but the account's log has no such turn (a missing leg)");
        report.Summary("transfer legs", $"{ok} committed OK transfers with both legs, {refused} refused with one refused debit; {legs} account turns made by tellers, each a recorded call of a committed transfer with the same outcome");
    }

    private static void Ledger(BankLogs logs, IReadOnlyList<LedgerRow> rows, BankAuditReport report)
    {
        var issues = report.Issues("ledger");
        var byEntry = rows.GroupBy(r => r.EntryId, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);
        var expected = new HashSet<string>(StringComparer.Ordinal);
        var withdrawals = 0;
        foreach (var (key, turns) in logs.Accounts)
        {
            foreach (var t in turns.Where(t => t.Turn.Method == nameof(IAccount.Withdraw) && !t.Turn.Reply.IsError))
            {
                withdrawals++;
                var what = $"{t.Component} seq {t.Seq} {t.Turn.RequestId} Withdraw{Text.Of(t.Turn.Args)} -> {t.Turn.Reply}";
                var posts = t.Turn.Outbound.Where(o => o.Kind == OutboundKind.Backend).ToList();
                if (posts.Count != 1)
                {
                    issues.Add($"{what}: {posts.Count} back-end calls recorded, a withdrawal makes one");
                    continue;
                }

                expected.Add(posts[0].RequestId);
                var found = byEntry.GetValueOrDefault(posts[0].RequestId) ?? [];
                if (found.Count != 1)
                {
                    issues.Add($"{what}: {found.Count} ledger rows for its entry {posts[0].RequestId}");
                    continue;
                }

                var row = found[0];
                var amount = BankLogs.Amount(t.Turn);
                var balance = long.Parse(Text.Of(t.Turn.Reply.Result), CultureInfo.InvariantCulture);
                if (row.Account != key || row.Amount != amount || row.BalanceAfter != balance || row.RequestId != t.Turn.RequestId)
                    issues.Add($"{what}: the ledger row {row.EntryId} says {row.Amount} from {row.Account} with balance_after {row.BalanceAfter} for request {row.RequestId}");
            }
        }

        foreach (var row in rows.Where(r => !expected.Contains(r.EntryId)))
            issues.Add($"ledger row {row.EntryId} ({row.Amount} from {row.Account}, balance_after {row.BalanceAfter}, request {row.RequestId}) belongs to no committed OK withdrawal");
        report.Summary("ledger", $"{rows.Count} ledger rows for {withdrawals} committed OK withdrawals: one row each, with the turn's amount and balance_after");
    }

    private static void Money(BankLogs logs, ClusterReport reported, BankAuditReport report)
    {
        var issues = report.Issues("money");
        var turns = logs.Accounts.Values.SelectMany(t => t).Where(t => !t.Turn.Reply.IsError).ToList();
        long Sum(Func<BankLogs.Entry, bool> which) => turns.Where(which).Sum(t => BankLogs.Amount(t.Turn));
        var deposited = Sum(t => t.Turn.Method == nameof(IAccount.Deposit) && t.Turn.Caller is null);
        var withdrawn = Sum(t => t.Turn.Method == nameof(IAccount.Withdraw));
        var credited = Sum(t => t.Turn.Method == nameof(IAccount.Deposit) && t.Turn.Caller is not null);
        var debited = Sum(t => t.Turn.Method == nameof(IAccount.Debit));
        var total = logs.Balances.Values.Sum();
        if (credited != debited) issues.Add($"teller legs do not net to zero: {debited} debited, {credited} credited");
        if (total != deposited - withdrawn) issues.Add($"the balances sum to {total}, but clients deposited {deposited} and withdrew {withdrawn} (difference {total - (deposited - withdrawn)})");
        foreach (var (key, balance) in logs.Balances)
        {
            if (!reported.Balances.TryGetValue(key, out var seen)) issues.Add($"{LogVerifier.Component(key)}: the cluster reported no balance");
            else if (seen != balance) issues.Add($"{LogVerifier.Component(key)}: the cluster reports {seen}, its log replays to {balance}");
        }

        foreach (var (key, transfers) in logs.Transfers)
        {
            if (reported.Transfers.TryGetValue(key, out var seen) && seen != transfers)
                issues.Add($"{LogVerifier.TellerComponent(key)}: the cluster reports {seen} transfers, its log holds {transfers} committed OK transfers");
        }

        report.Summary("money", $"balances sum to {total} = {deposited} deposited - {withdrawn} withdrawn (teller legs {debited} out, {credited} in); the cluster reports the same {reported.Balances.Count} balances and {reported.Transfers.Count} teller totals");
    }

    private static void Acknowledged(BankLogs logs, IReadOnlyCollection<ClientAck> acks, BankAuditReport report)
    {
        var issues = report.Issues("client acks");
        foreach (var ack in acks)
        {
            var what = $"{ack.Component} {ack.RequestId} {ack.Method}{ack.Args} acknowledged with {(ack.ErrorType is null ? ack.Ok : $"error {ack.ErrorType}")}";
            var found = logs.ByRequest.GetValueOrDefault(ack.RequestId) ?? [];
            if (found.Count != 1)
            {
                issues.Add($"{what}: in the logs {found.Count} times{(found.Count == 0 ? " (lost)" : "")}");
                continue;
            }

            var (entry, reply) = (found[0], found[0].Turn.Reply);
            if (entry.Component != ack.Component || entry.Turn.Method != ack.Method || Text.Of(entry.Turn.Args) != ack.Args)
                issues.Add($"{what}: the log holds {entry.Component} {entry.Turn.Method}{Text.Of(entry.Turn.Args)} under that id");
            else if (ack.ErrorType is null ? reply.IsError || Text.Of(reply.Result) != ack.Ok : reply.ErrorType != ack.ErrorType || reply.ErrorMessage != ack.ErrorMessage)
                issues.Add($"{what}: the log recorded '{reply}'");
        }

        report.Summary("client acks", $"{acks.Count} requests clients printed as acknowledged are each in their component's log once, with the reply the client got");
    }
}
