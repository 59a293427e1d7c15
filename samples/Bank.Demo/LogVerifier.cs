using System.Globalization;
using System.Text;
using System.Text.Json;
using Middleware.Core;
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

/// <summary>A transfer a client sent to a teller, and the outcome it was acknowledged with (OK: the teller's transfer count; or the recorded error).</summary>
public sealed record AcknowledgedTransfer(string RequestId, string Teller, string From, string To, long Amount, HostReply Reply);

/// <summary>A request whose outcome query answered "not committed": the owner fenced it, so it must not be in any log.</summary>
public sealed record FencedRequest(string RequestId, string ComponentId);

/// <summary>
/// Everything a run claims, for <see cref="LogVerifier.VerifyAsync(ILogStore, VerificationInput, CancellationToken)"/>: the acknowledged
/// requests to accounts and to tellers, the tellers that may have logs, the requests answered "not committed", and the
/// balances read at the end.
/// </summary>
public sealed record VerificationInput(
    IReadOnlyCollection<Acknowledged> AccountRequests,
    IReadOnlyCollection<AcknowledgedTransfer> Transfers,
    IReadOnlyCollection<string> Tellers,
    IReadOnlyCollection<FencedRequest> NotCommitted,
    IReadOnlyDictionary<string, long> FinalBalances);

/// <summary>
/// Checks a run against the store itself: walks every account's and teller's log from seq 1 (checkpoints do not remove
/// records; nothing is truncated here), and proves that each acknowledged request id appears exactly once, with the
/// reply the client got; that each account turn a teller caused is one of the outbound calls recorded in a committed
/// teller turn, exactly once, with the recorded outcome; that the logs replay to the balances they recorded (each OK
/// reply equals the running balance, each refused withdrawal or debit really overdrew); that requests answered "not
/// committed" are in no log; and that the balances read at the end equal the sum of the acknowledged outcomes.
/// Partial-turn records, fence records (of their own kind, or turn records with the fenced reply) and records of other
/// kinds are skipped: only final turn records count.
/// </summary>
public static class LogVerifier
{
    /// <summary>The component type name of accounts (<c>Account</c>).</summary>
    public static readonly string AccountType = ComponentTypeInfo.TypeNameOf(typeof(IAccount));

    /// <summary>The component type name of tellers (<c>Teller</c>).</summary>
    public static readonly string TellerType = ComponentTypeInfo.TypeNameOf(typeof(ITeller));

    /// <summary>Verifies <paramref name="acknowledged"/> (account requests only) against the log in <paramref name="store"/> and the queried balances.</summary>
    public static Task<VerificationReport> VerifyAsync(ILogStore store, IEnumerable<Acknowledged> acknowledged, IReadOnlyDictionary<string, long> finalBalances, CancellationToken cancellationToken = default) =>
        VerifyAsync(store, new VerificationInput([.. acknowledged], [], [], [], finalBalances), cancellationToken);

    /// <summary>Verifies a run with accounts and tellers (see the class summary).</summary>
    public static async Task<VerificationReport> VerifyAsync(ILogStore store, VerificationInput input, CancellationToken cancellationToken = default)
    {
        var issues = new List<string>();
        var lost = 0;
        var duplicated = 0;
        var records = 0;

        // Tellers first: their committed turns say which account turns they caused.
        var transfers = input.Transfers.ToDictionary(t => t.RequestId, StringComparer.Ordinal);
        var tellerLogged = new Dictionary<string, List<(string Teller, TurnRecord Turn)>>(StringComparer.Ordinal);
        var tellers = input.Tellers.Concat(transfers.Values.Select(t => t.Teller)).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal);
        foreach (var teller in tellers)
        {
            records += (await WalkLogAsync(store, TellerComponent(teller), teller, tellerLogged, issues, cancellationToken).ConfigureAwait(false)).Records;
        }

        foreach (var (id, transfer) in transfers.OrderBy(t => t.Key, StringComparer.Ordinal))
        {
            var occurrences = tellerLogged.TryGetValue(id, out var list) ? list : [];
            if (occurrences.Count == 0)
            {
                lost++;
                issues.Add($"{TellerComponent(transfer.Teller)} {id}: transfer acknowledged ({transfer.Reply}) but not in the log (lost)");
                continue;
            }

            if (occurrences.Count > 1)
            {
                duplicated++;
                issues.Add($"{TellerComponent(transfer.Teller)} {id}: in the log {occurrences.Count} times (applied more than once)");
            }

            var (teller, turn) = occurrences[0];
            if (teller != transfer.Teller)
                issues.Add($"{id}: sent to {TellerComponent(transfer.Teller)} but logged on {TellerComponent(teller)}");
            var loggedReply = ToHostReply(id, turn.Reply);
            if (!loggedReply.SameOutcome(transfer.Reply))
                issues.Add($"{TellerComponent(teller)} {id}: acknowledged with '{transfer.Reply}' but the log recorded '{loggedReply}'");
        }

        foreach (var (id, list) in tellerLogged.Where(l => !transfers.ContainsKey(l.Key)))
            issues.Add($"{TellerComponent(list[0].Teller)} {id}: in the log but never acknowledged to the client");

        // The account turns the committed teller turns caused, by request id.
        var caused = new Dictionary<string, Acknowledged>(StringComparer.Ordinal);
        foreach (var (_, list) in tellerLogged)
        {
            foreach (var (teller, turn) in list) AddCausedCalls(teller, turn, caused, issues);
        }

        var acked = input.AccountRequests.Where(a => a.Request.Kind != OperationKind.Balance).ToDictionary(a => a.Request.RequestId, StringComparer.Ordinal);
        var expectedInLogs = new Dictionary<string, Acknowledged>(acked, StringComparer.Ordinal);
        foreach (var (id, call) in caused)
        {
            if (!expectedInLogs.TryAdd(id, call)) issues.Add($"{id}: both a client request and a teller's call carry this request id");
        }

        var logged = new Dictionary<string, List<(string Account, TurnRecord Turn)>>(StringComparer.Ordinal);
        var accounts = expectedInLogs.Values.Select(a => a.Request.Account)
            .Concat(input.FinalBalances.Keys)
            .Concat(transfers.Values.SelectMany(t => new[] { t.From, t.To }))
            .Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal);
        foreach (var account in accounts)
        {
            var (count, turns) = await WalkLogAsync(store, Component(account), account, logged, issues, cancellationToken).ConfigureAwait(false);
            records += count;
            long balance = 0;
            foreach (var (seq, turn) in turns) balance = Replay(Component(account), seq, turn, balance, issues);

            if (input.FinalBalances.TryGetValue(account, out var reported) && reported != balance)
                issues.Add($"{Component(account)}: the cluster reports balance {reported} but its log replays to {balance}");
        }

        foreach (var (id, ack) in expectedInLogs.OrderBy(a => a.Key, StringComparer.Ordinal))
        {
            var fromTeller = caused.ContainsKey(id);
            var occurrences = logged.TryGetValue(id, out var list) ? list : [];
            if (occurrences.Count == 0)
            {
                lost++;
                issues.Add($"{Component(ack.Request.Account)} {id}: {(fromTeller ? "called by a committed teller turn" : "acknowledged")} ({ack.Reply}) but not in the log (lost)");
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
                issues.Add($"{Component(account)} {id}: {(fromTeller ? "the teller recorded" : "acknowledged with")} '{ack.Reply}' but the log recorded '{loggedReply}'");
        }

        foreach (var (id, list) in logged.Where(l => !expectedInLogs.ContainsKey(l.Key)))
        {
            issues.Add(list[0].Turn.Caller is { } caller
                ? $"{Component(list[0].Account)} {id}: {list[0].Turn.Method} called by {caller}, but no committed turn of the caller made that call (an effect of an uncommitted turn)"
                : $"{Component(list[0].Account)} {id}: in the log but never acknowledged to the client");
        }

        foreach (var fenced in input.NotCommitted)
        {
            if (logged.ContainsKey(fenced.RequestId) || tellerLogged.ContainsKey(fenced.RequestId))
                issues.Add($"{fenced.ComponentId} {fenced.RequestId}: the cluster answered 'not committed' (fenced) but the request is in the log");
        }

        foreach (var (account, expected) in ExpectedBalances(acked.Values, transfers.Values))
        {
            if (!input.FinalBalances.TryGetValue(account, out var actual))
                issues.Add($"{Component(account)}: no final balance was queried");
            else if (actual != expected)
                issues.Add($"{Component(account)}: expected balance {expected} from the acknowledged outcomes, actual {actual} (difference {actual - expected})");
        }

        return new VerificationReport(acked.Count + transfers.Count, lost, duplicated, records, issues);
    }

    /// <summary>The balance each account must have: the sum of the acknowledged deposits minus withdrawals (and debits) that were OK.</summary>
    public static Dictionary<string, long> ExpectedBalances(IEnumerable<Acknowledged> acknowledged) => ExpectedBalances(acknowledged, []);

    /// <summary>As <see cref="ExpectedBalances(IEnumerable{Acknowledged})"/>, with OK transfers moving their amount from one account to the other.</summary>
    public static Dictionary<string, long> ExpectedBalances(IEnumerable<Acknowledged> acknowledged, IEnumerable<AcknowledgedTransfer> transfers)
    {
        var expected = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var a in acknowledged)
        {
            var delta = (a.Request.Kind, a.Reply.Kind) switch
            {
                (OperationKind.Deposit, ReplyKind.Ok) => a.Request.Amount,
                (OperationKind.Withdraw or OperationKind.Debit, ReplyKind.Ok) => -a.Request.Amount,
                _ => 0,
            };
            if (a.Request.Kind != OperationKind.Balance)
                expected[a.Request.Account] = expected.GetValueOrDefault(a.Request.Account) + delta;
        }

        foreach (var t in transfers)
        {
            var amount = t.Reply.Kind == ReplyKind.Ok ? t.Amount : 0;
            expected[t.From] = expected.GetValueOrDefault(t.From) - amount;
            expected[t.To] = expected.GetValueOrDefault(t.To) + amount;
        }

        return expected;
    }

    /// <summary>The component id text of an account.</summary>
    public static string Component(string account) => $"{AccountType}/{account}";

    /// <summary>The component id text of a teller.</summary>
    public static string TellerComponent(string teller) => $"{TellerType}/{teller}";

    /// <summary>
    /// Reads the whole log of one component, checking that seqs run 1..head without gaps, and files every final turn
    /// record under its request id. Returns the number of records read and the final turns in seq order.
    /// </summary>
    private static async Task<(int Records, List<(long Seq, TurnRecord Turn)> Turns)> WalkLogAsync(ILogStore store, string id, string key, Dictionary<string, List<(string, TurnRecord)>> logged, List<string> issues, CancellationToken cancellationToken)
    {
        var turns = new List<(long Seq, TurnRecord Turn)>();
        var head = await store.GetHeadAsync(id, cancellationToken).ConfigureAwait(false);
        if (head is null || head.LastSeq == 0) return (0, turns);
        var records = await store.ReadAsync(id, 1, head.LastSeq, cancellationToken).ConfigureAwait(false);
        if (records.Count != head.LastSeq || records[0].Seq != 1 || records[^1].Seq != head.LastSeq)
            issues.Add($"{id}: the head says seq 1..{head.LastSeq} but the log holds {records.Count} records ({(records.Count > 0 ? $"{records[0].Seq}..{records[^1].Seq}" : "none")})");
        for (var i = 0; i < records.Count; i++)
        {
            if (i > 0 && records[i].Seq != records[i - 1].Seq + 1)
                issues.Add($"{id}: seq gap between {records[i - 1].Seq} and {records[i].Seq}");
            // Only final turn records count. A partial record is a turn's input forced to the log before an outbound call
            // (its final record follows); a fence record marks a request id as never to commit.
            if (records[i].Kind != RecordKind.Turn) continue;
            TurnRecord turn;
            try
            {
                turn = RecordCodec.DecodeTurn(records[i].Payload);
            }
            catch (Exception e) when (e is FormatException or InvalidDataException or ArgumentException or JsonException)
            {
                issues.Add($"{id} seq {records[i].Seq}: the turn record cannot be decoded ({e.Message})");
                continue;
            }

            // A fenced request id (an outcome query answered "not committed") never ran: its record only keeps it out.
            if (turn.IsPartial || RequestOutcome.IsFenced(turn.Reply)) continue;
            if (!logged.TryGetValue(turn.RequestId, out var list)) logged[turn.RequestId] = list = [];
            list.Add((key, turn));
            turns.Add((records[i].Seq, turn));
        }

        return (records.Count, turns);
    }

    /// <summary>
    /// Applies one final account turn to <paramref name="balance"/> and returns the new balance: an OK reply must equal
    /// the running balance, a refused withdrawal or debit must really have overdrawn; anything else is added to
    /// <paramref name="issues"/>. Public for the crash tests' store-level bank audit.
    /// </summary>
    public static long Replay(string id, long seq, TurnRecord turn, long balance, List<string> issues)
    {
        var amount = FirstArgument(turn.Args);
        var reply = ToHostReply(turn.RequestId, turn.Reply);
        switch (turn.Method, reply.Kind)
        {
            case (nameof(IAccount.Deposit), ReplyKind.Ok):
                balance += amount;
                break;
            case (nameof(IAccount.Withdraw) or nameof(IAccount.Debit), ReplyKind.Ok):
                balance -= amount;
                break;
            case (nameof(IAccount.Withdraw) or nameof(IAccount.Debit), ReplyKind.Error) when amount > balance:
                return balance; // a genuine overdraft, refused and recorded
            default:
                issues.Add($"{id} seq {seq} {turn.RequestId}: unexpected {turn.Method}({amount}) -> {reply} at balance {balance}");
                return balance;
        }

        if (reply.Balance != balance)
            issues.Add($"{id} seq {seq} {turn.RequestId}: {turn.Method}({amount}) replied {reply.Balance} but the log replays to {balance}");
        return balance;
    }

    /// <summary>
    /// Files the account calls a logged teller turn made (its component outbound calls, with their recorded outcomes) and
    /// checks they are what a transfer must do: an OK transfer debited <c>from</c> and credited <c>to</c> with its amount;
    /// a refused one made one refused debit and nothing else. Public for the crash tests' store-level bank audit.
    /// </summary>
    public static void AddCausedCalls(string teller, TurnRecord turn, Dictionary<string, Acknowledged> caused, List<string> issues)
    {
        var where = $"{TellerComponent(teller)} {turn.RequestId}";
        if (turn.Method != nameof(ITeller.Transfer))
        {
            issues.Add($"{where}: unexpected logged method {turn.Method}");
            return;
        }

        var (from, to, amount) = TransferArguments(turn.Args);
        var calls = new List<Acknowledged>();
        foreach (var call in turn.Outbound.Where(o => o.Kind != OutboundKind.Backend))
        {
            var slash = call.Target.IndexOf('/', StringComparison.Ordinal);
            var (type, key) = slash > 0 ? (call.Target[..slash], call.Target[(slash + 1)..]) : ("", call.Target);
            var kind = call.Operation switch
            {
                nameof(IAccount.Debit) => OperationKind.Debit,
                nameof(IAccount.Deposit) => OperationKind.Deposit,
                nameof(IAccount.Withdraw) => OperationKind.Withdraw,
                _ => OperationKind.Balance,
            };
            if (type != AccountType || kind == OperationKind.Balance)
            {
                issues.Add($"{where}: unexpected outbound call {call.Operation} to {call.Target}");
                continue;
            }

            var request = new HostRequest(call.RequestId, kind, key, FirstArgument(call.Args));
            calls.Add(new Acknowledged(request, ToHostReply(call.RequestId, call.Outcome)));
        }

        foreach (var call in calls)
        {
            if (!caused.TryAdd(call.Request.RequestId, call))
                issues.Add($"{where}: outbound request id {call.Request.RequestId} was already used by another teller turn");
        }

        var shape = string.Join(", ", calls.Select(c => $"{c.Request.Kind} {c.Request.Account} {c.Request.Amount} {c.Reply.Kind}"));
        var ok = turn.Reply.IsError
            ? calls is [{ Request.Kind: OperationKind.Debit, Reply.Kind: ReplyKind.Error } debit] && debit.Request.Account == from && debit.Request.Amount == amount
            : calls is [{ Request.Kind: OperationKind.Debit, Reply.Kind: ReplyKind.Ok } d, { Request.Kind: OperationKind.Deposit, Reply.Kind: ReplyKind.Ok } c]
              && d.Request.Account == from && c.Request.Account == to && d.Request.Amount == amount && c.Request.Amount == amount;
        if (!ok)
            issues.Add($"{where}: Transfer({from}, {to}, {amount}) -> {ToHostReply(turn.RequestId, turn.Reply)} recorded the account calls [{shape}], not what a transfer does");
    }

    private static (string From, string To, long Amount) TransferArguments(ReadOnlyMemory<byte> args)
    {
        using var doc = JsonDocument.Parse(args);
        var root = doc.RootElement;
        return (root[0].GetString() ?? "", root[1].GetString() ?? "", root[2].GetInt64());
    }

    private static long FirstArgument(ReadOnlyMemory<byte> args)
    {
        using var doc = JsonDocument.Parse(args);
        return doc.RootElement[0].GetInt64();
    }

    private static HostReply ToHostReply(string requestId, ComponentReply reply) =>
        reply.IsError
            // The line protocol flattens messages to one line; compare in that form.
            ? new HostReply(requestId, ReplyKind.Error, 0, reply.ErrorType, reply.ErrorMessage?.Replace('\r', ' ').Replace('\n', ' '))
            : new HostReply(requestId, ReplyKind.Ok, long.Parse(Encoding.UTF8.GetString(reply.Result.Span), NumberStyles.Integer, CultureInfo.InvariantCulture));
}
