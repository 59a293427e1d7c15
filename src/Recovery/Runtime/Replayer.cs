using System.Text.Json;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;

namespace Middleware.Recovery.Runtime;

/// <summary>
/// Rebuilds component state from a checkpoint and the log, re-executing each turn with the recorded
/// nondeterminism and checking that it reproduces the recorded reply. Used by activation, by undo after a
/// failed turn, and by audits.
/// </summary>
public static class Replayer
{
    /// <summary>
    /// A component object rebuilt up to <see cref="LastSeq"/>, with the turns replayed on top of its checkpoint and
    /// the partial records of turns that never completed (in doubt: a retry of their request resumes them).
    /// </summary>
    public sealed record Loaded(object Grain, long CheckpointSeq, long LastSeq, IReadOnlyList<(long Seq, TurnRecord Turn)> Turns, IReadOnlyDictionary<string, TurnRecord> InDoubt)
    {
        /// <summary>Request ids fenced by outcome queries after the checkpoint (<see cref="RecordKind.Fence"/>), with their seqs.</summary>
        public IReadOnlyList<(long Seq, string RequestId)> Fences { get; init; } = [];

        /// <summary>The quarantine standing at the end of what was read (a <see cref="ControlAction.Quarantine"/> not lifted since), or null.</summary>
        public ControlRecord? Quarantine { get; init; }

        /// <summary>The dedup memory of the turns and fences above, built while they were applied (an activation adopts it as it is), or null.</summary>
        internal DedupMemory? Memory { get; init; }
    }

    /// <summary>Creates a fresh component object with a new state.</summary>
    public static object NewGrain(ComponentTypeInfo type)
    {
        var grain = (IRecoverableGrain)ComponentActivator.Create(type);
        grain.State = Activator.CreateInstance(type.StateType)!;
        return grain;
    }

    /// <summary>
    /// Loads the latest checkpoint at or before <paramref name="upToSeq"/> and replays the records after it
    /// up to <paramref name="upToSeq"/> (inclusive). Throws <see cref="ReplayDivergenceException"/> at the
    /// first turn that does not reproduce, and <see cref="InvalidDataException"/> when a checkpoint's bytes
    /// do not match its hash or the log has a gap.
    /// </summary>
    public static Task<Loaded> LoadAsync(ILogStore store, ComponentTypeInfo type, ComponentId id, long upToSeq, JsonSerializerOptions json, CancellationToken cancellationToken = default) =>
        LoadAsync(store, type, id, upToSeq, json, honorQuarantine: false, cancellationToken);

    /// <summary>
    /// As <see cref="LoadAsync(ILogStore, ComponentTypeInfo, ComponentId, long, JsonSerializerOptions, CancellationToken)"/>;
    /// with <paramref name="honorQuarantine"/> (activations), a quarantine standing at the end of the log that applies to
    /// this code (<see cref="ComponentTypeInfo.CodeVersion"/>, or any code) is refused with
    /// <see cref="ComponentQuarantinedException"/> before anything is replayed.
    /// </summary>
    public static async Task<Loaded> LoadAsync(ILogStore store, ComponentTypeInfo type, ComponentId id, long upToSeq, JsonSerializerOptions json, bool honorQuarantine, CancellationToken cancellationToken) =>
        (await LoadCursorAsync(store, type, id, upToSeq, json, honorQuarantine, cancellationToken).ConfigureAwait(false)).ToLoaded();

    /// <summary>As <see cref="LoadAsync(ILogStore, ComponentTypeInfo, ComponentId, long, JsonSerializerOptions, bool, CancellationToken)"/>, keeping the cursor so more records can be applied (a mirror's standby).</summary>
    internal static async Task<ReplayCursor> LoadCursorAsync(ILogStore store, ComponentTypeInfo type, ComponentId id, long upToSeq, JsonSerializerOptions json, bool honorQuarantine, CancellationToken cancellationToken, bool keepTurns = true)
    {
        var idText = id.ToString();
        var checkpoint = await store.GetCheckpointAsync(idText, upToSeq, cancellationToken).ConfigureAwait(false);
        var from = (checkpoint?.Seq ?? 0) + 1;
        var records = upToSeq < from ? [] : await store.ReadAsync(idText, from, upToSeq, cancellationToken).ConfigureAwait(false);
        if (upToSeq >= from && (records.Count == 0 || records[0].Seq != from))
        {
            // Either nothing was logged yet at that seq, or the records were truncated and no checkpoint covers them.
            var head = await store.GetHeadAsync(idText, cancellationToken).ConfigureAwait(false);
            if (head is not null && head.LastSeq >= from)
                throw new InvalidDataException($"The log of {id} no longer holds seq {from}: it was truncated and no checkpoint at or before seq {upToSeq} covers it. Ask for a seq at or after the oldest checkpoint.");
        }

        return await CursorFromAsync(type, id, json, checkpoint, records, honorQuarantine, store.Name, keepTurns).ConfigureAwait(false);
    }

    /// <summary>
    /// The cursor rebuilt from what an activation read (<see cref="ILogStore.ReadForActivationAsync(string, CancellationToken)"/>): the checkpoint's
    /// state with <paramref name="records"/> (the records right after it, in seq order) applied on top.
    /// </summary>
    internal static async Task<ReplayCursor> CursorFromAsync(ComponentTypeInfo type, ComponentId id, JsonSerializerOptions json, CheckpointRecord? checkpoint,
        IReadOnlyList<LogRecord> records, bool honorQuarantine, string storeName, bool keepTurns = true)
    {
        var grain = (IRecoverableGrain)NewGrain(type);
        if (checkpoint is not null)
        {
            if (!StateCodec.HashMatches(checkpoint.State.Span, checkpoint.StateHash) && StateCodec.Hash(checkpoint.State.Span) is var hash)
                throw new InvalidDataException($"The checkpoint of {id} at seq {checkpoint.Seq} is corrupt: its state hashes to {hash}, the record says {checkpoint.StateHash}.");
            try
            {
                grain.State = StateCodec.Deserialize(checkpoint.State.Span, type.StateType, json);
            }
            catch (JsonException e)
            {
                throw new ReplayDivergenceException(id, checkpoint.Seq, "(checkpoint)", $"state readable as {type.StateType.Name}",
                    $"a state that no longer deserializes ({e.Message}); the state type changed incompatibly", codeChangeOnly: true);
            }
        }

        var quarantine = StandingQuarantine(records);
        if (honorQuarantine && quarantine is not null && (quarantine.CodeVersion is null || quarantine.CodeVersion == type.CodeVersion))
            throw new ComponentQuarantinedException(id, quarantine);
        var cursor = new ReplayCursor(type, id, json, grain, checkpoint?.Seq ?? 0, storeName, keepTurns);
        foreach (var record in records) await cursor.ApplyAsync(record).ConfigureAwait(false);
        return cursor;
    }

    /// <summary>The latest quarantine among <paramref name="records"/> that no release, reset or accept lifted since, or null.</summary>
    public static ControlRecord? StandingQuarantine(IReadOnlyList<LogRecord> records)
    {
        for (var i = records.Count - 1; i >= 0; i--)
        {
            if (records[i].Kind != RecordKind.Control) continue;
            var control = RecordCodec.DecodeControl(records[i].Payload);
            return control.Action == ControlAction.Quarantine ? control : null;
        }

        return null;
    }

    /// <summary>
    /// Re-executes one logged turn (<see cref="RecordKind.Turn"/>) on <paramref name="grainObject"/> and checks its
    /// reply. Partial and fence records are not turns: skip them (<see cref="LoadAsync"/> does).
    /// </summary>
    public static async Task<TurnRecord> ApplyAsync(object grainObject, ComponentTypeInfo type, ComponentId id, LogRecord record, JsonSerializerOptions json) =>
        (await ApplyAsync(grainObject, type, id, record, json, acceptChangedReply: false).ConfigureAwait(false)).Turn;

    /// <summary>
    /// As <see cref="ApplyAsync(object, ComponentTypeInfo, ComponentId, LogRecord, JsonSerializerOptions)"/>; with
    /// <paramref name="acceptChangedReply"/> (an operator accepted the current code's behaviour from some seq on), a reply
    /// that differs from the recorded one is taken instead of refused, and the state follows the current code (undone
    /// when its reply is an error). Nondeterminism and outbound calls must still match the record.
    /// </summary>
    public static async Task<(TurnRecord Turn, bool ReplyChanged)> ApplyAsync(object grainObject, ComponentTypeInfo type, ComponentId id, LogRecord record, JsonSerializerOptions json, bool acceptChangedReply)
    {
        if (record.Kind != RecordKind.Turn)
            throw new ArgumentException($"The record at seq {record.Seq} of {id} is a {record.Kind} record, not a turn; replay applies turns only.", nameof(record));
        var grain = (IRecoverableGrain)grainObject;
        var turn = RecordCodec.DecodeTurn(record.Payload);
        if (!type.Methods.TryGetValue(turn.Method, out var method))
            throw new ReplayDivergenceException(id, record.Seq, turn.Method, $"a method named {turn.Method}", $"no such method on {type.InterfaceType.Name}", codeChangeOnly: true);
        object?[] args;
        try
        {
            args = method.DecodeArgs(turn.Args.Span, json);
        }
        catch (ArgumentException e)
        {
            throw new ReplayDivergenceException(id, record.Seq, turn.Method, "arguments that decode", e.Message, codeChangeOnly: true);
        }

        var context = new ReplayTurnContext(id, record.Seq, turn, json);
        grain.Context = context;
        var before = turn.Reply.IsError || acceptChangedReply ? StateCodec.Serialize(grain.State, type.StateType, json) : null;
        ComponentReply reply;
        try
        {
            var result = await method.InvokeAsync(grain, args).ConfigureAwait(false);
            reply = new ComponentReply(method.EncodeResult(result, json));
        }
        catch (Exception e) when (e is not ReplayDivergenceException)
        {
            reply = ErrorReply(e, json);
        }
        finally
        {
            grain.Context = null; // no context between turns: it would keep the turn's record alive with the grain
        }

        var changed = !reply.SameAs(turn.Reply);
        if (changed && !acceptChangedReply)
            throw new ReplayDivergenceException(id, record.Seq, turn.Method, $"reply {turn.Reply}", $"reply {reply}");
        if (context.Consumed != turn.Values.Count)
            throw new ReplayDivergenceException(id, record.Seq, turn.Method, $"{turn.Values.Count} nondeterministic value(s) consumed", $"{context.Consumed}");
        if (context.OutboundConsumed != turn.Outbound.Count)
            throw new ReplayDivergenceException(id, record.Seq, turn.Method, $"{turn.Outbound.Count} outbound call(s)", $"{context.OutboundConsumed}");
        if (before is not null && (acceptChangedReply ? reply.IsError : turn.Reply.IsError))
            grain.State = StateCodec.Deserialize(before, type.StateType, json);
        return (turn, changed);
    }

    /// <summary>
    /// The recorded form of an exception thrown by component code: type, message and data properties as canonical JSON
    /// written with <paramref name="json"/> (the component settings; see <see cref="ExceptionContent"/>).
    /// </summary>
    public static ComponentReply ErrorReply(Exception e, JsonSerializerOptions? json = null) => ComponentReply.FromException(e, json);
}
