using System.Text.Json;
using System.Text.Json.Serialization;

namespace Middleware.Inspection;

/// <summary>
/// The JSON documents <c>mw --json</c> writes. Property names are these names in camelCase; they are part
/// of the tool's contract (documented in docs/admin.md, pinned by tests), so rename nothing.
/// </summary>
public static class JsonShapes
{
    /// <summary>camelCase, indented, nulls written (a missing value is explicit).</summary>
    public static JsonSerializerOptions Options { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };
}

/// <summary>One component as <c>components list/show</c> report it.</summary>
public sealed record ComponentShape(string Id, string Type, string? Owner, long Epoch, long LastSeq, long CheckpointSeq, DateTime? LastActivity);

/// <summary><c>components list</c>.</summary>
public sealed record ComponentListShape(IReadOnlyList<ComponentShape> Components);

/// <summary>A recorded nondeterministic value: kind (utcNow, guid, randomSeed) and its value as text.</summary>
public sealed record RecordedValueShape(string Kind, string Value);

/// <summary>A recorded error reply.</summary>
public sealed record ErrorShape(string Type, string Message);

/// <summary>
/// One decoded log record. <c>kind</c> is the record kind in camelCase (<c>turn</c>, <c>partialTurn</c>, <c>fence</c>);
/// <c>reply</c> is the result JSON (null for void, error, or a record without a reply), <c>error</c> is set for an error
/// reply. A <c>fence</c> record has the fenced request id, method <c>(fence)</c>, no arguments, and as its error the one
/// every later arrival of that id gets.
/// </summary>
public sealed record LogRecordShape(
    long Seq, string Kind, long Epoch, DateTime CommittedAt, string RequestId, string? SessionId, string? Caller, string Method,
    JsonElement Args, IReadOnlyList<RecordedValueShape> Recorded, long TurnSeq, IReadOnlyList<OutboundShape> Outbound, JsonElement? Reply, ErrorShape? Error)
{
    /// <summary>
    /// <c>verified</c> (its checksum matches), <c>unverified</c> (written before checksums), <c>corrupt</c> (its checksum
    /// does not match: nothing of it is shown but its columns) or <c>undecodable</c> (unverified and unreadable).
    /// </summary>
    public string Checksum { get; init; } = "verified";
}

/// <summary>An outbound call a turn made: back end, deterministic request id, procedure, arguments and outcome.</summary>
public sealed record OutboundShape(int Ordinal, string Target, string RequestId, string Operation, JsonElement Args, JsonElement? Result, ErrorShape? Error);

/// <summary><c>log</c>: the records of one component in seq order.</summary>
public sealed record LogShape(string Component, long FirstSeq, long LastSeq, IReadOnlyList<LogRecordShape> Records);

/// <summary><c>state</c>: the state after turn <c>seq</c>, rebuilt from the checkpoint at <c>checkpointSeq</c>.</summary>
public sealed record StateShape(string Component, long Seq, long CheckpointSeq, DateTime? CommittedAt, JsonElement State)
{
    /// <summary>How many turns were replayed after the checkpoint (for people; not in the JSON).</summary>
    [JsonIgnore]
    public int ReplayedTurns { get; init; }
}

/// <summary>One divergence found by an audit.</summary>
public sealed record DivergenceShape(string Component, long Seq, string Kind, string Method, JsonElement? Args, string Expected, string Actual);

/// <summary>A component the audit could not replay (its type is not in the assembly).</summary>
public sealed record SkippedShape(string Component, string Reason);

/// <summary>
/// A turn in doubt the audit met: <c>state</c> is <c>pending</c> (its partial records end the log: the owner completes it
/// before anything else) or <c>passedOver</c> (<c>passedBy</c> names what was recorded after it while it stayed in doubt:
/// a history that lost the outcome of calls that may have taken effect).
/// </summary>
public sealed record InDoubtShape(string Component, string RequestId, long Seq, string Method, string State, string? PassedBy);

/// <summary><c>audit</c>: the summary, then every divergence, every skipped component, and every turn in doubt.</summary>
public sealed record AuditShape(
    string Mode, bool Clean, int Components, long Turns, int Divergent, int Skipped, double Seconds, double TurnsPerSecond,
    IReadOnlyList<DivergenceShape> Divergences, IReadOnlyList<SkippedShape> SkippedComponents, IReadOnlyList<InDoubtShape> InDoubt)
{
    /// <summary>Records, checkpoints and dedup entries whose checksum matched.</summary>
    public long Verified { get; init; }

    /// <summary>Records, checkpoints and dedup entries without a checksum (written before checksums): read, not verified, never called corrupt.</summary>
    public long Unverified { get; init; }

    /// <summary>Dedup entries compared with the log record they were taken from.</summary>
    public long DedupChecked { get; init; }
}

/// <summary><c>checkpoint</c>: the checkpoint now latest and the epoch the tool claimed to write it.</summary>
public sealed record CheckpointShape(string Component, long CheckpointSeq, long LastSeq, long Epoch);

/// <summary><c>truncate</c>: records deleted before seq <c>before</c>.</summary>
public sealed record TruncateShape(string Component, long Before, long Deleted, long CheckpointSeq, bool Forced);

/// <summary><c>db migrate</c> / <c>db verify</c>.</summary>
public sealed record SchemaShape(string Store, int SchemaVersion, int ExpectedVersion, bool UpToDate, IReadOnlyList<string> Scripts);

/// <summary><c>dev generate</c>: what was written and how fast.</summary>
public sealed record GenerateShape(string Store, int Accounts, long Turns, double Seconds, double TurnsPerSecond);

/// <summary>
/// One silo in <c>cluster status</c>. <c>status</c> is <c>live</c> (active and heartbeating within its window),
/// <c>dead</c> (missed its window) or <c>left</c> (shut down gracefully); ages and windows are in seconds, by the
/// store's clock. The spread: <c>rendezvousShare</c> is how many of the store's components rendezvous hashing over the
/// live silos places on this silo (where rebalancing moves them; null for a silo that is not live), <c>misplaced</c>
/// how many of those it owns belong elsewhere by that rule (rebalancing is moving them, or they are idle and move when
/// they next activate).
/// </summary>
public sealed record SiloShape(
    string SiloId, string Address, string? HttpAddress, string Status, double HeartbeatAgeSeconds, double DeadAfterSeconds,
    int Activations, int ComponentsOwned, DateTime JoinedAt, SiloMirrorShape? Mirror, int? RendezvousShare = null, int Misplaced = 0);

/// <summary>
/// A live silo's mirror load in <c>cluster status</c> (null for a silo that is not live). From its answer to
/// <c>$mirror.list</c>: <c>standbys</c> it keeps for components other silos own, how many of them <c>diverged</c>, and the
/// largest lag among them in records (the log's last seq minus the standby's applied seq) and in ms (the age of the oldest
/// record a standby has not applied; 0 when all caught up). From its <c>/metrics</c>: <c>mirroredComponents</c>, its live
/// activations of mirrored types (the components it owns and ships to their mirrors), and <c>lastShipLagMs</c>, the
/// largest commit-to-acknowledgement time of the last shipment to each of its mirrors. A value that could not be read is
/// null, and <c>error</c> says why.
/// </summary>
public sealed record SiloMirrorShape(int? Standbys, int? Diverged, long? MaxLagRecords, double? MaxLagMs, int? MirroredComponents, double? LastShipLagMs, string? Error);

/// <summary>
/// <c>cluster status</c>: the silos (live first), how many are live, and how many components the store knows and how
/// many of them no live silo owns (they are placed on a live silo at their next request). <c>noMirror</c> says why no
/// component can have a mirror (fewer than two live silos), or is null. <c>misplaced</c>: components owned by a live silo
/// other than their rendezvous owner among the live silos (the sum of the silos' <c>misplaced</c>).
/// </summary>
public sealed record ClusterStatusShape(string Store, int Live, int Total, int Components, int ComponentsWithoutLiveOwner, string? NoMirror, IReadOnlyList<SiloShape> Silos, int Misplaced = 0);

/// <summary>
/// One standby in <c>mirrors</c>, or a component without one (<c>mirror</c> null, when a component id was asked about).
/// <c>owner</c> is the store's; <c>mirror</c> the live silo keeping the standby; <c>expectedMirror</c> where placement puts
/// it (the top rendezvous choice among the live silos other than the owner; null when the owner is not live);
/// <c>shippedBy</c> the silo the standby takes records from; <c>appliedSeq</c> the last seq it applied against the log's
/// <c>lastSeq</c>; <c>lagRecords</c> the difference and <c>lagMs</c> the age of the oldest record it has not applied (0 when
/// caught up); <c>divergedAtSeq</c> the seq where re-executing the log stopped reproducing it (null when healthy).
/// <c>state</c>: <c>ok</c>, <c>lagging</c>, <c>diverged</c>, <c>misplaced</c> (not on the expected mirror, or fed by a silo
/// that is not the owner: left over from an earlier view, dropped within seconds), <c>ownerNotLive</c> (a takeover is
/// due) or <c>none</c> (no live silo keeps a standby).
/// </summary>
public sealed record MirrorShape(
    string Component, string? Owner, bool OwnerLive, string? Mirror, string? ExpectedMirror, string? ShippedBy, long? AppliedSeq, long LastSeq,
    long? LagRecords, double? LagMs, DateTime? LastAppliedAt, double? LastAppliedAgeSeconds, long? DivergedAtSeq, string State);

/// <summary>A live silo that did not answer: its id, address and why.</summary>
public sealed record SiloProblemShape(string SiloId, string Address, string Reason);

/// <summary>
/// <c>mirrors</c>: the standbys the live silos keep (of one component, or all), with counts; <c>noMirror</c> says why there
/// can be none (fewer than two live silos: then <c>mirrors</c> is empty), or is null; <c>unanswered</c> lists live silos
/// that could not be asked (their standbys are missing from the list).
/// </summary>
public sealed record MirrorListShape(
    string Store, int Live, string? NoMirror, int Standbys, int Lagging, int Diverged, int Misplaced, int WithoutMirror,
    IReadOnlyList<MirrorShape> Mirrors, IReadOnlyList<SiloProblemShape> Unanswered);

/// <summary>
/// A virtual session: <c>status</c> is <c>open</c> or <c>closed</c>; <c>reserved</c> is the highest request number handed
/// out (request ids are <c>sessionId:n</c>, n from 1 to it); <c>items</c> are its key/value items.
/// </summary>
public sealed record SessionShape(string SessionId, string Status, long Reserved, int Opens, DateTime CreatedAt, DateTime LastOpenedAt, IReadOnlyDictionary<string, string> Items);

/// <summary><c>sessions list</c>: newest activity first, at most <c>limit</c>.</summary>
public sealed record SessionListShape(int Limit, IReadOnlyList<SessionShape> Sessions);

/// <summary>
/// <c>outcome</c> of one request id on one component. <c>outcome</c> is <c>committed</c> (<c>reply</c> / <c>error</c> hold
/// the recorded reply), <c>fenced</c> (declared not committed: it can never run), <c>inDoubt</c> (its turn started, with a
/// partial record at <c>partialSeq</c>, and has no final record yet: its outbound calls may have taken effect, so it is
/// never fenced; its owner completes it before anything else, and <c>--fence</c> asks the owner to complete it now) or
/// <c>notCommitted</c> (not recorded and not fenced: it may still arrive and run, unless its owner fences it with
/// <c>--fence</c>). <c>source</c> is where the answer came from: <c>log</c>, <c>dedup</c> (the store's dedup table, for
/// turns before the latest checkpoint), <c>silo</c> (<c>--fence</c>: the owner decided), or null when nothing was found.
/// <c>seq</c> and <c>committedAt</c> are the record's, when the store still has it.
/// </summary>
public sealed record OutcomeShape(
    string Component, string RequestId, string Outcome, bool Committed, string? Source, long? Seq, DateTime? CommittedAt,
    JsonElement? Reply, ErrorShape? Error, long? PartialSeq);

/// <summary><c>outcome</c> without <c>--component</c>: every component was scanned; <c>found</c> lists the hits.</summary>
public sealed record OutcomeScanShape(string RequestId, int ComponentsScanned, IReadOnlyList<OutcomeShape> Found);

/// <summary>
/// <c>quarantine</c>, <c>release</c>, <c>reset</c>, <c>accept</c>: the control record's seq (0 when the runtime wrote it
/// without reporting it: quarantine, release), what a reset or accept covered, who and why, and <c>via</c>: <c>silo</c>
/// (the owner recorded it) or <c>store</c> (no silo was live; the tool recorded it).
/// </summary>
public sealed record DecisionShape(string Component, string Action, long RecordSeq, long FromSeq, int Turns, int ChangedReplies, string By, string Reason, string Via);

/// <summary><c>move</c>: the silo's answer (from, to, the epoch handed over) and the owner the store names afterwards.</summary>
public sealed record MoveShape(string Component, string From, string To, long Epoch, string? Owner);
