using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using Middleware.Grains;

namespace Middleware.Recovery.Runtime;

/// <summary>
/// Keeps a runtime's memory bounded: deactivates components that served nothing for
/// <see cref="RuntimeOptions.DeactivateIdleAfter"/>, and past <see cref="RuntimeOptions.MaxActivations"/> live activations
/// (standbys included) the least recently used idle ones, down to nine tenths of the limit. Deactivation is the graceful
/// one (<see cref="LocalRuntime.DeactivateAsync"/>: the last turn durable, a checkpoint when the log grew; past the limit,
/// only when more than <see cref="RuntimeOptions.EvictionTailRecords"/> records follow the last one); it waits for a
/// turn in progress, and a request that meets a deactivated activation is retried on a new one, so it never races a turn.
/// Activations with a request inside, a turn in doubt, or still recovering are left alone. A pass reads the oldest
/// buckets of a recency list (<see cref="ActivationLru"/>) that requests touch, not every live activation.
/// </summary>
internal sealed class ActivationCollector
{
    /// <summary>
    /// Deactivations run this many at a time (their checkpoints share the group-commit writer's batches). With 32, a silo
    /// activating ~4,000 cold components a second on a loaded box evicted more slowly than it activated (172,000 live
    /// against a limit of 100,000 after a million components; bench/README.md): each round waits for one commit.
    /// </summary>
    private const int Parallelism = 256;

    private readonly LocalRuntime _runtime;
    private readonly RuntimeOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationToken _stopping;
    private readonly SemaphoreSlim _signal = new(0, 1);
    private int _signalled;

    public ActivationCollector(LocalRuntime runtime, RuntimeOptions options, TimeProvider time, ILogger logger, CancellationToken stopping)
    {
        _runtime = runtime;
        _options = options;
        _time = time;
        _logger = logger;
        _stopping = stopping;
        if (options.DeactivateIdleAfter <= TimeSpan.Zero && options.MaxActivations <= 0) return;
        Lru = new ActivationLru(options.MaxActivations > 0 ? Math.Clamp(options.MaxActivations / 32, 64, 4096) : 1024, time);
        _ = RunAsync();
    }

    /// <summary>How often idle activations are looked for: a quarter of the idle age, between 100 ms and 1 minute.</summary>
    public TimeSpan ScanInterval =>
        _options.DeactivateIdleAfter <= TimeSpan.Zero
            ? TimeSpan.FromMinutes(1)
            : TimeSpan.FromTicks(Math.Clamp(_options.DeactivateIdleAfter.Ticks / 4, TimeSpan.TicksPerMillisecond * 100, TimeSpan.TicksPerMinute));

    /// <summary>The live count passed the limit: collect now rather than at the next scan.</summary>
    public void OverCapacity()
    {
        if (Interlocked.Exchange(ref _signalled, 1) == 0) _signal.Release();
    }

    private async Task RunAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            try
            {
                using var wake = CancellationTokenSource.CreateLinkedTokenSource(_stopping);
                var signal = _signal.WaitAsync(wake.Token);
                var tick = Task.Delay(ScanInterval, _time, wake.Token);
                await Task.WhenAny(signal, tick).ConfigureAwait(false);
                await wake.CancelAsync().ConfigureAwait(false);
                await Task.WhenAll(signal, tick).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                if (_stopping.IsCancellationRequested) return;
                Volatile.Write(ref _signalled, 0);
                // Woken by the limit alone: nothing to do when the passes before brought the count back under it (a signal
                // raised while the last pass was still deactivating). The idle ones are looked for at the scan interval.
                if (!tick.IsCompletedSuccessfully && !OverLimit) continue;
                await CollectAsync().ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                _logger.LogWarning(e, "Collecting idle activations failed; trying again at the next scan");
            }
        }
    }

    private int _deactivatedSinceFullGc;
    private int _fullGcs = GC.CollectionCount(2);

    /// <summary>
    /// What the collector deactivates has lived through most of the limit's turnover, so it is in the oldest generation,
    /// which only a full collection reclaims; nothing else in a silo at its limit makes the GC run one often (it did,
    /// by accident, while each pass allocated a large sorted copy of the table). Once half a limit's worth of
    /// activations were deactivated with no full collection since, a background one is asked for: the dead activations
    /// held between two are about half the live ones, which keeps the silo's memory where the limit puts it.
    /// </summary>
    private void ReclaimIfMuchGarbage(int deactivated)
    {
        if (deactivated == 0 || _options.MaxActivations <= 0) return;
        var fullGcs = GC.CollectionCount(2);
        if (fullGcs != Volatile.Read(ref _fullGcs))
        {
            Volatile.Write(ref _fullGcs, fullGcs);
            Volatile.Write(ref _deactivatedSinceFullGc, 0);
        }

        if (Interlocked.Add(ref _deactivatedSinceFullGc, deactivated) < Math.Max(_options.MaxActivations / 2, 1000)) return;
        Volatile.Write(ref _deactivatedSinceFullGc, 0);
        GC.Collect(2, GCCollectionMode.Forced, blocking: false);
        Volatile.Write(ref _fullGcs, GC.CollectionCount(2));
    }

    private bool OverLimit => _options.MaxActivations > 0 && _runtime.ActivationCount + _runtime.Mirrors.Count > _options.MaxActivations;

    /// <summary>
    /// The recency list the collector reads (null when it never runs: no idle age and no limit). Buckets hold a
    /// thirty-second of the limit: a pass (one per ~tenth of the limit's activations) reads about what it takes and one
    /// bucket more.
    /// </summary>
    internal ActivationLru? Lru { get; }

    /// <summary>A request entered <paramref name="activation"/>, or it was created: it is the most recently used now.</summary>
    public void Touch(Activation activation) => Lru?.Touch(activation);

    /// <summary>One pass: the idle ones, then the least recently used past the limit. Returns how many were deactivated.</summary>
    public async Task<int> CollectAsync()
    {
        var lru = Lru;
        if (lru is null) return 0;
        var now = _time.GetUtcNow().UtcTicks;
        var idleBefore = _options.DeactivateIdleAfter > TimeSpan.Zero ? now - _options.DeactivateIdleAfter.Ticks : long.MinValue;
        // Past the limit, at most this many are taken as the least recently used (fewer when idle ones go anyway). The
        // recency list hands over its oldest buckets, at least this many candidates; only those are ordered by last use
        // (bench/README.md, "Cold activations: the collector's list (session 11)"). Standbys are few and kept apart
        // (Mirrors): the oldest of them join the candidates.
        var limit = _options.MaxActivations;
        var mostExcess = limit > 0 ? _runtime.ActivationCount + _runtime.Mirrors.Count - limit * 9 / 10 : 0;
        if (limit > 0 && _runtime.ActivationCount + _runtime.Mirrors.Count <= limit) mostExcess = 0;
        mostExcess = Math.Max(mostExcess, 0);
        var chosen = new List<(ComponentId Id, Activation? Activation, string Reason)>(mostExcess + 16);
        var idle = new List<Activation>();
        var candidates = new List<ActivationLru.Candidate>(mostExcess > 0 ? mostExcess + lru.Capacity : 16);
        var standbys = new OldestFirst(mostExcess);
        lock (lru.Lock)
        {
            lru.Read(idleBefore, mostExcess, _runtime.ActivationCount, _runtime.Holds, idle, candidates);
            foreach (var a in idle) chosen.Add((a.Id, a, DeactivationReason.Idle));
            foreach (var (id, lastUsed) in _runtime.Mirrors.IdleStandbys())
            {
                if (lastUsed <= idleBefore) chosen.Add((id, null, DeactivationReason.Idle));
                else standbys.Offer(id, lastUsed, standby: true);
            }

            var live = _runtime.ActivationCount + _runtime.Mirrors.Count - chosen.Count;
            var excess = limit > 0 && live > limit ? live - limit * 9 / 10 : 0;
            candidates.Sort(static (a, b) => a.LastUsed.CompareTo(b.LastUsed));
            var kept = candidates;
            var oldestStandbys = standbys.Sorted();
            if (excess > 0 && oldestStandbys.Length == 0)
            {
                // No standbys (the usual case): the excess oldest activations read, in order.
                var take = Math.Min(excess, candidates.Count);
                for (var i = 0; i < take; i++) chosen.Add((candidates[i].Activation.Id, candidates[i].Activation, DeactivationReason.Capacity));
                kept = candidates.GetRange(take, candidates.Count - take);
            }
            else if (excess > 0)
            {
                // The excess oldest of the activations read and the oldest standbys, merged by last use.
                var ordered = new List<(ComponentId Id, long LastUsed, int Candidate)>(candidates.Count + oldestStandbys.Length);
                for (var i = 0; i < candidates.Count; i++) ordered.Add((candidates[i].Activation.Id, candidates[i].LastUsed, i));
                foreach (var (id, _, lastUsed) in oldestStandbys) ordered.Add((id, lastUsed, -1));
                ordered.Sort(static (a, b) => a.LastUsed.CompareTo(b.LastUsed));
                var taken = new bool[candidates.Count];
                foreach (var (id, _, i) in ordered.Take(excess))
                {
                    if (i >= 0) taken[i] = true;
                    chosen.Add((id, i >= 0 ? candidates[i].Activation : null, DeactivationReason.Capacity));
                }

                kept = [];
                for (var i = 0; i < candidates.Count; i++)
                {
                    if (!taken[i]) kept.Add(candidates[i]);
                }
            }

            lru.PutBack(kept);
        }

        if (chosen.Count == 0) return 0;
        var done = new StrongBox<int>();
        await Parallel.ForEachAsync(chosen, new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = _stopping },
            (c, ct) => DeactivateOneAsync(c.Id, c.Activation, c.Reason, lru, done, ct)).ConfigureAwait(false);
        if (done.Value > 0) _logger.LogDebug("Deactivated {Count} activations ({Live} live now)", done.Value, _runtime.ActivationCount);
        ReclaimIfMuchGarbage(done.Value);
        return done.Value;
    }

    /// <summary>
    /// Deactivates one chosen activation (or drops a standby, <paramref name="activation"/> null) if it is still idle; one
    /// async method around the activation's own deactivation (the runtime's id-based path added two more state machines
    /// per eviction: bench/README.md, "Cold activations: the collector's list (session 11)").
    /// </summary>
    private async ValueTask DeactivateOneAsync(ComponentId id, Activation? activation, string reason, ActivationLru lru, StrongBox<int> done, CancellationToken ct)
    {
        if (activation is null)
        {
            if (!_runtime.Mirrors.DropIfIdle(id)) return;
            Interlocked.Increment(ref done.Value);
            _runtime.Counters.CountDeactivation(reason + "_standby");
            return;
        }

        // Past the limit a short log tail stays (the next activation replays it); idle ones checkpoint when the log grew.
        var tailAllowed = reason == DeactivationReason.Capacity ? _options.EvictionTailRecords : 0;
        var deactivation = _runtime.StartDeactivationIfIdle(activation, ct, tailAllowed);
        if (deactivation is null)
        {
            // It left the list when it was read: back in as the newest (it was busy, or is in doubt) unless it is gone.
            if (_runtime.Holds(activation)) lru.Touch(activation);
            return;
        }

        if (await deactivation.ConfigureAwait(false) is null)
        {
            // A request entered after the look above: it keeps serving, and goes back in the list as the newest.
            if (_runtime.Holds(activation)) lru.Touch(activation);
            return;
        }

        _runtime.RemoveDeactivated(activation);
        Interlocked.Increment(ref done.Value);
        _runtime.Counters.CountDeactivation(reason);
    }
}

/// <summary>
/// The <c>capacity</c> oldest of the candidates offered (by last use): a heap whose root is the newest kept, so a
/// candidate older than it replaces it. O(n log capacity) for n offered, and capacity entries of memory.
/// </summary>
internal sealed class OldestFirst(int capacity)
{
    private readonly PriorityQueue<(ComponentId Id, bool Standby), long> _kept =
        new(Math.Min(capacity, 4096), Comparer<long>.Create(static (a, b) => b.CompareTo(a)));

    public void Offer(ComponentId id, long lastUsed, bool standby)
    {
        if (capacity == 0) return;
        if (_kept.Count < capacity) _kept.Enqueue((id, standby), lastUsed);
        else if (_kept.TryPeek(out _, out var newest) && lastUsed < newest) _kept.EnqueueDequeue((id, standby), lastUsed);
    }

    /// <summary>What was kept, least recently used first.</summary>
    public IEnumerable<(ComponentId Id, bool Standby)> InOrder()
    {
        foreach (var (id, standby, _) in Sorted()) yield return (id, standby);
    }

    /// <summary>What was kept with its last use, least recently used first.</summary>
    public (ComponentId Id, bool Standby, long LastUsed)[] Sorted()
    {
        var all = new (ComponentId Id, bool Standby, long LastUsed)[_kept.Count];
        var i = 0;
        foreach (var ((id, standby), lastUsed) in _kept.UnorderedItems) all[i++] = (id, standby, lastUsed);
        Array.Sort(all, static (a, b) => a.LastUsed.CompareTo(b.LastUsed));
        return all;
    }
}

/// <summary>Why an activation was deactivated: the <c>cause</c> label of <c>middleware_deactivations_total</c>.</summary>
public static class DeactivationReason
{
    /// <summary>It served nothing for <see cref="RuntimeOptions.DeactivateIdleAfter"/>.</summary>
    public const string Idle = "idle";

    /// <summary>The runtime was past <see cref="RuntimeOptions.MaxActivations"/> and it was among the least recently used.</summary>
    public const string Capacity = "capacity";
}
