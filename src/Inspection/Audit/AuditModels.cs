namespace Middleware.Inspection.Audit;

/// <summary>Where an audit starts replaying each component.</summary>
public enum AuditMode
{
    /// <summary>From the latest checkpoint (its state hash verified, and that it reads back to itself), as an activation would.</summary>
    FromCheckpoint,

    /// <summary>
    /// From seq 1 (or the earliest checkpoint the truncated log still needs), checking every checkpoint: its bytes against
    /// its hash and against the replayed state, and that they read back to themselves with the current code.
    /// </summary>
    FromGenesis,
}

/// <summary>What kind of difference an audit found.</summary>
public enum DivergenceKind
{
    /// <summary>A turn did not reproduce its recorded reply or nondeterminism (code changed, wall clock read directly, ...).</summary>
    Reply,

    /// <summary>
    /// The replayed state differs from a checkpoint's, or a checkpoint's state no longer deserializes or does not read back
    /// to itself (the state type loses a member: every recovery from it would start from another state).
    /// </summary>
    State,

    /// <summary>A checkpoint's bytes do not match its recorded hash.</summary>
    Checkpoint,

    /// <summary>The log itself is damaged: a gap in seqs, a record this build cannot decode, or missing records.</summary>
    Log,

    /// <summary>
    /// A log record, checkpoint or dedup entry fails its checksum (its bytes or identity changed after it was written), or
    /// a dedup entry disagrees with the log record it was taken from (request id, arguments or reply).
    /// </summary>
    Corrupt,
}

/// <summary>Settings of one audit run.</summary>
public sealed record AuditOptions
{
    /// <summary>Where replay starts (default: the latest checkpoint).</summary>
    public AuditMode Mode { get; init; } = AuditMode.FromCheckpoint;

    /// <summary>How many components are replayed at once (default: one per processor).</summary>
    public int Parallelism { get; init; } = Environment.ProcessorCount;

    /// <summary>Replay only up to this seq (used before truncating); null for the whole log.</summary>
    public long? UpToSeq { get; init; }
}

/// <summary>The first divergence of one component: where, in which turn, and what differed.</summary>
/// <param name="Component">The component id.</param>
/// <param name="Seq">The first diverging seq.</param>
/// <param name="Kind">What differed.</param>
/// <param name="Method">The method of the diverging turn, or "(checkpoint)" / "(log)".</param>
/// <param name="Args">The JSON arguments of the diverging turn; empty when the divergence is not a turn's.</param>
/// <param name="Expected">What the log or checkpoint recorded.</param>
/// <param name="Actual">What the replay produced.</param>
public sealed record Divergence(string Component, long Seq, DivergenceKind Kind, string Method, ReadOnlyMemory<byte> Args, string Expected, string Actual);

/// <summary>
/// A turn in doubt the audit met: partial records of <see cref="RequestId"/> from <see cref="Seq"/> on, and no final
/// record. <see cref="PassedBy"/> is null when the partial records are the end of the log (the turn is pending: the
/// component's next activation completes it first); otherwise it says what was recorded after it while it stayed in doubt
/// (another request's turn, a fence, a checkpoint): a history the runtime no longer writes, since a turn in doubt is
/// completed before anything else, and one in which the turn's outbound calls may have taken effect with no record of
/// their outcome.
/// </summary>
/// <param name="Component">The component id.</param>
/// <param name="RequestId">The request whose turn is in doubt.</param>
/// <param name="Seq">The seq of its first partial record (its outbound ids are built from it).</param>
/// <param name="Method">The method of the turn.</param>
/// <param name="PassedBy">What was recorded after it, or null when it is pending at the end of the log.</param>
public sealed record InDoubtTurn(string Component, string RequestId, long Seq, string Method, string? PassedBy)
{
    /// <summary>True when the turn is in doubt at the end of the log (normal while its owner completes it).</summary>
    public bool Pending => PassedBy is null;
}

/// <summary>The outcome for one component.</summary>
/// <param name="Component">The component id.</param>
/// <param name="FromSeq">The first seq replayed.</param>
/// <param name="ToSeq">The last seq audited.</param>
/// <param name="Turns">Turns replayed without divergence.</param>
/// <param name="Divergence">The first divergence, or null when clean.</param>
/// <param name="Skipped">Why the component could not be audited (its type is not in the assembly), or null.</param>
public sealed record ComponentAudit(string Component, long FromSeq, long ToSeq, long Turns, Divergence? Divergence, string? Skipped)
{
    /// <summary>Turns in doubt met in the audited records, in seq order.</summary>
    public IReadOnlyList<InDoubtTurn> InDoubt { get; init; } = [];

    /// <summary>Log records, checkpoints and dedup entries read whose checksum matched.</summary>
    public long Verified { get; init; }

    /// <summary>Log records, checkpoints and dedup entries read that carry no checksum (written before checksums): readable, not verifiable.</summary>
    public long Unverified { get; init; }

    /// <summary>Dedup entries compared with the log record they were taken from (those whose record is still in the audited log).</summary>
    public long DedupChecked { get; init; }
}

/// <summary>The outcome of an audit run.</summary>
public sealed record AuditResult(AuditMode Mode, IReadOnlyList<ComponentAudit> Components, TimeSpan Elapsed)
{
    /// <summary>Turns replayed across all components.</summary>
    public long Turns => Components.Sum(c => c.Turns);

    /// <summary>Every divergence, in component id order.</summary>
    public IReadOnlyList<Divergence> Divergences => Components.Where(c => c.Divergence is not null).Select(c => c.Divergence!).ToList();

    /// <summary>Components that could not be audited.</summary>
    public IReadOnlyList<ComponentAudit> Skipped => Components.Where(c => c.Skipped is not null).ToList();

    /// <summary>Every turn in doubt met, pending or passed over, in component id order.</summary>
    public IReadOnlyList<InDoubtTurn> InDoubt => Components.SelectMany(c => c.InDoubt).ToList();

    /// <summary>Turns in doubt that later records passed over: histories that lost a turn's outcome.</summary>
    public IReadOnlyList<InDoubtTurn> PassedOver => Components.SelectMany(c => c.InDoubt).Where(t => !t.Pending).ToList();

    /// <summary>Records, checkpoints and dedup entries whose checksum matched, across all components.</summary>
    public long Verified => Components.Sum(c => c.Verified);

    /// <summary>Records, checkpoints and dedup entries without a checksum (written before checksums), across all components.</summary>
    public long Unverified => Components.Sum(c => c.Unverified);

    /// <summary>Dedup entries cross-checked against their log records, across all components.</summary>
    public long DedupChecked => Components.Sum(c => c.DedupChecked);

    /// <summary>Turns per second over the whole run.</summary>
    public double TurnsPerSecond => Elapsed.TotalSeconds > 0 ? Turns / Elapsed.TotalSeconds : 0;
}

/// <summary>Counters an audit updates as it goes, read by the progress bar from another thread.</summary>
public sealed class AuditProgress
{
    private long _turns;
    private long _components;

    /// <summary>Turns replayed so far.</summary>
    public long Turns => Interlocked.Read(ref _turns);

    /// <summary>Components finished so far.</summary>
    public long Components => Interlocked.Read(ref _components);

    internal void AddTurns(long n) => Interlocked.Add(ref _turns, n);

    internal void ComponentDone() => Interlocked.Increment(ref _components);
}
