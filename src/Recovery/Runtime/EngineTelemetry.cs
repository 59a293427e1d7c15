using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Middleware.Recovery.Runtime;

/// <summary>
/// The engine's instruments (<see cref="System.Diagnostics.Metrics"/>) and spans (<see cref="ActivitySource"/>), both
/// named <c>Middleware.Engine</c>. Every instrument and span costs a branch when nothing listens: histograms and
/// counters check <see cref="Instrument.Enabled"/>, spans come from <see cref="ActivitySource.StartActivity(string, ActivityKind)"/>,
/// which returns null without a listener. Replay never records or traces anything (only live turns do).
/// </summary>
public static class EngineTelemetry
{
    /// <summary>The name of the engine's meter and activity source.</summary>
    public const string Name = "Middleware.Engine";

    /// <summary>Tag: the component type (registered name).</summary>
    public const string ComponentTypeTag = "component.type";

    /// <summary>Tag: the method or procedure name.</summary>
    public const string MethodTag = "method";

    /// <summary>Tag: <c>ok</c>, <c>error</c> (the component's own recorded error) or <c>failed</c> (not recorded: retried).</summary>
    public const string OutcomeTag = "outcome";

    /// <summary>Tag: the log store's provider name.</summary>
    public const string StoreTag = "store";

    /// <summary>Tag: the store operation (<c>append</c>, <c>read</c>, <c>claim</c>).</summary>
    public const string OperationTag = "operation";

    /// <summary>Span attribute: the request id (exactly-once id; deterministic for calls a turn makes).</summary>
    public const string RequestIdAttribute = "middleware.request_id";

    /// <summary>Span attribute: the component id (<c>Type/Key</c>).</summary>
    public const string ComponentIdAttribute = "middleware.component_id";

    /// <summary>Span attribute: the method or procedure name.</summary>
    public const string MethodAttribute = "middleware.method";

    /// <summary>Span attribute: the log seq a turn's record got.</summary>
    public const string SeqAttribute = "middleware.seq";

    /// <summary>The bucket bounds (seconds) of every duration histogram: 50 µs to 10 s.</summary>
    public static readonly IReadOnlyList<double> DurationBuckets =
        [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    /// <summary>The bucket bounds of the commit batch size histogram (records per store transaction).</summary>
    public static readonly IReadOnlyList<long> BatchBuckets = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

    /// <summary>The engine's meter.</summary>
    public static readonly Meter Meter = new(Name, "1.0");

    /// <summary>The engine's spans: turns, component calls, back-end procedures, durable commits.</summary>
    public static readonly ActivitySource Source = new(Name, "1.0");

    private static readonly InstrumentAdvice<double> DurationAdvice = new() { HistogramBucketBoundaries = DurationBuckets };

    /// <summary>Turn latency from the request entering the activation to its reply being durable; tags type, method, outcome.</summary>
    internal static readonly Histogram<double> TurnDuration = Meter.CreateHistogram("middleware.engine.turn.duration", "s",
        "Turns: from the request entering its activation to its durable reply, by component type, method and outcome.", advice: DurationAdvice);

    /// <summary>Time a turn's record waited to be durable (enqueue to commit); tags type.</summary>
    internal static readonly Histogram<double> CommitDuration = Meter.CreateHistogram("middleware.engine.commit.duration", "s",
        "Durable commit of a turn's record: from handing it to the group-commit writer to the store's commit, by component type.", advice: DurationAdvice);

    /// <summary>Records per store transaction of the group-commit writer; tag store.</summary>
    internal static readonly Histogram<long> CommitBatchSize = Meter.CreateHistogram("middleware.engine.commit.batch_size", "{record}",
        "Log records per store transaction of the group-commit writer, by store.", advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = BatchBuckets });

    /// <summary>Store operation latency; tags store, operation.</summary>
    internal static readonly Histogram<double> StoreDuration = Meter.CreateHistogram("middleware.engine.store.duration", "s",
        "Log store operations (append, read, claim), by store and operation.", advice: DurationAdvice);

    /// <summary>Activations started (claimed and recovered); tag type.</summary>
    internal static readonly Counter<long> Activations = Meter.CreateCounter<long>("middleware.engine.activations", "{activation}",
        "Activations that finished recovery and serve, by component type.");

    /// <summary>Activations ended gracefully (deactivated, moved); tag type.</summary>
    internal static readonly Counter<long> Deactivations = Meter.CreateCounter<long>("middleware.engine.deactivations", "{activation}",
        "Activations deactivated gracefully (idle, moved, shutdown), by component type.");

    /// <summary>Log records replayed during activations; tag type.</summary>
    internal static readonly Counter<long> ReplayedRecords = Meter.CreateCounter<long>("middleware.engine.replays", "{record}",
        "Log records replayed to rebuild state at activation (after the checkpoint), by component type.");

    /// <summary>Checkpoints written; tag type.</summary>
    internal static readonly Counter<long> Checkpoints = Meter.CreateCounter<long>("middleware.engine.checkpoints", "{checkpoint}",
        "Checkpoints written, by component type.");

    /// <summary>Ownership claims (each one an epoch bump); tag outcome (claimed, owned_elsewhere, conflict).</summary>
    internal static readonly Counter<long> Claims = Meter.CreateCounter<long>("middleware.engine.claims", "{claim}",
        "Ownership claims of components; a claimed one is an epoch bump. By outcome: claimed, owned_elsewhere, conflict.");

    /// <summary>The provider part of a store's name (<c>sqlite:/path</c> → <c>sqlite</c>): no paths or hosts in labels.</summary>
    internal static string StoreLabel(string storeName)
    {
        var colon = storeName.IndexOf(':', StringComparison.Ordinal);
        return colon > 0 ? storeName[..colon] : storeName;
    }

    /// <summary>Starts a span when something listens (null otherwise).</summary>
    internal static Activity? Start(string name, ActivityKind kind, string componentId, string requestId, string method)
    {
        if (!Source.HasListeners()) return null;
        var activity = Source.StartActivity(name, kind);
        if (activity is null) return null;
        activity.SetTag(ComponentIdAttribute, componentId);
        activity.SetTag(RequestIdAttribute, requestId);
        activity.SetTag(MethodAttribute, method);
        return activity;
    }

    /// <summary>Records a turn's latency (when the histogram is observed).</summary>
    internal static void RecordTurn(long startTimestamp, string type, string method, string outcome)
    {
        if (!TurnDuration.Enabled) return;
        TurnDuration.Record(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds,
            new KeyValuePair<string, object?>(ComponentTypeTag, type),
            new KeyValuePair<string, object?>(MethodTag, method),
            new KeyValuePair<string, object?>(OutcomeTag, outcome));
    }

    /// <summary>Records a duration since <paramref name="startTimestamp"/> tagged by component type.</summary>
    internal static void RecordDuration(Histogram<double> histogram, long startTimestamp, string type) =>
        histogram.Record(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds, new KeyValuePair<string, object?>(ComponentTypeTag, type));

    /// <summary>Adds one to a counter tagged by component type (when observed).</summary>
    internal static void Count(Counter<long> counter, string type, long value = 1)
    {
        if (counter.Enabled) counter.Add(value, new KeyValuePair<string, object?>(ComponentTypeTag, type));
    }

    /// <summary>Counts one ownership claim by outcome (when observed).</summary>
    internal static void CountClaim(string outcome)
    {
        if (Claims.Enabled) Claims.Add(1, new KeyValuePair<string, object?>(OutcomeTag, outcome));
    }

    /// <summary>Records a store operation (when observed).</summary>
    internal static void RecordStore(long startTimestamp, string store, string operation)
    {
        if (StoreDuration.Enabled)
            StoreDuration.Record(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds,
                new KeyValuePair<string, object?>(StoreTag, store), new KeyValuePair<string, object?>(OperationTag, operation));
    }
}
