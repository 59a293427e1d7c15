using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;

namespace Middleware.Client;

/// <summary>
/// The client's meter and activity source (both <c>Middleware.Client</c>) and every event id it logs with (2000-2099).
/// A call is one span (kind Client) whose W3C context travels in the Invoke, so the silo's request, turn, component
/// calls and commit join the caller's trace. Nothing is measured or traced when nothing listens.
/// </summary>
public static partial class ClientTelemetry
{
    /// <summary>The name of the client's meter and activity source.</summary>
    public const string Name = "Middleware.Client";

    /// <summary>The client's meter.</summary>
    public static readonly Meter Meter = new(Name, "1.0");

    /// <summary>The client's spans: one per call.</summary>
    public static readonly ActivitySource Source = new(Name, "1.0");

    /// <summary>A call was retried (Debug: retries are normal during a failover).</summary>
    public static readonly EventId RetryId = new(2001, "CallRetried");

    /// <summary>A call failed after its attempts or deadline (Warning).</summary>
    public static readonly EventId UnavailableId = new(2002, "ClusterUnavailable");

    /// <summary>The client opened or resumed its session (Debug).</summary>
    public static readonly EventId SessionId = new(2003, "SessionOpened");

    private static readonly InstrumentAdvice<double> DurationAdvice = new()
    {
        HistogramBucketBoundaries = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    };

    private static readonly Histogram<double> CallDuration = Meter.CreateHistogram("middleware.client.call.duration", "s",
        "Calls from this client, retries included, by component type, method and outcome (ok, error, failed).", advice: DurationAdvice);

    private static readonly Counter<long> Retries = Meter.CreateCounter<long>("middleware.client.retries", "{attempt}",
        "Attempts repeated with the same request id (transport failure, Unavailable, Moved), by reason.");

    private static readonly Counter<long> Sessions = Meter.CreateCounter<long>("middleware.client.sessions", "{session}",
        "Sessions this process opened or resumed.");

    /// <summary>True when the call needs a timestamp or a span.</summary>
    internal static bool Observed => CallDuration.Enabled || Source.HasListeners();

    internal static void RecordCall(long startTimestamp, string type, string method, string outcome)
    {
        if (CallDuration.Enabled)
            CallDuration.Record(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds, new("component.type", type), new("method", method), new("outcome", outcome));
    }

    internal static void CountRetry(string reason)
    {
        if (Retries.Enabled) Retries.Add(1, new KeyValuePair<string, object?>("reason", reason));
    }

    internal static void CountSession()
    {
        if (Sessions.Enabled) Sessions.Add(1);
    }

    [LoggerMessage(EventId = 2001, EventName = "CallRetried", Level = LogLevel.Debug, Message = "Request {RequestId} ({Target}) is retried after attempt {Attempt}: {Cause}")]
    internal static partial void Retried(ILogger logger, string requestId, string target, int attempt, string cause);

    [LoggerMessage(EventId = 2002, EventName = "ClusterUnavailable", Level = LogLevel.Warning, Message = "Request {RequestId} ({Target}) got no final answer after {Attempts} attempt(s): {Cause}")]
    internal static partial void Unavailable(ILogger logger, string requestId, string target, int attempts, string cause);

    [LoggerMessage(EventId = 2003, EventName = "SessionOpened", Level = LogLevel.Debug, Message = "Session {SessionId} open with gateways {Gateways}")]
    internal static partial void SessionOpened(ILogger logger, string sessionId, string gateways);
}
