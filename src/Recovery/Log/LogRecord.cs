using Middleware.Core;

namespace Middleware.Recovery.Log;

/// <summary>What kind of entry a log row holds. The numeric values are stored; never renumber them.</summary>
public enum RecordKind : byte
{
    /// <summary>A turn: one request executed on the component (payload: <see cref="TurnRecord"/>).</summary>
    Turn = 1,

    /// <summary>A partial turn forced before an outbound call (payload: <see cref="TurnRecord"/> with IsPartial).</summary>
    PartialTurn = 2,

    /// <summary>
    /// A request id declared not committed by an outcome query (payload: <see cref="FenceRecord"/>): the request can
    /// never run on this component afterwards. Not a turn: replay skips it, apart from remembering the id.
    /// </summary>
    Fence = 3,

    /// <summary>
    /// An operator's or a silo's decision about the component (payload: <see cref="ControlRecord"/>): quarantined,
    /// released, reset to an earlier seq, or a change of behaviour accepted. Not a turn: recorded so that audits and
    /// every later owner see why the history looks as it does.
    /// </summary>
    Control = 4,
}

/// <summary>What a <see cref="RecordKind.Control"/> record decides. Stored; never renumber.</summary>
public enum ControlAction : byte
{
    /// <summary>The component must not activate (with the code named by <see cref="ControlRecord.CodeVersion"/>, or any code when null).</summary>
    Quarantine = 1,

    /// <summary>An earlier quarantine is lifted: the next activation replays the log again.</summary>
    Release = 2,

    /// <summary>The records after <see cref="ControlRecord.Seq"/> are superseded; a checkpoint at this record's seq holds the state replayed to it.</summary>
    Reset = 3,

    /// <summary>From <see cref="ControlRecord.Seq"/> on, what the current code produces is adopted; a checkpoint at this record's seq holds it.</summary>
    Accept = 4,
}

/// <summary>The payload of a <see cref="RecordKind.Control"/> row.</summary>
/// <param name="Action">What was decided.</param>
/// <param name="By">Who decided (a silo id, or <c>mw@host</c> with the operator's user name).</param>
/// <param name="Reason">Why, in words (the failure that quarantined it, or what the operator gave).</param>
/// <param name="AtTicks">When, UTC ticks of the deciding process's clock.</param>
/// <param name="CodeVersion">The code the decision is about (the component assembly's module version id), or null for any.</param>
/// <param name="Seq">The seq a reset goes back to, or the first seq an accept adopts; 0 otherwise.</param>
public sealed record ControlRecord(ControlAction Action, string By, string Reason, long AtTicks, string? CodeVersion, long Seq);

/// <summary>
/// The payload of a <see cref="RecordKind.Fence"/> row: the request id an outcome query answered "not committed"
/// for. A later invocation with this id (any arguments) is refused with <c>RequestOutcome.FencedErrorType</c>.
/// </summary>
public sealed record FenceRecord(string RequestId);

/// <summary>
/// One row of a component's log as the store keeps it: the columns the store needs for fencing and
/// ordering, and an opaque payload that <see cref="RecordCodec"/> encodes and decodes.
/// </summary>
/// <param name="Seq">Gapless per component, from 1.</param>
/// <param name="Epoch">The ownership epoch of the activation that wrote it.</param>
/// <param name="Kind">What the payload holds.</param>
/// <param name="Payload">The encoded record (versioned; see the record table in src/Recovery/README.md).</param>
/// <param name="CommittedAtTicks">UTC ticks assigned by the store at group commit; 0 before commit.</param>
public sealed record LogRecord(long Seq, long Epoch, RecordKind Kind, ReadOnlyMemory<byte> Payload, long CommittedAtTicks = 0)
{
    /// <summary>
    /// What the store's read found of the record's checksum (<see cref="RecordChecksum"/>): verified, unverified (written
    /// before checksums), or corrupt (only from <c>ILogStore.ReadCheckedAsync</c>: every other read refuses it).
    /// </summary>
    public ChecksumStatus Checksum { get; init; }

    /// <summary>
    /// The array <see cref="Payload"/> was encoded into after <see cref="RecordChecksum.HeaderLength"/> reserved bytes (the
    /// live turn's final record), or null. The store's seal writes its header into those bytes and stores the whole array
    /// instead of copying the payload; it does so only while <see cref="Payload"/> is still exactly that array after the
    /// reserved bytes (a <c>with</c> that replaces the payload keeps this reference but no longer matches it).
    /// </summary>
    internal byte[]? SealRoom { get; init; }
}

/// <summary>
/// The state of a component serialized at a seq: canonical JSON bytes and their SHA-256 hash, so a replay
/// that reaches the same seq can prove it rebuilt the same state.
/// </summary>
public sealed record CheckpointRecord(long Seq, long Epoch, ReadOnlyMemory<byte> State, string StateHash, long CreatedAtTicks = 0)
{
    /// <summary>
    /// Request ids of the turns since the previous checkpoint, with their replies. The store keeps them
    /// in its dedup table so a repeat is still answered after the log before this checkpoint is truncated
    /// and after the activation's memory of them is dropped.
    /// </summary>
    public IReadOnlyList<DedupEntry> Dedup { get; init; } = [];

    /// <summary>What the store's read found of the checkpoint's checksum: verified, or unverified (written before checksums).</summary>
    public ChecksumStatus Checksum { get; init; }
}

/// <summary>A request id remembered with the reply it got, the turn it ran in and a hash of its arguments.</summary>
public sealed record DedupEntry(string RequestId, long Seq, long ArgsHash, ReadOnlyMemory<byte> Reply)
{
    /// <summary>
    /// The <see cref="ArgsHash"/> of an entry that matches any method and arguments: a fenced request id, refused
    /// whatever it is sent with.
    /// </summary>
    public const long AnyArgs = 0;

    /// <summary>
    /// What the store's read found of the entry's checksum: verified, unverified (written before checksums), or corrupt
    /// (only from <c>ILogStore.ListDedupAsync</c>: a lookup refuses it).
    /// </summary>
    public ChecksumStatus Checksum { get; init; }
}

/// <summary>Ownership and log head of one component, as the store knows them.</summary>
/// <param name="Epoch">Ownership generation; 0 when the component was never claimed.</param>
/// <param name="Owner">The owner's id (a runtime or silo id), or null.</param>
/// <param name="LastSeq">The highest durable seq, 0 for an empty log.</param>
/// <param name="CheckpointSeq">The seq of the latest checkpoint, 0 when none.</param>
public sealed record ComponentHead(string ComponentId, long Epoch, string? Owner, long LastSeq, long CheckpointSeq);

/// <summary>Records (and optionally a checkpoint) of one component to append, fenced by epoch.</summary>
/// <param name="ComponentId">The component id text, <c>Type/key</c>.</param>
/// <param name="Epoch">The writer's epoch; the group is refused unless it equals the stored epoch.</param>
/// <param name="Records">Consecutive records; the first seq must be the stored last seq + 1.</param>
/// <param name="Checkpoint">A checkpoint at a seq no later than the last record of this group, or null.</param>
public sealed record AppendGroup(string ComponentId, long Epoch, IReadOnlyList<LogRecord> Records, CheckpointRecord? Checkpoint = null)
{
    /// <summary>
    /// A claim decided first, in the same transaction (<see cref="Storage.ILogStore.AppendClaimingAsync"/>, only where the store
    /// says <see cref="Storage.ILogStore.SupportsClaimInAppend"/>): the group is written only when the claim succeeds, so
    /// an activation's first write and its claim are one commit. Null for an ordinary group.
    /// </summary>
    public Storage.AppendClaim? Claim { get; init; }

    /// <summary>
    /// Indexes of earlier groups of the same append call that this group depends on (only where the store says
    /// <see cref="Storage.ILogStore.SupportsGroupDependencies"/>): the group is written only when every one of them was
    /// written (<see cref="AppendStatus.Ok"/>) in this transaction; otherwise it is <see cref="AppendStatus.Fenced"/> and
    /// nothing of it (nor its claim) is written. The group-commit writer sets it for the record of a turn called from a
    /// turn whose partial record rides in the same transaction. Null (the default) for an independent group.
    /// </summary>
    public IReadOnlyList<int>? DependsOn { get; init; }
}

/// <summary>Why a group was not written.</summary>
public enum AppendStatus
{
    /// <summary>Written and durable.</summary>
    Ok,

    /// <summary>The stored epoch differs from the group's: another activation owns the component now.</summary>
    Fenced,

    /// <summary>The first seq does not follow the stored last seq (a gap or a rewrite).</summary>
    SeqConflict,
}
