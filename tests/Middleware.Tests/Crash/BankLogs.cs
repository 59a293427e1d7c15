using System.Text.Json;
using Bank.Demo;
using Middleware.Core;
using Middleware.Recovery.Log;
using Middleware.Recovery.Runtime;
using Xunit.Abstractions;

namespace Middleware.Tests.Crash;

/// <summary>The final turn records of a <see cref="BankSnapshot"/>, decoded and indexed for <see cref="BankAudit"/>.</summary>
internal sealed class BankLogs
{
    /// <summary>One final turn record (not partial, not a fence) of a component.</summary>
    public sealed record Entry(string Component, long Seq, long Epoch, TurnRecord Turn);

    /// <summary>Final turns of each account (by key), in seq order.</summary>
    public Dictionary<string, List<Entry>> Accounts { get; } = new(StringComparer.Ordinal);

    /// <summary>Final turns of each teller (by key), in seq order.</summary>
    public Dictionary<string, List<Entry>> Tellers { get; } = new(StringComparer.Ordinal);

    /// <summary>Every final turn by request id, across all components.</summary>
    public Dictionary<string, List<Entry>> ByRequest { get; } = new(StringComparer.Ordinal);

    /// <summary>Every final turn.</summary>
    public List<Entry> All { get; } = [];

    /// <summary>Each account's balance as its log replays (filled by the replay check).</summary>
    public Dictionary<string, long> Balances { get; } = new(StringComparer.Ordinal);

    /// <summary>Each teller's committed OK transfers (filled by the replay check).</summary>
    public Dictionary<string, long> Transfers { get; } = new(StringComparer.Ordinal);

    /// <summary>Final turns whose first partial record carries an older epoch: a new owner completed them (they were in doubt).</summary>
    public int CompletedByLaterEpoch { get; private set; }

    /// <summary>Partial records in the logs.</summary>
    public int Partials { get; private set; }

    /// <summary>
    /// Each final turn that had a partial record: when its first partial record and its final record were committed (UTC,
    /// the store's clock). A turn whose partial was committed before an outage and whose final record after it was in
    /// doubt through the outage.
    /// </summary>
    public List<(DateTime Started, DateTime Finished)> PartialToFinal { get; } = [];

    /// <summary>Decodes every log; a gap in the seqs, an epoch that goes back or an undecodable record goes to <paramref name="issues"/>.</summary>
    public static BankLogs Decode(BankSnapshot snapshot, List<string> issues)
    {
        var logs = new BankLogs();
        foreach (var (key, records) in snapshot.Accounts) logs.Accounts[key] = logs.Walk(LogVerifier.Component(key), records, issues);
        foreach (var (key, records) in snapshot.Tellers) logs.Tellers[key] = logs.Walk(LogVerifier.TellerComponent(key), records, issues);
        return logs;
    }

    /// <summary>The first argument of an account turn (its amount).</summary>
    public static long Amount(TurnRecord turn)
    {
        using var doc = JsonDocument.Parse(turn.Args);
        return doc.RootElement[0].GetInt64();
    }

    private List<Entry> Walk(string component, IReadOnlyList<LogRecord> records, List<string> issues)
    {
        var finals = new List<Entry>();
        var partialEpochs = new Dictionary<long, long>();
        var partialTimes = new Dictionary<long, long>();
        long epoch = 0;
        for (var i = 0; i < records.Count; i++)
        {
            var record = records[i];
            if (record.Seq != i + 1) issues.Add($"{component}: record {i + 1} of the log has seq {record.Seq} (a gap or a rewrite)");
            // A resumed stale owner must never append after a newer owner did: epochs only grow along a log.
            if (record.Epoch < epoch) issues.Add($"{component} seq {record.Seq}: written with epoch {record.Epoch} after epoch {epoch} had written (a stale owner wrote)");
            epoch = Math.Max(epoch, record.Epoch);
            if (record.Kind is not (RecordKind.Turn or RecordKind.PartialTurn)) continue;
            TurnRecord turn;
            try
            {
                turn = RecordCodec.DecodeTurn(record.Payload);
            }
            catch (Exception e) when (e is FormatException or InvalidDataException or ArgumentException or JsonException)
            {
                issues.Add($"{component} seq {record.Seq}: cannot be decoded ({e.Message})");
                continue;
            }

            if (record.Kind == RecordKind.PartialTurn)
            {
                Partials++;
                partialEpochs.TryAdd(record.Seq, record.Epoch);
                partialTimes.TryAdd(record.Seq, record.CommittedAtTicks);
                continue;
            }

            if (turn.IsPartial || RequestOutcome.IsFenced(turn.Reply)) continue;
            if (turn.TurnSeq > 0 && partialEpochs.TryGetValue(turn.TurnSeq, out var startedIn) && startedIn < record.Epoch) CompletedByLaterEpoch++;
            if (turn.TurnSeq > 0 && partialTimes.TryGetValue(turn.TurnSeq, out var startedAt))
                PartialToFinal.Add((new DateTime(startedAt, DateTimeKind.Utc), new DateTime(record.CommittedAtTicks, DateTimeKind.Utc)));
            var entry = new Entry(component, record.Seq, record.Epoch, turn);
            finals.Add(entry);
            All.Add(entry);
            if (!ByRequest.TryGetValue(turn.RequestId, out var list)) ByRequest[turn.RequestId] = list = [];
            list.Add(entry);
        }

        return finals;
    }
}

/// <summary>What <see cref="BankAudit"/> found: one summary line and a list of issues per check.</summary>
internal sealed class BankAuditReport
{
    private readonly List<(string Check, string Summary)> _summaries = [];
    private readonly Dictionary<string, List<string>> _issues = new(StringComparer.Ordinal);

    /// <summary>Overall figures (turns, completions after a crash).</summary>
    public string Stats { get; set; } = "";

    /// <summary>Final turns whose first partial record carries an older epoch (<see cref="BankLogs.CompletedByLaterEpoch"/>).</summary>
    public int CompletedByLaterEpoch { get; set; }

    /// <summary>When each final turn with a partial record started and finished (<see cref="BankLogs.PartialToFinal"/>).</summary>
    public IReadOnlyList<(DateTime Started, DateTime Finished)> PartialToFinal { get; set; } = [];

    /// <summary>True when no check found an issue.</summary>
    public bool Passed => _issues.Values.All(i => i.Count == 0);

    /// <summary>The issue list of <paramref name="check"/>, created on first use.</summary>
    public List<string> Issues(string check)
    {
        if (!_issues.TryGetValue(check, out var list)) _issues[check] = list = [];
        return list;
    }

    /// <summary>Records the summary of <paramref name="check"/> (its issues are counted when printed).</summary>
    public void Summary(string check, string text) => _summaries.Add((check, text));

    /// <summary>One line per check (OK, or the number of issues), then the figures.</summary>
    public IEnumerable<string> Lines() =>
        _summaries.Select(s => $"audit {s.Check}: {(Issues(s.Check).Count == 0 ? "OK" : $"FAILED ({Issues(s.Check).Count} issues)")}: {s.Summary}").Append($"audit {Stats}");

    /// <summary>Prints <see cref="Lines"/> and the first issues to the test output.</summary>
    public void WriteTo(ITestOutputHelper output)
    {
        foreach (var line in Lines()) output.WriteLine(line);
        foreach (var issue in AllIssues().Take(40)) output.WriteLine("  " + issue);
    }

    /// <summary>The failure message: the summary lines and the first issues.</summary>
    public string Describe() => string.Join('\n', Lines().Concat(AllIssues().Take(40)));

    private IEnumerable<string> AllIssues() => _issues.SelectMany(i => i.Value.Select(v => $"[{i.Key}] {v}"));
}
