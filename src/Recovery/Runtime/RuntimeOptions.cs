namespace Middleware.Recovery.Runtime;

/// <summary>
/// The values a runtime runs with (checked by <see cref="Validate"/> when it starts). What it talks to besides its store
/// (back ends, the way component calls leave it, how it claims components, session items, its clock) is in
/// <see cref="RuntimeEnvironment"/>. A silo composes these values into its own options (<c>SiloOptions.Runtime</c>).
/// </summary>
public sealed class RuntimeOptions
{
    /// <summary>Write a checkpoint after this many logged turns of a component (default 1000).</summary>
    public int CheckpointEveryTurns { get; set; } = 1000;

    /// <summary>Write a checkpoint when a turn ends this long after the component's last one (default 5 minutes).</summary>
    public TimeSpan CheckpointInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// How much sooner an activation may write its first checkpoint (default 1: anywhere from its first turn; 0: exactly at
    /// <see cref="CheckpointEveryTurns"/> and <see cref="CheckpointInterval"/>; at most 1): the first checkpoint of each
    /// activation comes after <c>CheckpointEveryTurns × (1 − spread × f)</c> turns (at least one), or that fraction of the
    /// interval, where f in [0, 1) is fixed by the component's id; later ones every <see cref="CheckpointEveryTurns"/>.
    /// Components activated together (a silo's start, a takeover, a benchmark) and loaded alike would otherwise reach
    /// the threshold together, and each checkpoint also writes the dedup entry of every turn since the last one: on
    /// SQLite with 1,000 equally loaded components that was a burst of a million rows, seconds at a quarter of the rate.
    /// </summary>
    public double CheckpointSpread { get; set; } = 1;

    /// <summary>
    /// Debugging aid (default false): after every logged turn, check that the state survives a JSON round trip, as every
    /// checkpoint does, to find the turn that first puts a value into state that a checkpoint would lose. A mismatch is
    /// logged (at Error, once per activation, with the turn's seq, request and the first JSON path that differs) and
    /// counted (<see cref="RuntimeCounters.CountStateLoss"/>); the turn and its reply stand and serving goes on. Costs a
    /// serialization, a deserialization and a second serialization of the state per turn; off, it costs nothing.
    /// </summary>
    public bool VerifyStateEveryTurn { get; set; }

    /// <summary>
    /// Deactivate a component that served no request for this long (default 15 minutes; <see cref="TimeSpan.Zero"/>: never):
    /// its last turn is made durable, a checkpoint is written when the log grew since the last one, and its memory is
    /// freed. Its next request activates it again (claim, latest checkpoint, short tail). A mirror's standby that was
    /// shipped nothing for this long is dropped too (the next shipment bootstraps it again).
    /// </summary>
    public TimeSpan DeactivateIdleAfter { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>
    /// The most live activations (a mirror's standbys included) this runtime keeps (default 100,000; 0: no limit). Past
    /// it, the least recently used idle ones are deactivated (as after <see cref="DeactivateIdleAfter"/>) until a tenth of
    /// the limit is free again. Activations with a request in flight or a turn in doubt are never taken.
    /// </summary>
    public int MaxActivations { get; set; } = 100_000;

    /// <summary>
    /// The most log records after a component's last checkpoint that an eviction past <see cref="MaxActivations"/> leaves
    /// in place instead of writing a checkpoint first (default 0: every eviction whose log grew writes one). The next
    /// activation reads them in the same read as the checkpoint and replays them (their request ids dedup as after a
    /// crash); an eviction with a longer tail checkpoints first, so a replay after an eviction is never longer than this.
    /// Idle deactivation (<see cref="DeactivateIdleAfter"/>), moves and shutdown always checkpoint when the log grew.
    /// At random keys over many more components than the limit nearly every request is an activation and an eviction:
    /// this saves the eviction's checkpoint write: at a million components with the default limit, 8 gave +15-27 % warm
    /// throughput and ~110-190 MiB more RSS (the tails' remembered replies), so it is off unless set (bench/README.md,
    /// "Warm under the cap (session 15)").
    /// </summary>
    public int EvictionTailRecords { get; set; }

    /// <summary>
    /// The deadline of a component call made inside a turn (default 30 s; <see cref="Timeout.InfiniteTimeSpan"/>: none);
    /// <c>Context.Call&lt;T&gt;(key, timeout)</c> overrides it per call. When it passes, the callee's request id is settled
    /// through the outcome protocol: committed meanwhile, the call returns the real reply; else it is fenced for good and
    /// the call throws <c>CallTimeoutException</c>, recorded as the call's outcome (replay reproduces it).
    /// </summary>
    public TimeSpan CallTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The most records the group-commit writer puts in one store transaction (default 1024).</summary>
    public int MaxBatchSize { get; set; } = 1024;

    /// <summary>
    /// An activation started by a request lets its claim ride in its first write where the store and the ownership policy
    /// can (<see cref="Storage.ILogStore.SupportsClaimInAppend"/>): a cold request is then one commit instead of two (the
    /// claim's, then the turn's). True by default; false claims first, as stores without the capability always do.
    /// </summary>
    public bool ClaimInFirstWrite { get; set; } = true;

    /// <summary>
    /// A turn's call to a component of this runtime leaves without waiting for the turn's partial record, where the store
    /// orders dependent records in one transaction (<see cref="Storage.ILogStore.SupportsGroupDependencies"/>): the callee's
    /// records are then written only with or after that partial record, and whatever would take the call out of the runtime
    /// waits for it (docs/ARCHITECTURE.md). A transfer then waits for one commit less. True by default; false waits before
    /// every call, as stores without the capability always do.
    /// </summary>
    public bool OrderLocalCalls { get; set; } = true;

    /// <summary>The owner id recorded when this runtime claims a component (default: a new id; a silo uses its silo id).</summary>
    public string OwnerId { get; set; } = "runtime-" + Guid.NewGuid().ToString("N")[..12];

    /// <summary>
    /// Every value out of range, as (property name, problem and the allowed range): the one list of rules, which
    /// <see cref="Validate"/> reports under these property names and hosts (a silo) under their own setting names.
    /// </summary>
    public IEnumerable<(string Property, string Problem)> Problems()
    {
        if (CheckpointEveryTurns < 1)
            yield return (nameof(CheckpointEveryTurns), $"is {CheckpointEveryTurns}; set it to 1 or more (default 1000)");
        if (CheckpointInterval <= TimeSpan.Zero)
            yield return (nameof(CheckpointInterval), $"is {CheckpointInterval}; set it to a positive time span (default 5 minutes)");
        if (!(CheckpointSpread is >= 0 and <= 1))
            yield return (nameof(CheckpointSpread), $"is {CheckpointSpread}; set it between 0 (checkpoint exactly every CheckpointEveryTurns turns) and 1 (default 1)");
        if (DeactivateIdleAfter < TimeSpan.Zero)
            yield return (nameof(DeactivateIdleAfter), $"is {DeactivateIdleAfter}; set it to a positive time span, or zero to never deactivate idle components (default 15 minutes)");
        if (MaxActivations < 0)
            yield return (nameof(MaxActivations), $"is {MaxActivations}; set it to 1 or more, or 0 for no limit (default 100000)");
        if (EvictionTailRecords is < 0 or > 1000)
            yield return (nameof(EvictionTailRecords), $"is {EvictionTailRecords}; set it between 0 (an eviction always checkpoints when the log grew) and 1000 (default 0)");
        if (CallTimeout != Timeout.InfiniteTimeSpan && (CallTimeout <= TimeSpan.Zero || CallTimeout > TimeSpan.FromDays(1)))
            yield return (nameof(CallTimeout), $"is {CallTimeout}; set it to a positive time span up to one day, or Timeout.InfiniteTimeSpan for no deadline (default 30 seconds)");
        if (MaxBatchSize is < 1 or > 100_000)
            yield return (nameof(MaxBatchSize), $"is {MaxBatchSize}; set it between 1 and 100000 (default 1024)");
        if (string.IsNullOrWhiteSpace(OwnerId))
            yield return (nameof(OwnerId), "is empty; leave it unset for a generated id or give this runtime a name");
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first setting out of range and the allowed range.</summary>
    public void Validate()
    {
        foreach (var (property, problem) in Problems())
            throw new ArgumentException($"RuntimeOptions.{property} {problem}.", property);
    }
}
