using System.Diagnostics;
using System.Diagnostics.Metrics;
using Middleware.Protocol;

namespace Middleware.Silo;

/// <summary>
/// The silo's meter and activity source, both named <c>Middleware.Silo</c>: the request span a silo starts for each
/// Invoke (continuing the caller's trace from the frame's trace context), the push instruments (sessions, forwards by
/// peer) and the name under which <see cref="SiloMetrics"/> publishes its observable instruments.
/// </summary>
public static class SiloTelemetry
{
    /// <summary>The name of the silo's meter and activity source.</summary>
    public const string Name = "Middleware.Silo";

    /// <summary>Tag: the silo id.</summary>
    public const string SiloTag = "silo";

    /// <summary>Tag: the other silo's address (forwarding, mirroring).</summary>
    public const string PeerTag = "peer";

    /// <summary>The silo's push instruments.</summary>
    public static readonly Meter Meter = new(Name, "1.0");

    /// <summary>The silo's spans: one per request received (kind Server).</summary>
    public static readonly ActivitySource Source = new(Name, "1.0");

    private static readonly Counter<long> Sessions = Meter.CreateCounter<long>("middleware.silo.sessions", "{operation}",
        "Session operations answered (open, reserve, prove, set, close), by operation.");

    private static readonly Counter<long> Forwards = Meter.CreateCounter<long>("middleware.silo.forwards", "{request}",
        "Requests forwarded to the owner on another silo, by peer address.");

    /// <summary>Counts one session operation.</summary>
    internal static void CountSession(string method)
    {
        if (Sessions.Enabled) Sessions.Add(1, new KeyValuePair<string, object?>("operation", method.StartsWith("$session.", StringComparison.Ordinal) ? method[9..] : method));
    }

    /// <summary>Counts one forward to <paramref name="peer"/>.</summary>
    internal static void CountForward(string peer)
    {
        if (Forwards.Enabled) Forwards.Add(1, new KeyValuePair<string, object?>(PeerTag, peer));
    }

    /// <summary>
    /// Starts the span of a request received from a peer (null when nothing listens or for control operations), a child of
    /// the trace context the Invoke carried.
    /// </summary>
    internal static Activity? StartRequest(InvokeMessage request)
    {
        if (!Source.HasListeners() || (request.Flags & (InvokeFlags.Control | InvokeFlags.Outcome)) != 0) return null;
        ActivityContext parent = default;
        if (request.TraceParent is { } traceParent) ActivityContext.TryParse(traceParent, request.TraceState, isRemote: true, out parent);
        var activity = Source.StartActivity(request.ComponentType + "." + request.Method, ActivityKind.Server, parent);
        if (activity is null) return null;
        activity.SetTag(Recovery.Runtime.EngineTelemetry.ComponentIdAttribute, request.ComponentType + "/" + request.Key);
        activity.SetTag(Recovery.Runtime.EngineTelemetry.RequestIdAttribute, request.RequestId);
        activity.SetTag(Recovery.Runtime.EngineTelemetry.MethodAttribute, request.Method);
        return activity;
    }

    /// <summary><paramref name="request"/> carrying the current span's trace context (unchanged when there is none).</summary>
    internal static InvokeMessage WithTraceContext(InvokeMessage request) =>
        Activity.Current is { IdFormat: ActivityIdFormat.W3C } current
            ? request with { TraceParent = current.Id, TraceState = current.TraceStateString }
            : request;
}
