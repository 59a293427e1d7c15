namespace Bank.Demo;

/// <summary>
/// Checks the external ledger against the acknowledged requests: every withdrawal acknowledged as OK has
/// exactly one ledger row with its amount, and no other request has any.
/// </summary>
public static class LedgerVerifier
{
    /// <summary>(missing, doubled, discrepancies) of the ledger for the acknowledged requests.</summary>
    public static (int Missing, int Doubled, List<string> Issues) Verify(IEnumerable<Acknowledged> acknowledged, IReadOnlyList<LedgerBackend.Entry> entries)
    {
        var rows = entries.GroupBy(e => e.RequestId, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);
        var issues = new List<string>();
        int missing = 0, doubled = 0;
        var expected = new HashSet<string>(StringComparer.Ordinal);
        foreach (var a in acknowledged.Where(a => a.Request.Kind == OperationKind.Withdraw && a.Reply.Kind == ReplyKind.Ok))
        {
            expected.Add(a.Request.RequestId);
            if (!rows.TryGetValue(a.Request.RequestId, out var found))
            {
                missing++;
                issues.Add($"ledger: withdrawal {a.Request.RequestId} of {a.Request.Amount} from {a.Request.Account} was acknowledged but has no ledger row");
                continue;
            }

            if (found.Count > 1)
            {
                doubled++;
                issues.Add($"ledger: withdrawal {a.Request.RequestId} has {found.Count} ledger rows ({string.Join(", ", found.Select(f => f.EntryId))})");
            }

            if (found.Any(f => f.Amount != a.Request.Amount || f.Account != a.Request.Account))
                issues.Add($"ledger: withdrawal {a.Request.RequestId} was {a.Request.Amount} from {a.Request.Account}, the ledger says {string.Join(", ", found.Select(f => $"{f.Amount} from {f.Account}"))}");
        }

        foreach (var (request, found) in rows.Where(r => !expected.Contains(r.Key)))
        {
            doubled += found.Count;
            issues.Add($"ledger: {found.Count} row(s) for request {request}, which was not an acknowledged withdrawal");
        }

        return (missing, doubled, issues);
    }
}
