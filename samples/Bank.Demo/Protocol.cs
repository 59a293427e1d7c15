using System.Globalization;

namespace Bank.Demo;

/// <summary>What a request asks an account to do.</summary>
public enum OperationKind
{
    /// <summary><c>IAccount.Deposit</c>.</summary>
    Deposit,

    /// <summary><c>IAccount.Withdraw</c>.</summary>
    Withdraw,

    /// <summary><c>IAccount.Balance</c> (read-only, not logged).</summary>
    Balance,

    /// <summary><c>IAccount.Debit</c>: what a teller sends to the account a transfer takes money from.</summary>
    Debit,
}

/// <summary>
/// One request of the line protocol between a driver and a host process. A retry sends the very same
/// request (same id, operation and amount), which is what makes it exactly-once.
/// </summary>
/// <remarks>Wire form: <c>D &lt;id&gt; &lt;account&gt; &lt;amount&gt;</c>, <c>W ...</c>, <c>X ...</c> (debit), <c>B &lt;id&gt; &lt;account&gt;</c>.
/// Ids and account names must not contain spaces.</remarks>
public sealed record HostRequest(string RequestId, OperationKind Kind, string Account, long Amount = 0)
{
    /// <summary>The protocol line (without newline).</summary>
    public string ToLine() => Kind switch
    {
        OperationKind.Deposit => $"D {RequestId} {Account} {Amount.ToString(CultureInfo.InvariantCulture)}",
        OperationKind.Withdraw => $"W {RequestId} {Account} {Amount.ToString(CultureInfo.InvariantCulture)}",
        OperationKind.Debit => $"X {RequestId} {Account} {Amount.ToString(CultureInfo.InvariantCulture)}",
        _ => $"B {RequestId} {Account}",
    };

    /// <summary>Parses a request line; throws <see cref="FormatException"/> naming what is wrong.</summary>
    public static HostRequest Parse(string line)
    {
        var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var kind = parts.Length > 0 ? parts[0] : string.Empty;
        return (kind, parts.Length) switch
        {
            ("D", 4) => new HostRequest(parts[1], OperationKind.Deposit, parts[2], ParseAmount(parts[3], line)),
            ("W", 4) => new HostRequest(parts[1], OperationKind.Withdraw, parts[2], ParseAmount(parts[3], line)),
            ("X", 4) => new HostRequest(parts[1], OperationKind.Debit, parts[2], ParseAmount(parts[3], line)),
            ("B", 3) => new HostRequest(parts[1], OperationKind.Balance, parts[2]),
            _ => throw new FormatException($"Cannot parse request line '{line}': expected 'D|W|X <id> <account> <amount>' or 'B <id> <account>'."),
        };
    }

    private static long ParseAmount(string text, string line) =>
        long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var amount)
            ? amount
            : throw new FormatException($"Cannot parse the amount '{text}' in request line '{line}'.");
}

/// <summary>How a host answered a request.</summary>
public enum ReplyKind
{
    /// <summary>The turn succeeded; <see cref="HostReply.Balance"/> is its result. An acknowledged outcome.</summary>
    Ok,

    /// <summary>The turn threw (e.g. an overdraft); the error is recorded. Also an acknowledged outcome.</summary>
    Error,

    /// <summary>The engine could not make the turn durable; nothing is acknowledged, retry with the same id.</summary>
    Fail,
}

/// <summary>
/// One reply line: <c>OK &lt;id&gt; &lt;balance&gt;</c>, <c>ERR &lt;id&gt; &lt;errorType&gt; &lt;message&gt;</c>
/// or <c>FAIL &lt;id&gt; &lt;message&gt;</c>.
/// </summary>
public sealed record HostReply(string RequestId, ReplyKind Kind, long Balance = 0, string? ErrorType = null, string? Message = null)
{
    /// <summary>True for replies that are outcomes of the request (OK and ERR); FAIL is not.</summary>
    public bool IsAcknowledged => Kind != ReplyKind.Fail;

    /// <summary>The protocol line (without newline); messages are flattened to one line.</summary>
    public string ToLine() => Kind switch
    {
        ReplyKind.Ok => $"OK {RequestId} {Balance.ToString(CultureInfo.InvariantCulture)}",
        ReplyKind.Error => $"ERR {RequestId} {ErrorType} {OneLine(Message)}",
        _ => $"FAIL {RequestId} {OneLine(Message)}",
    };

    /// <summary>Parses a reply line, or returns null when the line is not a reply (e.g. READY).</summary>
    public static HostReply? TryParse(string line)
    {
        var parts = line.Split(' ', 4);
        if (parts.Length < 2) return null;
        return parts[0] switch
        {
            "OK" when parts.Length == 3 && long.TryParse(parts[2], NumberStyles.Integer, CultureInfo.InvariantCulture, out var balance)
                => new HostReply(parts[1], ReplyKind.Ok, balance),
            "ERR" when parts.Length >= 3 => new HostReply(parts[1], ReplyKind.Error, 0, parts[2], parts.Length == 4 ? parts[3] : string.Empty),
            "FAIL" => new HostReply(parts[1], ReplyKind.Fail, 0, null, line.Split(' ', 3) is { Length: 3 } p ? p[2] : string.Empty),
            _ => null,
        };
    }

    /// <summary>True when two replies carry the same outcome (same balance, or same error).</summary>
    public bool SameOutcome(HostReply other) =>
        Kind == other.Kind && Balance == other.Balance && ErrorType == other.ErrorType && (Message ?? string.Empty) == (other.Message ?? string.Empty);

    /// <inheritdoc />
    public override string ToString() => ToLine();

    private static string OneLine(string? text) => (text ?? string.Empty).Replace('\r', ' ').Replace('\n', ' ');
}

/// <summary>A request and the reply that acknowledged it (OK or ERR).</summary>
public sealed record Acknowledged(HostRequest Request, HostReply Reply);
