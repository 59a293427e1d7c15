using System.Globalization;
using System.Text;
using System.Text.Json;
using Middleware.Recovery.Log;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;

namespace Bank.Demo;

/// <summary>What the verification found. <see cref="Passed"/> only when there is no discrepancy at all.</summary>
public sealed record VerificationReport(int Acknowledged, int Lost, int Duplicated, int LogRecords, IReadOnlyList<string> Discrepancies)
{
    /// <summary>True when every acknowledged request is in the log exactly once and every balance adds up.</summary>
    public bool Passed => Discrepancies.Count == 0;

    /// <summary>The summary line the demo ends with.</summary>
    public string Summary => $"verified: {Acknowledged} acknowledged, {Lost} lost, {Duplicated} duplicated";
}

/// <summary>
/// Checks a run against the store itself: walks every account's log from seq 1 (checkpoints do not remove
/// records; nothing is truncated here), and proves that each acknowledged request id appears exactly once,
/// with the reply the client got; that the log replays to the balances it recorded (each OK reply equals the
/// running balance, each refused withdrawal really overdrew); and that the balances the host reports equal
/// the sum of the acknowledged outcomes.
/// </summary>
public static class LogVerifier
{
    /// <summary>The component type name of accounts (<c>Account</c>).</summary>
    public static readonly string AccountType = ComponentTypeInfo.TypeNameOf(typeof(IAccount));

    /// <summary>Verifies <paramref name="acknowledged"/> against the log in <paramref name="store"/> and the queried balances.</summary>
    public static async Task<VerificationReport> VerifyAsync(ILogStore store, IEnumerable<Acknowledged> acknowledged, IReadOnlyDictionary<string, long> finalBalances, CancellationToken cancellationToken = default)
    {
        var acked = acknowledged.Where(a => a.Request.Kind != OperationKind.Balance).ToDictionary(a => a.Request.RequestId, StringComparer.Ordinal);
        var issues = new List<string>();
        var logged = new Dictionary<string, List<(string Account, TurnRecord Turn)>>(StringComparer.Ordinal);
        var accounts = acked.Values.Select(a => a.Request.Account).Concat(finalBalances.Keys).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal);
        var records = 0;
        foreach (var account in accounts)
        {
            var replayed = await WalkLogAsync(store, account, logged, issues, cancellationToken).ConfigureAwait(false);
            records += replayed.Records;
            if (finalBalances.TryGetValue(account, out var reported) && reported != replayed.Balance)
                issues.Add($"{Component(account)}: the host reports balance {reported} but its log replays to {replayed.Balance}");
        }

        var lost = 0;
        var duplicated = 0;
        foreach (var (id, ack) in acked.OrderBy(a => a.Key, StringComparer.Ordinal))
        {
            var occurrences = logged.TryGetValue(id, out var list) ? list : [];
            if (occurrences.Count == 0)
            {
                lost++;
                issues.Add($"{Component(ack.Request.Account)} {id}: acknowledged ({ack.Reply}) but not in the log (lost)");
                continue;
            }

            if (occurrences.Count > 1)
            {
                duplicated++;
                issues.Add($"{Component(ack.Request.Account)} {id}: in the log {occurrences.Count} times (applied more than once)");
            }

            var (account, turn) = occurrences[0];
            if (account != ack.Request.Account)
                issues.Add($"{id}: sent to {Component(ack.Request.Account)} but logged on {Component(account)}");
            var loggedReply = ToHostReply(id, turn.Reply);
            if (!loggedReply.SameOutcome(ack.Reply))
                issues.Add($"{Component(account)} {id}: acknowledged with '{ack.Reply}' but the log recorded '{loggedReply}'");
        }

        foreach (var (id, list) in logged.Where(l => !acked.ContainsKey(l.Key)))
            issues.Add($"{Component(list[0].Account)} {id}: in the log but never acknowledged to the client");

        foreach (var (account, expected) in ExpectedBalances(acked.Values))
        {
            if (!finalBalances.TryGetValue(account, out var actual))
                issues.Add($"{Component(account)}: no final balance was queried");
            else if (actual != expected)
                issues.Add($"{Component(account)}: expected balance {expected} from the acknowledged outcomes, actual {actual} (difference {actual - expected})");
        }

        return new VerificationReport(acked.Count, lost, duplicated, records, issues);
    }

    /// <summary>The balance each account must have: the sum of the acknowledged deposits minus withdrawals that were OK.</summary>
    public static Dictionary<string, long> ExpectedBalances(IEnumerable<Acknowledged> acknowledged)
    {
        var expected = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var a in acknowledged)
        {
            var delta = (a.Request.Kind, a.Reply.Kind) switch
            {
                (OperationKind.Deposit, ReplyKind.Ok) => a.Request.Amount,
                (OperationKind.Withdraw, ReplyKind.Ok) => -a.Request.Amount,
                _ => 0,
            };
            if (a.Request.Kind != OperationKind.Balance)
                expected[a.Request.Account] = expected.GetValueOrDefault(a.Request.Account) + delta;
        }

        return expected;
    }

    /// <summary>The component id text of an account.</summary>
    public static string Component(string account) => $"{AccountType}/{account}";

    /// <summary>Reads the whole log of one account, checking seqs and replaying the balance from the recorded replies.</summary>
    private static async Task<(long Balance, int Records)> WalkLogAsync(ILogStore store, string account, Dictionary<string, List<(string, TurnRecord)>> logged, List<string> issues, CancellationToken cancellationToken)
    {
        var id = Component(account);
        var head = await store.GetHeadAsync(id, cancellationToken).ConfigureAwait(false);
        if (head is null || head.LastSeq == 0) return (0, 0);
        var records = await store.ReadAsync(id, 1, head.LastSeq, cancellationToken).ConfigureAwait(false);
        if (records.Count != head.LastSeq || records[0].Seq != 1 || records[^1].Seq != head.LastSeq)
            issues.Add($"{id}: the head says seq 1..{head.LastSeq} but the log holds {records.Count} records ({(records.Count > 0 ? $"{records[0].Seq}..{records[^1].Seq}" : "none")})");
        long balance = 0;
        for (var i = 0; i < records.Count; i++)
        {
            if (i > 0 && records[i].Seq != records[i - 1].Seq + 1)
                issues.Add($"{id}: seq gap between {records[i - 1].Seq} and {records[i].Seq}");
            // A partial record is a withdrawal's input forced to the log before its ledger call; its turn's final
            // record follows and is what counts.
            if (records[i].Kind == RecordKind.PartialTurn) continue;
            var turn = RecordCodec.DecodeTurn(records[i].Payload);
            if (!logged.TryGetValue(turn.RequestId, out var list)) logged[turn.RequestId] = list = [];
            list.Add((account, turn));
            balance = Replay(id, records[i].Seq, turn, balance, issues);
        }

        return (balance, records.Count);
    }

    private static long Replay(string id, long seq, TurnRecord turn, long balance, List<string> issues)
    {
        var amount = FirstArgument(turn.Args);
        var reply = ToHostReply(turn.RequestId, turn.Reply);
        switch (turn.Method, reply.Kind)
        {
            case (nameof(IAccount.Deposit), ReplyKind.Ok):
                balance += amount;
                break;
            case (nameof(IAccount.Withdraw), ReplyKind.Ok):
                balance -= amount;
                break;
            case (nameof(IAccount.Withdraw), ReplyKind.Error) when amount > balance:
                return balance; // a genuine overdraft, refused and recorded
            default:
                issues.Add($"{id} seq {seq} {turn.RequestId}: unexpected {turn.Method}({amount}) -> {reply} at balance {balance}");
                return balance;
        }

        if (reply.Balance != balance)
            issues.Add($"{id} seq {seq} {turn.RequestId}: {turn.Method}({amount}) replied {reply.Balance} but the log replays to {balance}");
        return balance;
    }

    private static long FirstArgument(ReadOnlyMemory<byte> args)
    {
        using var doc = JsonDocument.Parse(args);
        return doc.RootElement[0].GetInt64();
    }

    private static HostReply ToHostReply(string requestId, TurnReply reply) =>
        reply.IsError
            // The line protocol flattens messages to one line; compare in that form.
            ? new HostReply(requestId, ReplyKind.Error, 0, reply.ErrorType, reply.ErrorMessage?.Replace('\r', ' ').Replace('\n', ' '))
            : new HostReply(requestId, ReplyKind.Ok, long.Parse(Encoding.UTF8.GetString(reply.Result.Span), NumberStyles.Integer, CultureInfo.InvariantCulture));
}
