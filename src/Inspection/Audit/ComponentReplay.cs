using System.Text;
using System.Text.Json;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Recovery.Log;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;

namespace Middleware.Inspection.Audit;

/// <summary>
/// The audit of one component up to one seq: load the starting state, replay every record after it with
/// <c>Replayer.ApplyAsync</c>, and in genesis mode check every checkpoint: its bytes against its hash and against
/// the replayed state, and that they read back to themselves with this code (the starting checkpoint in either mode).
/// Stops at the first divergence: later turns ran on a state the new code would not have produced.
/// </summary>
internal sealed class ComponentReplay(ILogStore store, ComponentTypeInfo type, JsonSerializerOptions json, string idText, long upTo, AuditProgress progress)
{
    private const int ProgressStep = 1024;
    private readonly ComponentId _id = ComponentId.Parse(idText);
    private readonly Dictionary<string, (long Seq, string Method, string? PassedBy)> _open = new(StringComparer.Ordinal);
    private long _verified, _unverified, _dedupChecked;

    public async Task<ComponentAudit> RunAsync(AuditMode mode, CancellationToken ct)
    {
        List<CheckpointRecord> checkpoints;
        try
        {
            checkpoints = mode == AuditMode.FromGenesis ? await CheckpointsAsync(ct).ConfigureAwait(false) : [];
        }
        catch (CorruptRecordException e)
        {
            return Result(0, 0, Corrupt(e));
        }

        foreach (var c in checkpoints) Count(c.Checksum);
        IReadOnlyList<LogRecord> records;
        long start;
        object grain;
        try
        {
            if (mode == AuditMode.FromCheckpoint)
            {
                var latest = await store.GetCheckpointAsync(idText, upTo, ct).ConfigureAwait(false);
                if (latest is not null) Count(latest.Checksum);
                start = latest?.Seq ?? 0;
                // LoadAsync up to the checkpoint itself: verifies the hash and that the state still deserializes.
                grain = (await Replayer.LoadAsync(store, type, _id, start, json, ct).ConfigureAwait(false)).Grain;
                if (latest is not null && Lossy(latest) is { } lossy) return Result(0, 0, lossy);
                records = start >= upTo ? [] : await store.ReadCheckedAsync(idText, start + 1, upTo, ct).ConfigureAwait(false);
                if (await ChecksumsAsync(records, ct).ConfigureAwait(false) is { } damaged) return Result(0, 0, damaged);
            }
            else
            {
                records = upTo == 0 ? [] : await store.ReadCheckedAsync(idText, 1, upTo, ct).ConfigureAwait(false);
                if (await ChecksumsAsync(records, ct).ConfigureAwait(false) is { } damaged) return Result(0, 0, damaged);
                start = GenesisStart(records, checkpoints);
                // Checkpoints at or before the start have no records left to replay against: check what can be checked.
                foreach (var old in checkpoints.Where(c => c.Seq <= start).OrderBy(c => c.Seq))
                {
                    if ((Tampered(old) ?? Lossy(old)) is { } bad) return Result(0, 0, bad);
                }

                grain = start == 0 ? Replayer.NewGrain(type) : (await Replayer.LoadAsync(store, type, _id, start, json, ct).ConfigureAwait(false)).Grain;
            }
        }
        catch (ReplayDivergenceException e)
        {
            return Result(0, 0, new Divergence(idText, e.Seq, DivergenceKind.State, e.Method, ReadOnlyMemory<byte>.Empty, e.Expected, e.Actual));
        }
        catch (CorruptRecordException e)
        {
            return Result(0, 0, Corrupt(e));
        }
        catch (InvalidDataException e)
        {
            return Result(0, 0, new Divergence(idText, 0, DivergenceKind.Checkpoint, "(checkpoint)", ReadOnlyMemory<byte>.Empty, "a checkpoint that verifies", e.Message));
        }

        var verify = checkpoints.Where(c => c.Seq > start).ToDictionary(c => c.Seq);
        return await ReplayAsync(grain, start, records, verify, ct).ConfigureAwait(false);
    }

    private async Task<ComponentAudit> ReplayAsync(object grain, long start, IReadOnlyList<LogRecord> records, Dictionary<long, CheckpointRecord> verify, CancellationToken ct)
    {
        long turns = 0, pending = 0, expected = start + 1;
        var (superseded, accepted) = Decisions(records);
        try
        {
            foreach (var record in records)
            {
                if (record.Seq <= start) continue;
                if (record.Seq != expected)
                    return Result(start, turns, LogDivergence(expected, $"seq {expected}", $"seq {record.Seq} (a gap in the log)"));
                expected++;
                // Records a later reset superseded are kept for reading, not replayed: the history goes on from the reset.
                if (superseded.Any(r => record.Seq >= r.From && record.Seq <= r.To)) continue;
                if (record.Kind == RecordKind.Control)
                {
                    var control = RecordCodec.DecodeControl(record.Payload);
                    if (control.Action == ControlAction.Reset)
                        grain = (await Replayer.LoadAsync(store, type, _id, control.Seq, json, ct).ConfigureAwait(false)).Grain;
                }
                else if (record.Kind != RecordKind.Turn)
                {
                    TrackInDoubt(record);
                }
                else
                {
                    try
                    {
                        // Turns an operator accepted the current code's behaviour for may reply differently; nothing else may.
                        var accept = accepted.Any(r => record.Seq >= r.From && record.Seq <= r.To);
                        var (turn, _) = await Replayer.ApplyAsync(grain, type, _id, record, json, accept).ConfigureAwait(false);
                        Closed(turn.RequestId, $"the turn of request '{turn.RequestId}' at seq {record.Seq}");
                    }
                    catch (ReplayDivergenceException e)
                    {
                        return Result(start, turns, new Divergence(idText, e.Seq, DivergenceKind.Reply, e.Method, ArgsOf(record), e.Expected, e.Actual));
                    }
                    catch (InvalidDataException e)
                    {
                        return Result(start, turns, LogDivergence(record.Seq, "a record this build can decode", e.Message));
                    }

                    turns++;
                    if (++pending == ProgressStep)
                    {
                        progress.AddTurns(pending);
                        pending = 0;
                    }
                }

                // Every checkpoint, whatever record it follows (a turn, a fence, a partial record).
                if (verify.TryGetValue(record.Seq, out var checkpoint))
                {
                    PassedOver($"the checkpoint at seq {record.Seq}");
                    if (CompareState(grain, checkpoint) is { } diff) return Result(start, turns, diff);
                }
            }
        }
        finally
        {
            progress.AddTurns(pending);
        }

        return expected - 1 == upTo
            ? Result(start, turns, null)
            : Result(start, turns, LogDivergence(expected, $"records up to seq {upTo} (the head)", $"the log ends at seq {expected - 1}"));
    }

    /// <summary>
    /// The ranges resets superseded (after the seq they went back to, up to the reset record) and the ranges accepts
    /// adopted the current code's replies for (from their seq up to the accept record), read from the control records.
    /// </summary>
    private static (List<(long From, long To)> Superseded, List<(long From, long To)> Accepted) Decisions(IReadOnlyList<LogRecord> records)
    {
        var superseded = new List<(long, long)>();
        var accepted = new List<(long, long)>();
        foreach (var record in records)
        {
            if (record.Kind != RecordKind.Control) continue;
            var control = RecordCodec.DecodeControl(record.Payload);
            if (control.Action == ControlAction.Reset) superseded.Add((control.Seq + 1, record.Seq - 1));
            else if (control.Action == ControlAction.Accept) accepted.Add((control.Seq, record.Seq - 1));
        }

        return (superseded, accepted);
    }

    /// <summary>
    /// The checksums of <paramref name="records"/> (counted; the first corrupt one is the divergence) and of the
    /// component's dedup entries, each compared with the log record it was taken from while the audited records still hold
    /// it: same request id, arguments and reply (a fence's entry: the fence's request id). Null when all agree.
    /// </summary>
    private async Task<Divergence?> ChecksumsAsync(IReadOnlyList<LogRecord> records, CancellationToken ct)
    {
        var bySeq = new Dictionary<long, LogRecord>(records.Count);
        if (Damaged(records, bySeq) is { } damaged) return damaged;
        var dedup = (await store.ListDedupAsync(idText, ct).ConfigureAwait(false)).OrderBy(e => e.Seq).ToList();
        // From the latest checkpoint, the records before it are read only for this: the turns the dedup entries came from.
        var first = records.Count == 0 ? upTo + 1 : records[0].Seq;
        var older = dedup.Where(e => e.Seq < first).Select(e => e.Seq).DefaultIfEmpty(first).Min();
        if (older < first)
        {
            var before = await store.ReadCheckedAsync(idText, older, first - 1, ct).ConfigureAwait(false);
            if (Damaged(before, bySeq) is { } damagedBefore) return damagedBefore;
            records = [.. before, .. records];
        }

        var (_, accepted) = Decisions(records);
        foreach (var entry in dedup)
        {
            if (entry.Checksum == ChecksumStatus.Corrupt)
            {
                return new Divergence(idText, entry.Seq, DivergenceKind.Corrupt, "(dedup)", ReadOnlyMemory<byte>.Empty,
                    $"the dedup entry of request '{entry.RequestId}' with a checksum that matches its reply, request id, seq and arguments hash",
                    "a checksum mismatch: the entry changed after it was written; its reply is never served");
            }

            Count(entry.Checksum);
            if (!bySeq.TryGetValue(entry.Seq, out var record)) continue; // truncated, or before what this mode reads
            _dedupChecked++;
            if (DedupMismatch(entry, record, accepted.Any(a => entry.Seq >= a.From && entry.Seq <= a.To)) is { } actual)
            {
                return new Divergence(idText, entry.Seq, DivergenceKind.Corrupt, "(dedup)", ReadOnlyMemory<byte>.Empty,
                    $"the dedup entry of request '{entry.RequestId}' to agree with the log record at seq {entry.Seq}", actual);
            }
        }

        return null;
    }

    /// <summary>The first corrupt record as a divergence; else every record counted and indexed by seq, and null.</summary>
    private Divergence? Damaged(IReadOnlyList<LogRecord> records, Dictionary<long, LogRecord> bySeq)
    {
        foreach (var r in records)
        {
            if (r.Checksum == ChecksumStatus.Corrupt)
            {
                return new Divergence(idText, r.Seq, DivergenceKind.Corrupt, "(log)", ReadOnlyMemory<byte>.Empty,
                    $"a {r.Kind} record whose checksum matches its bytes and identity (component, seq, epoch, kind)",
                    $"a checksum mismatch ({r.Payload.Length} bytes stored, epoch {r.Epoch}): the record changed after it was written");
            }

            Count(r.Checksum);
            bySeq[r.Seq] = r;
        }

        return null;
    }

    /// <summary>How a dedup entry disagrees with the record at its seq, or null.</summary>
    private string? DedupMismatch(DedupEntry entry, LogRecord record, bool accepted)
    {
        try
        {
            if (record.Kind == RecordKind.Fence)
            {
                var fence = RecordCodec.DecodeFence(record.Payload);
                return fence.RequestId != entry.RequestId ? $"the log fenced request '{fence.RequestId}' at that seq"
                    : entry.ArgsHash != DedupEntry.AnyArgs ? "the entry of a fenced request names arguments"
                    : !RequestOutcome.IsFenced(RecordCodec.DecodeReply(entry.Reply)) ? "the entry of a fenced request holds a reply" : null;
            }

            if (record.Kind != RecordKind.Turn) return $"the log holds a {record.Kind} record at that seq, not a turn";
            var turn = RecordCodec.DecodeTurn(record.Payload);
            if (turn.RequestId != entry.RequestId) return $"the log's turn at that seq is request '{turn.RequestId}'";
            if (turn.ArgsHash != entry.ArgsHash) return "the entry's arguments hash differs from the logged turn's method and arguments";
            // Replies of turns an operator accepted the current code for may differ from the log's (mw accept).
            var reply = RecordCodec.DecodeReply(entry.Reply);
            return accepted || reply.SameAs(turn.Reply) ? null : $"the entry's reply {reply} differs from the logged reply {turn.Reply}";
        }
        catch (InvalidDataException e)
        {
            return $"an entry or record that does not decode: {e.Message}";
        }
    }

    private void Count(ChecksumStatus status)
    {
        if (status == ChecksumStatus.Verified) _verified++;
        else if (status == ChecksumStatus.Unverified) _unverified++;
    }

    private Divergence Corrupt(CorruptRecordException e) =>
        new(idText, e.Seq, DivergenceKind.Corrupt, e.What == "checkpoint" ? "(checkpoint)" : e.What == "log record" ? "(log)" : "(dedup)", ReadOnlyMemory<byte>.Empty,
            $"a {e.What} whose checksum matches", e.Message);

    /// <summary>Genesis replay of a truncated log starts at the earliest checkpoint the remaining records follow.</summary>
    private static long GenesisStart(IReadOnlyList<LogRecord> records, IReadOnlyList<CheckpointRecord> checkpoints)
    {
        if (records.Count == 0 || records[0].Seq == 1) return 0;
        var first = records[0].Seq;
        var usable = checkpoints.Where(c => c.Seq >= first - 1).Select(c => c.Seq).DefaultIfEmpty(-1).Min();
        return usable >= 0 ? usable : throw new InvalidDataException($"the log starts at seq {first} but no checkpoint at or after seq {first - 1} remains");
    }

    /// <summary>
    /// A checkpoint met in the replay: its bytes must match its hash, equal the replayed state's bytes, and read back to
    /// themselves with this code (else every recovery from it starts from another state).
    /// </summary>
    private Divergence? CompareState(object grain, CheckpointRecord checkpoint)
    {
        if (Tampered(checkpoint) is { } tampered) return tampered;
        byte[] state;
        try
        {
            state = GrainState.Serialize(grain, type, json);
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException or ArgumentException)
        {
            return StateDivergence(checkpoint.Seq, "a state that serializes", e.Message);
        }

        if (JsonDifference.Between(checkpoint.State.Span, state) is { } d)
        {
            return StateDivergence(checkpoint.Seq, $"{d.Path} = {d.First} in the checkpoint state {Encoding.UTF8.GetString(checkpoint.State.Span)}",
                $"{d.Path} = {d.Second} in the replayed state {Encoding.UTF8.GetString(state)}");
        }

        return Lossy(checkpoint);
    }

    /// <summary>A checkpoint whose bytes no longer hash to the hash recorded with them: changed after it was written.</summary>
    private Divergence? Tampered(CheckpointRecord checkpoint)
    {
        var hash = GrainState.Hash(checkpoint.State.Span);
        return hash == checkpoint.StateHash ? null : new Divergence(idText, checkpoint.Seq, DivergenceKind.Checkpoint, "(checkpoint)", ReadOnlyMemory<byte>.Empty,
            $"state bytes that hash to {checkpoint.StateHash} (the hash recorded with them)", $"bytes that hash to {hash}: the checkpoint's state changed after it was written");
    }

    /// <summary>A checkpoint whose bytes do not read back to themselves with this code's state type: a member is lost.</summary>
    private Divergence? Lossy(CheckpointRecord checkpoint)
    {
        if (StateRoundTrip.Check(checkpoint.State.Span, type.StateType, json) is not { } loss) return null;
        return loss.Error is not null
            ? StateDivergence(checkpoint.Seq, $"a checkpoint state that reads back as {type.StateType.Name}", loss.Error)
            : StateDivergence(checkpoint.Seq, $"{loss.Path} = {loss.Written} read back from the checkpoint",
                $"{loss.Path} reads back as {loss.ReadBack}: {type.StateType.Name} loses {loss.Path}, so every recovery from this checkpoint starts from another state");
    }

    private Divergence StateDivergence(long seq, string expected, string actual) =>
        new(idText, seq, DivergenceKind.State, "(checkpoint)", ReadOnlyMemory<byte>.Empty, expected, actual);

    /// <summary>Every checkpoint at or before the audited seq, newest first (walked back one query at a time).</summary>
    private async Task<List<CheckpointRecord>> CheckpointsAsync(CancellationToken ct)
    {
        var found = new List<CheckpointRecord>();
        var below = upTo;
        while (below > 0 && await store.GetCheckpointAsync(idText, below, ct).ConfigureAwait(false) is { } c)
        {
            found.Add(c);
            below = c.Seq - 1;
        }

        return found;
    }

    private static ReadOnlyMemory<byte> ArgsOf(LogRecord record)
    {
        try
        {
            return RecordCodec.DecodeTurn(record.Payload).Args;
        }
        catch (InvalidDataException)
        {
            return ReadOnlyMemory<byte>.Empty; // the divergence itself already names the record; its arguments are unreadable
        }
    }

    /// <summary>A partial record opens a turn in doubt (its first one pins the seq); a fence closes its own id's.</summary>
    private void TrackInDoubt(LogRecord record)
    {
        try
        {
            if (record.Kind == RecordKind.PartialTurn)
            {
                var partial = RecordCodec.DecodeTurn(record.Payload);
                if (!_open.ContainsKey(partial.RequestId)) _open[partial.RequestId] = (record.Seq, partial.Method, null);
            }
            else if (record.Kind == RecordKind.Fence)
            {
                var fence = RecordCodec.DecodeFence(record.Payload);
                Closed(fence.RequestId, $"a fence of request '{fence.RequestId}' at seq {record.Seq}");
            }
        }
        catch (InvalidDataException)
        {
            // An undecodable partial or fence is not replayed; the turn records around it still are.
        }
    }

    /// <summary>The final record (or a fence) of <paramref name="requestId"/>: its turn is no longer in doubt; any other open one was passed over.</summary>
    private void Closed(string requestId, string what)
    {
        if (_open.Count == 0) return;
        _open.Remove(requestId);
        PassedOver(what);
    }

    private void PassedOver(string what)
    {
        foreach (var (id, open) in _open.ToList())
        {
            if (open.PassedBy is null) _open[id] = open with { PassedBy = what };
        }
    }

    private Divergence LogDivergence(long seq, string expected, string actual) =>
        new(idText, seq, DivergenceKind.Log, "(log)", ReadOnlyMemory<byte>.Empty, expected, actual);

    private ComponentAudit Result(long start, long turns, Divergence? divergence) => new(idText, start + 1, upTo, turns, divergence, null)
    {
        Verified = _verified,
        Unverified = _unverified,
        DedupChecked = _dedupChecked,
        InDoubt = _open.OrderBy(o => o.Value.Seq).Select(o => new InDoubtTurn(idText, o.Key, o.Value.Seq, o.Value.Method, o.Value.PassedBy)).ToList(),
    };
}
