namespace Middleware.Inspection.Audit;

/// <summary>An <see cref="AuditResult"/> as the JSON document <c>mw audit --json</c> writes and the dashboard shows.</summary>
public static class AuditShapes
{
    /// <summary>The JSON document of an audit (shape pinned by tests and documented in docs/admin.md).</summary>
    public static AuditShape Shape(AuditResult r)
    {
        ArgumentNullException.ThrowIfNull(r);
        return new(
            r.Mode == AuditMode.FromGenesis ? "genesis" : "checkpoint",
            r.Divergences.Count == 0 && r.Skipped.Count == 0 && r.PassedOver.Count == 0,
            r.Components.Count,
            r.Turns,
            r.Divergences.Count,
            r.Skipped.Count,
            Math.Round(r.Elapsed.TotalSeconds, 3),
            Math.Round(r.TurnsPerSecond),
            r.Divergences.Select(d => new DivergenceShape(d.Component, d.Seq, Kind(d.Kind), d.Method, d.Args.IsEmpty ? null : RecordShapes.Json(d.Args), d.Expected, d.Actual)).ToList(),
            r.Skipped.Select(s => new SkippedShape(s.Component, s.Skipped!)).ToList(),
            r.InDoubt.Select(t => new InDoubtShape(t.Component, t.RequestId, t.Seq, t.Method, t.Pending ? "pending" : "passedOver", t.PassedBy)).ToList())
        {
            Verified = r.Verified,
            Unverified = r.Unverified,
            DedupChecked = r.DedupChecked,
        };
    }

    /// <summary>A divergence kind as the JSON writes it (lower case).</summary>
    public static string Kind(DivergenceKind kind) => kind.ToString().ToLowerInvariant();
}
