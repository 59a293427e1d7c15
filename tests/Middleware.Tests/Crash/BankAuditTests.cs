using System.Text;
using Middleware.Core;
using Middleware.Recovery.Log;

namespace Middleware.Tests.Crash;

/// <summary>
/// The crash tests' verdict rests on <see cref="BankAudit"/> finding nothing; these tests show each of its checks does
/// find the breakage it is there for, on a small bank built record by record: a deposit and a withdrawal (completed by
/// a newer activation after its partial record) on account a, and a teller transfer from a to b.
/// </summary>
public sealed class BankAuditTests
{
    [Fact]
    public void A_truthful_bank_passes_every_check()
    {
        var report = BankAudit.Run(new Bank().Snapshot(), Bank.Acks);
        Assert.True(report.Passed, report.Describe());
        Assert.Contains("1 turn(s) completed by a newer activation", report.Stats);
    }

    [Fact]
    public void A_reply_that_is_not_the_running_balance_fails_the_replay()
    {
        var bank = new Bank();
        bank.A[0] = Record(1, 1, Turn("c:1", "Deposit", "[100]", "101"));
        Assert.Contains(BankAudit.Run(bank.Snapshot(), []).Issues("replay"), i => i.Contains("replied 101 but the log replays to 100", StringComparison.Ordinal));
    }

    [Fact]
    public void A_record_of_an_older_epoch_after_a_newer_one_fails_the_replay()
    {
        var bank = new Bank();
        bank.A[3] = bank.A[3] with { Epoch = 1 };
        Assert.Contains(BankAudit.Run(bank.Snapshot(), Bank.Acks).Issues("replay"), i => i.Contains("a stale owner wrote", StringComparison.Ordinal));
    }

    [Fact]
    public void An_account_turn_of_a_transfer_that_never_committed_is_an_orphan_leg()
    {
        var bank = new Bank();
        bank.T.RemoveAt(1); // the teller's final record: only its partial is left
        var issues = BankAudit.Run(bank.Snapshot(), []).Issues("transfer legs");
        Assert.Equal(2, issues.Count(i => i.Contains("an orphan leg", StringComparison.Ordinal)));
    }

    [Fact]
    public void A_ledger_row_with_another_balance_or_without_a_withdrawal_fails_the_ledger()
    {
        var bank = new Bank();
        bank.Ledger[0] = bank.Ledger[0] with { BalanceAfter = 71 };
        bank.Ledger.Add(new LedgerRow("Account/a:9:1", "c:9", "a", 5, 65));
        var issues = BankAudit.Run(bank.Snapshot(), []).Issues("ledger");
        Assert.Contains(issues, i => i.Contains("balance_after 71", StringComparison.Ordinal));
        Assert.Contains(issues, i => i.Contains("Account/a:9:1", StringComparison.Ordinal) && i.Contains("no committed OK withdrawal", StringComparison.Ordinal));
    }

    [Fact]
    public void A_balance_the_cluster_reports_differently_fails_the_money_check()
    {
        var bank = new Bank();
        bank.Balances["b"] = 21;
        Assert.Contains(BankAudit.Run(bank.Snapshot(), []).Issues("money"), i => i.Contains("the cluster reports 21, its log replays to 20", StringComparison.Ordinal));
    }

    [Fact]
    public void An_acknowledged_request_that_is_missing_or_logged_with_another_reply_fails_the_ack_check()
    {
        var acks = new[] { Bank.Acks[0] with { Ok = "99" }, Bank.Acks[1] with { RequestId = "c:404" } };
        var issues = BankAudit.Run(new Bank().Snapshot(), acks).Issues("client acks");
        Assert.Contains(issues, i => i.Contains("c:1", StringComparison.Ordinal) && i.Contains("the log recorded '100'", StringComparison.Ordinal));
        Assert.Contains(issues, i => i.Contains("c:404", StringComparison.Ordinal) && i.Contains("(lost)", StringComparison.Ordinal));
    }

    private static LogRecord Record(long seq, long epoch, TurnRecord turn) =>
        new(seq, epoch, turn.IsPartial ? RecordKind.PartialTurn : RecordKind.Turn, RecordCodec.EncodeTurn(turn));

    private static TurnRecord Turn(string id, string method, string args, string? reply, string? caller = null) =>
        new(id, "c", caller, method, Encoding.UTF8.GetBytes(args), [], reply is null ? ComponentReply.Void : new ComponentReply(Encoding.UTF8.GetBytes(reply)));

    private static OutboundCall Call(int ordinal, OutboundKind kind, string target, string id, string operation, string args, string result) =>
        new(ordinal, kind, target, id, operation, Encoding.UTF8.GetBytes(args), new ComponentReply(Encoding.UTF8.GetBytes(result)));

    /// <summary>The small truthful bank; each test breaks one thing in a copy.</summary>
    private sealed class Bank
    {
        public static readonly ClientAck[] Acks =
        [
            new("c:1", "Account/a", "Deposit", "[100]", "100", null, null),
            new("c:2", "Account/a", "Withdraw", "[30]", "70", null, null),
            new("c:3", "Teller/t", "Transfer", """["a","b",20]""", "1", null, null),
        ];

        private static readonly OutboundCall Post = Call(1, OutboundKind.Backend, "ledger", "Account/a:2:1", "post-withdrawal", "{}", "1");
        private static readonly OutboundCall Debit = Call(1, OutboundKind.Component, "Account/a", "Teller/t:1:1", "Debit", "[20]", "50");
        private static readonly OutboundCall Credit = Call(2, OutboundKind.Component, "Account/b", "Teller/t:1:2", "Deposit", "[20]", "20");

        public List<LogRecord> A { get; } =
        [
            Record(1, 1, Turn("c:1", "Deposit", "[100]", "100")),
            Record(2, 1, Turn("c:2", "Withdraw", "[30]", null) with { TurnSeq = 2, IsPartial = true }),
            // The owner that wrote the partial record died; the next activation (epoch 2) completed the withdrawal.
            Record(3, 2, Turn("c:2", "Withdraw", "[30]", "70") with { TurnSeq = 2, Outbound = [Post] }),
            Record(4, 2, Turn("Teller/t:1:1", "Debit", "[20]", "50", caller: "Teller/t")),
        ];

        public List<LogRecord> B { get; } = [Record(1, 1, Turn("Teller/t:1:2", "Deposit", "[20]", "20", caller: "Teller/t"))];

        public List<LogRecord> T { get; } =
        [
            Record(1, 1, Turn("c:3", "Transfer", """["a","b",20]""", null) with { TurnSeq = 1, IsPartial = true }),
            Record(2, 1, Turn("c:3", "Transfer", """["a","b",20]""", "1") with { TurnSeq = 1, Outbound = [Debit, Credit] }),
        ];

        public List<LedgerRow> Ledger { get; } = [new("Account/a:2:1", "c:2", "a", 30, 70)];

        public Dictionary<string, long> Balances { get; } = new() { ["a"] = 50, ["b"] = 20 };

        public BankSnapshot Snapshot() => new(
            new Dictionary<string, IReadOnlyList<LogRecord>> { ["a"] = A, ["b"] = B },
            new Dictionary<string, IReadOnlyList<LogRecord>> { ["t"] = T },
            Ledger,
            new ClusterReport(Balances, new Dictionary<string, long> { ["t"] = 1 }));
    }
}
