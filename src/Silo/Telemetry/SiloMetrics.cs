using System.Diagnostics.Metrics;
using System.Text;
using Microsoft.Extensions.Configuration;
using Middleware.Transport;

namespace Middleware.Silo;

/// <summary>
/// One silo's observable instruments (meter <c>Middleware.Silo</c>, each measurement tagged with the silo id): requests
/// served, forwarded and re-routed, activations, live silos, transport frames and bytes, connections, mirroring lag and
/// takeovers. They read the silo's existing counters only when collected, so they cost nothing per request. Also owns the
/// <see cref="InstrumentCollector"/> that <c>/metrics</c> writes; <c>MIDDLEWARE_METRICS=off</c> (or <c>Silo:Metrics</c>)
/// turns the collector off, leaving the instruments to whatever exporter the host attaches.
/// </summary>
public sealed class SiloMetrics : IDisposable
{
    private readonly Meter _meter;
    private readonly InstrumentCollector? _collector;

    /// <summary>Publishes the instruments of <paramref name="silo"/> and starts collecting them for <c>/metrics</c>.</summary>
    public SiloMetrics(SiloRuntime silo, TransportMetrics transport, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(transport);
        ArgumentNullException.ThrowIfNull(configuration);
        _meter = new Meter(SiloTelemetry.Name, "1.0");
        var tag = new KeyValuePair<string, object?>(SiloTelemetry.SiloTag, silo.Options.SiloId);
        Measurement<long> M(long value) => new(value, tag);
        Measurement<long> Dir(long value, string direction) => new(value, tag, new KeyValuePair<string, object?>("direction", direction));

        _meter.CreateObservableCounter("middleware.silo.requests.served", () => M(silo.Router.Stats.Served), "{request}", "Requests run by this silo's runtime.");
        _meter.CreateObservableCounter("middleware.silo.requests.forwarded", () => M(silo.Router.Stats.Forwarded), "{request}", "Requests forwarded to the owner on another silo.");
        _meter.CreateObservableCounter("middleware.silo.requests.rerouted", () => M(silo.Router.Stats.Reroutes), "{attempt}", "Route attempts repeated after an unreachable owner, a move or a fence.");
        _meter.CreateObservableGauge("middleware.silo.activations", () => M(silo.RuntimeOrNull?.ActivationCount ?? 0), "{activation}", "Live component activations.");
        _meter.CreateObservableGauge("middleware.silo.calls.waiting", () => M(silo.RuntimeOrNull?.WaitingCalls ?? 0), "{call}", "Component calls made by this silo's turns that wait for their reply now (a turn parked in a call).");
        _meter.CreateObservableGauge("middleware.silo.live_silos", () => M(silo.Membership?.Live.Count ?? 0), "{silo}", "Live silos in this silo's view.");
        _meter.CreateObservableCounter("middleware.silo.rejoins", () => M(silo.Membership?.Rejoins ?? 0), "{rejoin}", "Times this silo found itself declared dead and rejoined.");
        _meter.CreateObservableCounter("middleware.silo.declared_dead", () => M(silo.Mirroring?.DeclaredDead ?? 0), "{silo}", "Silos this silo declared dead on direct evidence.");
        _meter.CreateObservableCounter("middleware.silo.transport.frames", () => (IEnumerable<Measurement<long>>)[Dir(transport.FramesIn, "in"), Dir(transport.FramesOut, "out")], "{frame}", "Protocol frames after the handshake, by direction.");
        _meter.CreateObservableCounter("middleware.silo.transport.bytes", () => (IEnumerable<Measurement<long>>)[Dir(transport.BytesIn, "in"), Dir(transport.BytesOut, "out")], "By", "Bytes of protocol frames after the handshake, by direction.");
        _meter.CreateObservableGauge("middleware.silo.transport.connections", () => M(transport.ConnectionsActive), "{connection}", "Protocol connections open now.");
        _meter.CreateObservableCounter("middleware.silo.mirror.takeovers", () =>
        {
            var mirrors = silo.RuntimeOrNull?.Mirrors;
            return (IEnumerable<Measurement<long>>)[new(mirrors?.WarmTakeovers ?? 0, tag, new("kind", "warm")), new(mirrors?.ColdTakeovers ?? 0, tag, new("kind", "cold"))];
        }, "{component}", "Components taken over from another owner: warm (from a standby) or cold (log replay).");
        _meter.CreateObservableGauge("middleware.silo.mirror.lag_records", () =>
            silo.Shipper?.Lag().Select(l => new Measurement<long>(l.PendingRecords, tag, new(SiloTelemetry.PeerTag, l.Mirror))) ?? [],
            "{record}", "Records shipped to a mirror and not yet acknowledged, by mirror address.");
        _meter.CreateObservableGauge("middleware.silo.mirror.lag", () =>
            silo.Shipper?.Lag().Select(l => new Measurement<double>(l.LastLagMs / 1000, tag, new(SiloTelemetry.PeerTag, l.Mirror))) ?? [],
            "s", "Commit-to-acknowledgement time of the last shipment to a mirror, by mirror address.");
        _meter.CreateObservableCounter("middleware.silo.mirror.records_shipped", () => M(silo.Shipper?.RecordsShipped ?? 0), "{record}", "Durable records shipped to mirrors (acknowledged).");

        var setting = configuration["Silo:Metrics"] ?? configuration["MIDDLEWARE_METRICS"] ?? Environment.GetEnvironmentVariable("MIDDLEWARE_METRICS");
        Enabled = setting?.Trim().ToLowerInvariant() switch
        {
            null or "" or "on" or "true" => true,
            "off" or "false" => false,
            _ => throw new ArgumentException($"MIDDLEWARE_METRICS / Silo:Metrics is '{setting}'; use 'on' (the default: /metrics writes the Middleware.* instruments) or 'off' (only the built-in counters)."),
        };
        if (Enabled) _collector = new InstrumentCollector(instrument =>
            instrument.Meter == _meter || ReferenceEquals(instrument.Meter, SiloTelemetry.Meter) || ReferenceEquals(instrument.Meter, Recovery.Runtime.EngineTelemetry.Meter));
    }

    /// <summary>False when <c>MIDDLEWARE_METRICS=off</c>: <c>/metrics</c> writes only its built-in counters.</summary>
    public bool Enabled { get; }

    /// <summary>Appends every collected instrument in the Prometheus text format.</summary>
    internal void WritePrometheus(StringBuilder text) => _collector?.Write(text);

    /// <inheritdoc />
    public void Dispose()
    {
        _collector?.Dispose();
        _meter.Dispose();
    }
}
