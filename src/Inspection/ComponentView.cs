using System.Globalization;
using Middleware.Grains;
using Middleware.Inspection.Audit;
using Middleware.Recovery.Log;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;

namespace Middleware.Inspection;

/// <summary>
/// One component as <c>mw components</c>, <c>mw log</c> and <c>mw state</c> and the dashboard show it: its head (owner,
/// epoch, log length, checkpoint, last activity), its decoded records, and its state now or after an earlier turn,
/// rebuilt from the checkpoint at or before it plus replay (<c>Replayer.LoadAsync</c>).
/// </summary>
public static class ComponentView
{
    /// <summary>The head of <paramref name="id"/>; an unknown id is an <see cref="InspectionException"/>.</summary>
    public static async Task<ComponentHead> HeadAsync(ILogStore store, ComponentId id, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(store);
        return await store.GetHeadAsync(id.ToString(), ct).ConfigureAwait(false)
            ?? throw new InspectionException($"No component '{id}' in {store.Name}; mw components list shows the known ids.");
    }

    /// <summary>The <see cref="ComponentShape"/> of a head (one read for its last activity).</summary>
    public static async Task<ComponentShape> ShapeAsync(ILogStore store, ComponentHead head, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(head);
        return new(head.ComponentId, TypeOf(head.ComponentId), head.Owner, head.Epoch, head.LastSeq, head.CheckpointSeq,
            await LastActivityAsync(store, head, ct).ConfigureAwait(false));
    }

    /// <summary>The commit time of the component's last record, or null for an empty log.</summary>
    public static async Task<DateTime?> LastActivityAsync(ILogStore store, ComponentHead head, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(head);
        if (head.LastSeq == 0) return null;
        var last = await store.ReadAsync(head.ComponentId, head.LastSeq, head.LastSeq, ct).ConfigureAwait(false);
        return last.Count == 0 ? null : new DateTime(last[0].CommittedAtTicks, DateTimeKind.Utc);
    }

    /// <summary>The type part of a stored id (the text before the first '/').</summary>
    public static string TypeOf(string componentId)
    {
        ArgumentNullException.ThrowIfNull(componentId);
        var slash = componentId.IndexOf('/', StringComparison.Ordinal);
        return slash < 0 ? componentId : componentId[..slash];
    }

    /// <summary>
    /// The records <paramref name="from"/>..<paramref name="to"/> (to the last when null) decoded, corrupt ones listed and
    /// marked, not refused: this is where an operator looks at them.
    /// </summary>
    public static async Task<LogShape> LogAsync(ILogStore store, ComponentHead head, long from, long? to, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(head);
        var last = Math.Min(to ?? head.LastSeq, head.LastSeq);
        var records = await store.ReadCheckedAsync(head.ComponentId, from, last, ct).ConfigureAwait(false);
        return new LogShape(head.ComponentId, from, last, records.Select(RecordShapes.Record).ToList());
    }

    /// <summary>
    /// The state after turn <paramref name="seq"/> (the last when null), or after the last turn committed at or before
    /// <paramref name="asOf"/>; at most one of them. A replay that does not reproduce the log throws
    /// <see cref="ReplayDivergenceException"/>; anything else that stops the rebuild is an <see cref="InspectionException"/>.
    /// </summary>
    public static async Task<StateShape> StateAsync(ILogStore store, ComponentRegistry registry, ComponentId id, long? seq, DateTime? asOf, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(registry);
        if (seq is not null && asOf is not null) throw new InspectionException("Give either --seq or --as-of, not both.");
        var head = await HeadAsync(store, id, ct).ConfigureAwait(false);
        var type = registry.Get(id.Type);
        var target = seq ?? head.LastSeq;
        if (asOf is { } t)
            target = await SeqAsOfAsync(store, head, t, ct).ConfigureAwait(false);
        if (target < 0 || target > head.LastSeq)
            throw new InspectionException($"--seq {target} is out of range for {id}: its turns are 1..{head.LastSeq}; give 0..{head.LastSeq} (0: the state before the first turn).");

        Replayer.Loaded loaded;
        try
        {
            loaded = await Replayer.LoadAsync(store, type, id, target, registry.Json, ct).ConfigureAwait(false);
        }
        catch (InvalidDataException e)
        {
            throw new InspectionException($"The state of {id} at seq {target} cannot be rebuilt: {e.Message} (the log before the earliest checkpoint may have been truncated).");
        }

        // LoadAsync reads what is there: with the records before the earliest checkpoint truncated it stops short.
        if (loaded.LastSeq != target)
            throw new InspectionException($"The state of {id} at seq {target} cannot be rebuilt: the log before its earliest checkpoint was truncated (the earliest state is at the checkpoint, see mw components show {id}).");

        var state = RecordShapes.Json(GrainState.Serialize(loaded.Grain, type, registry.Json));
        var committed = target == 0 ? null : await CommitTimeAsync(store, id.ToString(), target, ct).ConfigureAwait(false);
        return new StateShape(id.ToString(), target, loaded.CheckpointSeq, committed, state) { ReplayedTurns = loaded.Turns.Count };
    }

    /// <summary>A time given as text (<c>--as-of</c>, the dashboard's field): ISO 8601, UTC unless it says otherwise.</summary>
    public static DateTime ParseTime(string text, string what = "--as-of") =>
        !string.IsNullOrWhiteSpace(text) && DateTime.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t)
            ? t
            : throw new InspectionException($"{what} '{text}' is not a time; write it as ISO 8601, e.g. 2025-01-31T12:00:00Z.");

    /// <summary>The last seq whose commit time is at or before <paramref name="time"/> (0 when the first turn is later).</summary>
    private static async Task<long> SeqAsOfAsync(ILogStore store, ComponentHead head, DateTime time, CancellationToken ct)
    {
        var records = await store.ReadAsync(head.ComponentId, 1, head.LastSeq, ct).ConfigureAwait(false);
        long found = records.Count > 0 && records[0].Seq > 1 ? -1 : 0;
        foreach (var r in records)
        {
            if (r.CommittedAtTicks <= time.Ticks) found = r.Seq;
        }

        if (found < 0)
            throw new InspectionException($"The log of {head.ComponentId} before seq {records[0].Seq} was truncated; no state as of {RecordShapes.Text(time)} can be rebuilt.");
        return found;
    }

    private static async Task<DateTime?> CommitTimeAsync(ILogStore store, string id, long seq, CancellationToken ct)
    {
        var r = await store.ReadAsync(id, seq, seq, ct).ConfigureAwait(false);
        return r.Count == 0 ? null : RecordShapes.Time(r[0].CommittedAtTicks);
    }
}
