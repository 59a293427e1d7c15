using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Middleware.Recovery.Runtime;

/// <summary>Why a request failed without an outcome of the component's own. Labels of <see cref="RuntimeCounters"/>; stable names.</summary>
public static class FailureCause
{
    /// <summary>The log store failed or was unreachable.</summary>
    public const string Store = "store";

    /// <summary>A back-end database was missing, unreachable or misconfigured.</summary>
    public const string Backend = "backend";

    /// <summary>A component call could not be delivered.</summary>
    public const string ComponentCall = "component_call";

    /// <summary>A session item could not be read.</summary>
    public const string Session = "session";

    /// <summary>Replay (or a resumed turn) did not reproduce the log with the current code.</summary>
    public const string Divergence = "divergence";

    /// <summary>A record or checkpoint could not be read (undecodable, a gap, a bad hash).</summary>
    public const string Corrupt = "corrupt";

    /// <summary>The activation was fenced by a newer owner.</summary>
    public const string Fenced = "fenced";

    /// <summary>Anything else that made an activation fail.</summary>
    public const string Other = "other";
}

/// <summary>
/// What a runtime counts for operators, by kind and cause: failures that were not the component's own outcome,
/// activations that failed, quarantines, refused checkpoints. Read as a snapshot (a silo's <c>/metrics</c> writes them
/// with labels) and published through the <c>Middleware.Engine</c> <see cref="Meter"/> for any metrics exporter.
/// </summary>
public sealed class RuntimeCounters
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "Middleware.Engine";

    private static readonly Meter Meter = EngineTelemetry.Meter;
    private static readonly Counter<long> TurnFailures = Meter.CreateCounter<long>("middleware.engine.turn_failures", description: "Requests that failed without an outcome of the component's own, by cause.");
    private static readonly Counter<long> ActivationFailures = Meter.CreateCounter<long>("middleware.engine.activation_failures", description: "Activations that failed, by cause.");
    private static readonly Counter<long> Quarantines = Meter.CreateCounter<long>("middleware.engine.quarantines", description: "Components quarantined, by cause.");
    private static readonly Counter<long> RefusedCheckpoints = Meter.CreateCounter<long>("middleware.engine.checkpoints_refused", description: "Checkpoints refused because the state did not survive serialization.");
    private static readonly Counter<long> MirrorDivergences = Meter.CreateCounter<long>("middleware.engine.mirror_divergences", description: "Turns or checkpoints a mirror's standby did not reproduce.");
    private static readonly Counter<long> StateLosses = Meter.CreateCounter<long>("middleware.engine.state_losses", description: "Turns after which the state did not survive serialization (RuntimeOptions.VerifyStateEveryTurn).");

    private readonly ConcurrentDictionary<(string Kind, string Cause), long> _counts = new();

    /// <summary>Kinds of counts: the <c>kind</c> part of <see cref="Snapshot"/>.</summary>
    public const string TurnFailure = "turn_failure", ActivationFailure = "activation_failure", Quarantine = "quarantine", RefusedCheckpoint = "checkpoint_refused";

    /// <summary>Kind of count: a turn left a state that did not survive serialization (<see cref="RuntimeOptions.VerifyStateEveryTurn"/>).</summary>
    public const string TurnStateLoss = "state_loss";

    /// <summary>A request failed without an outcome of the component's own.</summary>
    public void CountTurnFailure(string cause) => Add(TurnFailure, cause, TurnFailures);

    /// <summary>An activation failed.</summary>
    public void CountActivationFailure(string cause) => Add(ActivationFailure, cause, ActivationFailures);

    /// <summary>A component was quarantined.</summary>
    public void CountQuarantine(string cause) => Add(Quarantine, cause, Quarantines);

    /// <summary>A checkpoint was refused because the state did not round-trip.</summary>
    public void CountRefusedCheckpoint() => Add(RefusedCheckpoint, "state_lost", RefusedCheckpoints);

    /// <summary>A turn left a state that did not survive serialization (checked only with <see cref="RuntimeOptions.VerifyStateEveryTurn"/>).</summary>
    public void CountStateLoss() => Add(TurnStateLoss, "turn_check", StateLosses);

    private static readonly Counter<long> Deactivations = Meter.CreateCounter<long>("middleware.engine.deactivations", description: "Activations deactivated by the collector, by cause (idle, capacity; _standby for a mirror's standbys).");

    private static readonly Histogram<double> ActivationDuration = Meter.CreateHistogram<double>("middleware.engine.activation.duration", unit: "ms", description: "Time from creating an activation to serving (claim, checkpoint, log tail).");
    private long _activations;
    private long _activationMicros;

    /// <summary>Activations that reached serving, and the total time they took (for a mean: <c>middleware_activation_seconds</c>).</summary>
    public (long Count, TimeSpan Total) Activations => (Interlocked.Read(ref _activations), TimeSpan.FromTicks(Interlocked.Read(ref _activationMicros) * 10));

    /// <summary>An activation reached serving after <paramref name="elapsed"/>.</summary>
    public void CountActivation(TimeSpan elapsed)
    {
        Interlocked.Increment(ref _activations);
        Interlocked.Add(ref _activationMicros, elapsed.Ticks / 10);
        ActivationDuration.Record(elapsed.TotalMilliseconds);
    }

    /// <summary>Kind of count: the collector deactivated an activation (cause: <see cref="DeactivationReason"/>).</summary>
    public const string Deactivation = "deactivation";

    /// <summary>The collector deactivated an activation or dropped a standby.</summary>
    public void CountDeactivation(string cause) => Add(Deactivation, cause, Deactivations);

    /// <summary>Kind of count: a mirror's standby did not reproduce a shipped turn or checkpoint.</summary>
    public const string MirrorDivergence = "mirror_divergence";

    /// <summary>A mirror's standby did not reproduce a shipped turn or checkpoint.</summary>
    public void CountMirrorDivergence() => Add(MirrorDivergence, FailureCause.Divergence, MirrorDivergences);

    /// <summary>Kind of count: a component call passed its deadline (cause <c>deadline</c>) or was cancelled to break a deadlock (cause <c>deadlock</c>).</summary>
    public const string CallCancelled = "call_cancelled";

    private static readonly Counter<long> CallsCancelled = Meter.CreateCounter<long>("middleware.engine.calls_cancelled", description: "Component calls cancelled by their deadline or to break a deadlock, by cause.");

    /// <summary>A component call was cancelled: its deadline passed, or it was the youngest waiter of a deadlock.</summary>
    public void CountCallCancelled(bool deadlock) => Add(CallCancelled, deadlock ? "deadlock" : "deadline", CallsCancelled);

    /// <summary>Every count so far, by kind and cause.</summary>
    public IReadOnlyDictionary<(string Kind, string Cause), long> Snapshot() => new Dictionary<(string, string), long>(_counts);

    private void Add(string kind, string cause, Counter<long> instrument)
    {
        _counts.AddOrUpdate((kind, cause), 1, static (_, n) => n + 1);
        instrument.Add(1, new KeyValuePair<string, object?>("cause", cause));
    }
}
