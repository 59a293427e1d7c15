using System.Text.Json;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;

namespace Middleware.Recovery.Runtime;

/// <summary>
/// Replay one record at a time: a component object rebuilt up to <see cref="LastSeq"/> and what an activation needs to
/// serve from it (the turns since its checkpoint for the dedup memory, fenced ids, turns in doubt, a standing
/// quarantine). <see cref="Replayer.LoadAsync(Storage.ILogStore, ComponentTypeInfo, ComponentId, long, JsonSerializerOptions, bool, CancellationToken)"/>
/// feeds it the log after a checkpoint; a mirror's standby feeds it the records its owner ships, so a takeover starts
/// from the cursor instead of a cold replay. The dedup memory is built as records are applied, in the shape an
/// activation keeps it (<see cref="DedupMemory"/>), and handed over by <see cref="ToLoaded"/>: the cursor is not used
/// after that. Without <paramref name="keepTurns"/> (a standby) the decoded turns are not kept (<see cref="Replayer.Loaded.Turns"/>
/// is empty): only what dedup needs. Not thread-safe: one caller at a time.
/// </summary>
internal sealed class ReplayCursor(ComponentTypeInfo type, ComponentId id, JsonSerializerOptions json, object grain, long checkpointSeq, string? storeName = null, bool keepTurns = true)
{
    private readonly List<(long Seq, TurnRecord Turn)> _turns = [];
    private readonly DedupMemory _memory = new();
    private static readonly IReadOnlyDictionary<string, TurnRecord> NoneInDoubt = new Dictionary<string, TurnRecord>(StringComparer.Ordinal).AsReadOnly();

    // Made when the first partial record is applied: almost every replay has none (one map less per cold activation).
    private Dictionary<string, TurnRecord>? _inDoubt;
    private readonly List<(long Seq, string RequestId)> _fences = [];

    /// <summary>The component object, its state replayed up to <see cref="LastSeq"/>.</summary>
    public object Grain { get; } = grain;

    /// <summary>The seq of the checkpoint the replay started from or was last pruned at (0: none).</summary>
    public long CheckpointSeq { get; private set; } = checkpointSeq;

    /// <summary>The last seq applied.</summary>
    public long LastSeq { get; private set; } = checkpointSeq;

    /// <summary>The quarantine standing after the records applied (lifted by a later release, reset or accept), or null.</summary>
    public ControlRecord? Quarantine { get; private set; }

    /// <summary>
    /// A reset or accept was applied: the state goes on from the checkpoint recorded with it, which this cursor cannot
    /// produce by applying records. Whoever keeps the cursor reloads from the store.
    /// </summary>
    public bool NeedsReload { get; private set; }

    /// <summary>
    /// Applies the record that follows <see cref="LastSeq"/>. Throws <see cref="InvalidDataException"/> on a gap or a
    /// record of unknown kind, and <see cref="ReplayDivergenceException"/> when a turn does not reproduce its reply.
    /// </summary>
    public async Task ApplyAsync(LogRecord record)
    {
        if (record.Seq != LastSeq + 1)
            throw new InvalidDataException($"The log of {id} has a gap: expected seq {LastSeq + 1}, found {record.Seq}.");
        if (!Enum.IsDefined(record.Kind))
            throw new InvalidDataException($"The log of {id} has a record of unknown kind {(byte)record.Kind} at seq {record.Seq}; upgrade the middleware.");
        try
        {
            switch (record.Kind)
            {
                case RecordKind.PartialTurn:
                    // Not applied: the final record of the turn (if any) holds everything the partial did.
                    var partial = RecordCodec.DecodeTurn(record.Payload);
                    (_inDoubt ??= new(StringComparer.Ordinal))[partial.RequestId] = partial;
                    break;
                case RecordKind.Turn:
                    var turn = await Replayer.ApplyAsync(Grain, type, id, record, json).ConfigureAwait(false);
                    _inDoubt?.Remove(turn.RequestId);
                    if (keepTurns) _turns.Add((record.Seq, turn));
                    _memory.Add(turn.RequestId, record.Seq, turn.ArgsHash, turn.Reply);
                    break;
                case RecordKind.Fence:
                    // Not a turn: nothing to apply, but the id stays refused.
                    var fence = RecordCodec.DecodeFence(record.Payload);
                    _inDoubt?.Remove(fence.RequestId);
                    _fences.Add((record.Seq, fence.RequestId));
                    _memory.Add(fence.RequestId, record.Seq, DedupEntry.AnyArgs, RequestOutcome.FencedReply(id, fence.RequestId));
                    break;
                case RecordKind.Control:
                    // A decision about the component, not a turn (a reset or accept comes with a checkpoint at its seq).
                    var control = RecordCodec.DecodeControl(record.Payload);
                    Quarantine = control.Action == ControlAction.Quarantine ? control : null;
                    if (control.Action is ControlAction.Reset or ControlAction.Accept) NeedsReload = true;
                    break;
            }
        }
        catch (InvalidDataException e)
        {
            // The decoder's words name neither component nor seq (a truncated record written before checksums).
            throw new InvalidDataException($"The log record of {id} at seq {record.Seq}{(storeName is null ? "" : " in " + storeName)} cannot be decoded: {e.Message} " +
                $"Inspect it with 'mw log {id} --from {record.Seq} --to {record.Seq}'; restore the store from a backup, or reset {id} to a seq before it (mw reset).", e);
        }

        LastSeq = record.Seq;
    }

    /// <summary>
    /// A checkpoint at <paramref name="seq"/> (at or before <see cref="LastSeq"/>) is durable: the request ids up to it
    /// live in the store's dedup table, so the cursor forgets them, as an activation does.
    /// </summary>
    public void Checkpointed(long seq)
    {
        if (seq <= CheckpointSeq || seq > LastSeq) return;
        CheckpointSeq = seq;
        if (_turns.Count > 0) _turns.RemoveAll(t => t.Seq <= seq);
        if (_fences.Count > 0) _fences.RemoveAll(f => f.Seq <= seq);
        _memory.ForgetUpTo(seq);
    }

    /// <summary>What an activation adopts; hands over the cursor's lists and dedup memory (no copy per turn), so the cursor is not used after this.</summary>
    public Replayer.Loaded ToLoaded() =>
        new(Grain, CheckpointSeq, LastSeq, _turns, _inDoubt is { Count: > 0 } inDoubt ? new Dictionary<string, TurnRecord>(inDoubt, StringComparer.Ordinal) : NoneInDoubt)
        {
            Fences = _fences,
            Quarantine = Quarantine,
            Memory = _memory,
        };
}
