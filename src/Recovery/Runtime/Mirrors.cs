using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Middleware.Grains;
using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;

namespace Middleware.Recovery.Runtime;

/// <summary>A checkpoint the owner made durable: its seq and the hash of its state, which a mirror compares with its own.</summary>
/// <param name="Seq">The seq the checkpoint was taken at.</param>
/// <param name="StateHash">The SHA-256 of the state's canonical JSON (<see cref="CheckpointRecord.StateHash"/>).</param>
public readonly record struct CheckpointMark(long Seq, string StateHash);

/// <summary>One standby activation as <see cref="Mirrors.List"/> reports it.</summary>
/// <param name="Component">The mirrored component.</param>
/// <param name="AppliedSeq">The last seq it applied (0 while it has not bootstrapped).</param>
/// <param name="Owner">The owner that last shipped to it (a silo id, as the shipper names itself), or null.</param>
/// <param name="LastAppliedAt">When it last applied something.</param>
/// <param name="DivergedAtSeq">The seq it diverged at and has not been rebuilt past, or 0 when it is healthy.</param>
public sealed record StandbyInfo(ComponentId Component, long AppliedSeq, string? Owner, DateTimeOffset LastAppliedAt, long DivergedAtSeq);

/// <summary>What <see cref="Mirrors.ApplyAsync"/> did with one shipment of one component.</summary>
public enum MirrorApplyOutcome
{
    /// <summary>The records were applied (or were already applied): the standby is at the shipment's last seq or later.</summary>
    Applied,

    /// <summary>The component is active here (this runtime owns it): nothing to mirror.</summary>
    OwnedHere,

    /// <summary>The standby diverged earlier and waits for a checkpoint past that turn to be rebuilt; nothing applied.</summary>
    Diverged,

    /// <summary>Applying found a divergence now (logged and counted); the standby was discarded.</summary>
    DivergedNow,

    /// <summary>The records could not be applied (the store failed, or a gap could not be filled); the standby is rebuilt on the next shipment.</summary>
    Failed,
}

/// <summary>
/// Warm standby activations of components other runtimes own (process-level mirroring, DESIGN.md). Each standby is a
/// component object kept at the owner's last shipped seq by deterministic re-execution of the shipped records with
/// their recorded nondeterminism and outbound outcomes (the replay path: nothing leaves a mirror, no back end, no
/// component call, no claim). A standby bootstraps from the store (latest checkpoint + log, read-only) and fills any gap
/// in what it is shipped from the store. Every re-executed reply is compared with the recorded one, and the state's hash
/// with the owner's at each checkpoint: a divergence is logged (component, seq, method, expected, actual), counted, and
/// the standby discarded until a checkpoint past the divergent turn lets it be rebuilt; the owner is not affected. When
/// this runtime activates a component it has a healthy standby of (the owner died or moved it here), the activation
/// starts from the standby: it claims, applies the tail the store has beyond the standby (normally nothing), and serves
/// without a cold replay.
/// </summary>
public sealed class Mirrors
{
    private readonly ConcurrentDictionary<ComponentId, Standby> _standbys = new();
    private readonly RuntimeServices _services;
    private readonly Func<ComponentId, bool> _activeHere;
    private long _applied;
    private long _fromStore;
    private long _divergences;
    private long _bootstraps;
    private long _warm;
    private long _cold;

    internal Mirrors(RuntimeServices services, Func<ComponentId, bool> activeHere)
    {
        _services = services;
        _activeHere = activeHere;
    }

    /// <summary>A head that asks a standby to catch up to whatever the store holds (a new mirror bootstrapping).</summary>
    public const long StoreHead = -1;

    /// <summary>Standby activations held now.</summary>
    public int Count => _standbys.Count;

    /// <summary>Shipped records applied (re-executed or recorded) by standbys.</summary>
    public long RecordsApplied => Interlocked.Read(ref _applied);

    /// <summary>Records standbys read from the store instead (bootstraps, gaps, lag, the tail at a takeover).</summary>
    public long RecordsFromStore => Interlocked.Read(ref _fromStore);

    /// <summary>Divergences found (a reply or a checkpoint's state hash that the current code did not reproduce).</summary>
    public long Divergences => Interlocked.Read(ref _divergences);

    /// <summary>Standbys built from the store (first shipment, after a divergence, after a reset or accept).</summary>
    public long Bootstraps => Interlocked.Read(ref _bootstraps);

    /// <summary>Activations that started from a standby (warm takeovers).</summary>
    public long WarmTakeovers => Interlocked.Read(ref _warm);

    /// <summary>Activations that took a component over from another owner without a standby (cold replay).</summary>
    public long ColdTakeovers => Interlocked.Read(ref _cold);

    /// <summary>The standbys, by component id.</summary>
    public IReadOnlyList<StandbyInfo> List() =>
        _standbys.Values.Select(s => s.Info()).OrderBy(i => i.Component.ToString(), StringComparer.Ordinal).ToList();

    /// <summary>The standby of <paramref name="id"/>, or null.</summary>
    public StandbyInfo? Find(ComponentId id) => _standbys.TryGetValue(id, out var standby) ? standby.Info() : null;

    /// <summary>
    /// Applies what the owner <paramref name="owner"/> shipped for <paramref name="id"/>: durable records in seq order
    /// (repeats are skipped, a gap is filled from the store; empty for a checkpoint alone), and the checkpoint it made
    /// durable with them, if any. <paramref name="head"/>, when larger than the last record, is a seq the log is known to
    /// have reached (an owner whose shipping buffer overflowed sends only that): the standby catches up from the store;
    /// <see cref="StoreHead"/> catches up to whatever the store holds.
    /// A component this runtime owns is not mirrored.
    /// </summary>
    public async Task<MirrorApplyOutcome> ApplyAsync(ComponentId id, string owner, IReadOnlyList<LogRecord> records, CheckpointMark? checkpoint, long head = 0, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(records);
        if (_activeHere(id))
        {
            Drop(id);
            return MirrorApplyOutcome.OwnedHere;
        }

        var type = _services.Registry.Get(id.Type);
        var standby = _standbys.GetOrAdd(id, static (i, t) => new Standby(i, t), type);
        await standby.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (standby.Taken) return MirrorApplyOutcome.OwnedHere;
            standby.Owner = owner;
            if (head == StoreHead) head = (await _services.Store.GetHeadAsync(id.ToString(), cancellationToken).ConfigureAwait(false))?.LastSeq ?? 0;
            var target = Math.Max(head, records.Count > 0 ? records[^1].Seq : 0);
            if (standby.DivergedAtSeq > 0)
            {
                // Rebuilding before a checkpoint past the divergent turn would replay it again and diverge again.
                if (checkpoint is not { } mark || mark.Seq <= standby.DivergedAtSeq) return MirrorApplyOutcome.Diverged;
                standby.DivergedAtSeq = 0;
                standby.Cursor = null;
            }

            if (standby.Cursor is null || standby.Cursor.NeedsReload)
            {
                // From the store up to what this shipment starts with; the shipped records themselves are applied below.
                var upTo = records.Count > 0 ? records[0].Seq - 1 : Math.Max(target, checkpoint?.Seq ?? 0);
                standby.Cursor = await Replayer.LoadCursorAsync(_services.Store, type, id, upTo, _services.Registry.Json, honorQuarantine: false, cancellationToken, keepTurns: false).ConfigureAwait(false);
                Interlocked.Add(ref _fromStore, standby.Cursor.LastSeq - standby.Cursor.CheckpointSeq);
                Interlocked.Increment(ref _bootstraps);
            }

            var cursor = standby.Cursor;
            var markDone = checkpoint is null;
            foreach (var record in records)
            {
                if (record.Seq <= cursor.LastSeq) continue;
                if (record.Seq > cursor.LastSeq + 1) await FillAsync(cursor, id, record.Seq - 1, cancellationToken).ConfigureAwait(false);
                if (cursor.NeedsReload) break;
                // The checkpoint's state is the state right after its seq: compare before going past it.
                if (!markDone && checkpoint!.Value.Seq <= cursor.LastSeq) markDone = CheckCheckpoint(standby, checkpoint.Value);
                await cursor.ApplyAsync(record).ConfigureAwait(false);
                Interlocked.Increment(ref _applied);
                if (cursor.NeedsReload) break; // a reset or accept: the next shipment rebuilds from its checkpoint
            }

            if (!cursor.NeedsReload && target > cursor.LastSeq) await FillAsync(cursor, id, target, cancellationToken).ConfigureAwait(false);
            if (!markDone && !cursor.NeedsReload && checkpoint!.Value.Seq <= cursor.LastSeq) CheckCheckpoint(standby, checkpoint.Value);
            standby.LastAppliedAt = _services.Time.GetUtcNow();
            return MirrorApplyOutcome.Applied;
        }
        catch (ReplayDivergenceException e)
        {
            Diverged(standby, e.Seq, e.Method, e.Expected, e.Actual);
            return MirrorApplyOutcome.DivergedNow;
        }
        catch (Exception e) when (e is InvalidDataException or StoreUnavailableException)
        {
            standby.Cursor = null;
            _services.Logger.LogWarning(EngineLog.MirrorApplyFailedId, "The standby of {Component} could not apply what {Owner} shipped ({Reason}); it is rebuilt from the store on the next shipment", id, owner, e.Message);
            return MirrorApplyOutcome.Failed;
        }
        finally
        {
            standby.Gate.Release();
        }
    }

    /// <summary>Forgets the standby of <paramref name="id"/> (this runtime is no longer its mirror).</summary>
    public void Drop(ComponentId id) => _standbys.TryRemove(id, out _);

    /// <summary>
    /// Forgets every standby that <paramref name="drop"/> accepts, given its component, the owner that last shipped to it
    /// and when it last applied a shipment (mirror placement changed).
    /// </summary>
    public int DropWhere(Func<ComponentId, string?, DateTimeOffset, bool> drop)
    {
        ArgumentNullException.ThrowIfNull(drop);
        var dropped = 0;
        foreach (var (id, standby) in _standbys)
        {
            if (drop(id, standby.Owner, standby.LastAppliedAt) && _standbys.TryRemove(new KeyValuePair<ComponentId, Standby>(id, standby))) dropped++;
        }

        return dropped;
    }

    /// <summary>Standbys not applying a shipment now, with when they last applied one (UTC ticks): the collector's candidates.</summary>
    internal IEnumerable<(ComponentId Id, long LastUsedTicks)> IdleStandbys()
    {
        foreach (var (id, standby) in _standbys)
        {
            if (standby.Gate.CurrentCount == 1 && !standby.Taken) yield return (id, standby.LastAppliedAt.UtcTicks);
        }
    }

    /// <summary>Drops the standby of <paramref name="id"/> unless it is applying a shipment now (the next shipment bootstraps it again).</summary>
    internal bool DropIfIdle(ComponentId id) =>
        _standbys.TryGetValue(id, out var standby) && standby.Gate.CurrentCount == 1 && !standby.Taken
        && _standbys.TryRemove(new KeyValuePair<ComponentId, Standby>(id, standby));

    /// <summary>
    /// Takes the standby of <paramref name="id"/> for an activation (waits for a shipment being applied): its cursor when
    /// healthy, else null. The standby leaves the table either way.
    /// </summary>
    internal async Task<ReplayCursor?> TakeAsync(ComponentId id)
    {
        if (!_standbys.TryRemove(id, out var standby)) return null;
        await standby.Gate.WaitAsync().ConfigureAwait(false);
        try
        {
            standby.Taken = true;
            return standby.DivergedAtSeq == 0 && standby.Cursor is { NeedsReload: false } cursor ? cursor : null;
        }
        finally
        {
            standby.Gate.Release();
        }
    }

    /// <summary>An activation started from a standby; <paramref name="tail"/> records came from the store on top of it.</summary>
    internal void CountWarm(long tail)
    {
        Interlocked.Increment(ref _warm);
        Interlocked.Add(ref _fromStore, tail);
    }

    /// <summary>An activation took the component over from another owner by a cold replay.</summary>
    internal void CountCold() => Interlocked.Increment(ref _cold);

    private async Task FillAsync(ReplayCursor cursor, ComponentId id, long toSeq, CancellationToken cancellationToken)
    {
        var missing = await _services.Store.ReadAsync(id.ToString(), cursor.LastSeq + 1, toSeq, cancellationToken).ConfigureAwait(false);
        foreach (var record in missing)
        {
            await cursor.ApplyAsync(record).ConfigureAwait(false);
            Interlocked.Increment(ref _fromStore);
            if (cursor.NeedsReload) return;
        }

        if (cursor.LastSeq < toSeq)
            throw new InvalidDataException($"the store's log of {id} ends at seq {cursor.LastSeq}, before seq {toSeq} the owner shipped or announced (truncated past the standby)");
    }

    /// <summary>At a checkpoint's seq: the standby's state must hash as the owner's did; then its ids up to there are forgotten.</summary>
    private bool CheckCheckpoint(Standby standby, CheckpointMark mark)
    {
        var cursor = standby.Cursor!;
        if (mark.Seq != cursor.LastSeq)
        {
            // Past it already (shipped late, or the standby was bootstrapped beyond it): the ids still go.
            cursor.Checkpointed(mark.Seq);
            return true;
        }

        var grain = (IRecoverableGrain)cursor.Grain;
        var hash = StateCodec.Hash(StateCodec.Serialize(grain.State, standby.Type.StateType, _services.Registry.Json));
        if (hash != mark.StateHash)
            throw new ReplayDivergenceException(standby.Id, mark.Seq, "(checkpoint)", $"the owner's state hash {mark.StateHash}", $"state hash {hash} after re-executing the same turns");
        cursor.Checkpointed(mark.Seq);
        return true;
    }

    private void Diverged(Standby standby, long seq, string method, string expected, string actual)
    {
        standby.Cursor = null;
        standby.DivergedAtSeq = Math.Max(seq, 1);
        Interlocked.Increment(ref _divergences);
        _services.Counters.CountMirrorDivergence();
        _services.Logger.LogError(
            EngineLog.MirrorDivergenceId,
            "Mirror divergence: {Component} at seq {Seq} ({Method}): the owner recorded {Expected}, this silo's code re-executed {Actual}. The owner keeps serving; the standby is discarded and rebuilt after the next checkpoint past seq {Seq}. Audit the code change (mw audit {Component})",
            standby.Id, seq, method, expected, actual, seq, standby.Id);
    }

    private sealed class Standby(ComponentId id, ComponentTypeInfo type)
    {
        public ComponentId Id { get; } = id;

        public ComponentTypeInfo Type { get; } = type;

        public SemaphoreSlim Gate { get; } = new(1, 1);

        public ReplayCursor? Cursor { get; set; }

        public string? Owner { get; set; }

        public long DivergedAtSeq { get; set; }

        public bool Taken { get; set; }

        public DateTimeOffset LastAppliedAt { get; set; }

        public StandbyInfo Info() => new(Id, Cursor?.LastSeq ?? 0, Owner, LastAppliedAt, DivergedAtSeq);
    }
}
