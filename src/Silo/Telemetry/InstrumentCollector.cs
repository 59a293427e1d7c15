using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace Middleware.Silo;

/// <summary>
/// The silo's own exporter: a <see cref="MeterListener"/> over the <c>Middleware.*</c> instruments that keeps counters,
/// gauges and histograms per tag set and writes them in the Prometheus text format next to the built-in
/// <c>middleware_*</c> series. Names follow the OpenTelemetry-to-Prometheus rules: dots become underscores, the unit
/// <c>s</c> adds <c>_seconds</c> and <c>By</c> adds <c>_bytes</c>, counters end in <c>_total</c>, and tag names have
/// their dots replaced too (<c>component.type</c> is the label <c>component_type</c>). Up to four tags per measurement are kept.
/// </summary>
internal sealed class InstrumentCollector : IDisposable
{
    private static readonly double[] DefaultBuckets = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<Instrument, State> _states = new();

    public InstrumentCollector(Func<Instrument, bool> include)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (!include(instrument)) return;
            var state = _states.GetOrAdd(instrument, static i => new State(i));
            listener.EnableMeasurementEvents(instrument, state);
        };
        _listener.MeasurementsCompleted = (instrument, _) => _states.TryRemove(instrument, out State? _);
        _listener.SetMeasurementEventCallback<long>(static (_, value, tags, state) => ((State)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<int>(static (_, value, tags, state) => ((State)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<double>(static (_, value, tags, state) => ((State)state!).Record(value, tags));
        _listener.Start();
    }

    /// <summary>Collects the observable instruments and appends every series.</summary>
    public void Write(StringBuilder text)
    {
        _listener.RecordObservableInstruments();
        foreach (var group in _states.Values.GroupBy(s => s.PrometheusName).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var first = group.First();
            text.Append("# HELP ").Append(group.Key).Append(' ').Append(first.Instrument.Description?.Replace('\n', ' ') ?? "").Append('\n');
            text.Append("# TYPE ").Append(group.Key).Append(' ').Append(first.PrometheusType).Append('\n');
            foreach (var state in group) state.Write(text);
        }
    }

    public void Dispose() => _listener.Dispose();

    /// <summary>The tag values of one measurement (at most four), compared by value.</summary>
    private readonly record struct TagSet(int Count, string? K0, object? V0, string? K1, object? V1, string? K2, object? V2, string? K3, object? V3)
    {
        public static TagSet Of(ReadOnlySpan<KeyValuePair<string, object?>> tags) => tags.Length switch
        {
            0 => default,
            1 => new(1, tags[0].Key, tags[0].Value, null, null, null, null, null, null),
            2 => new(2, tags[0].Key, tags[0].Value, tags[1].Key, tags[1].Value, null, null, null, null),
            3 => new(3, tags[0].Key, tags[0].Value, tags[1].Key, tags[1].Value, tags[2].Key, tags[2].Value, null, null),
            _ => new(4, tags[0].Key, tags[0].Value, tags[1].Key, tags[1].Value, tags[2].Key, tags[2].Value, tags[3].Key, tags[3].Value),
        };

        public IEnumerable<(string Key, object? Value)> Pairs()
        {
            if (Count > 0) yield return (K0!, V0);
            if (Count > 1) yield return (K1!, V1);
            if (Count > 2) yield return (K2!, V2);
            if (Count > 3) yield return (K3!, V3);
        }
    }

    private enum Kind
    {
        Counter,
        Gauge,
        Histogram,
    }

    private sealed class Series(int buckets)
    {
        public readonly long[] Counts = new long[buckets];
        public double Sum;
        public long Count;
        public double Value;
    }

    private sealed class State
    {
        private readonly ConcurrentDictionary<TagSet, Series> _series = new();
        private readonly double[] _bounds;
        private readonly Kind _kind;
        private readonly bool _cumulative;

        public State(Instrument instrument)
        {
            Instrument = instrument;
            var type = instrument.GetType();
            var generic = type.IsGenericType ? type.GetGenericTypeDefinition() : type;
            _kind = generic == typeof(Histogram<>) ? Kind.Histogram
                : generic == typeof(ObservableGauge<>) || generic == typeof(Gauge<>) || generic == typeof(UpDownCounter<>) || generic == typeof(ObservableUpDownCounter<>) ? Kind.Gauge
                : Kind.Counter;
            _cumulative = instrument.IsObservable; // observable counters report totals, not increments
            _bounds = _kind == Kind.Histogram ? BoundsOf(instrument) : [];
            var name = instrument.Name.Replace('.', '_').Replace('-', '_');
            var unit = instrument.Unit switch
            {
                "s" => "_seconds",
                "ms" => "_milliseconds",
                "By" => "_bytes",
                _ => "",
            };
            if (!name.EndsWith(unit, StringComparison.Ordinal)) name += unit; // transport.bytes stays _bytes, not _bytes_bytes
            PrometheusName = _kind == Kind.Counter ? name + "_total" : name;
            PrometheusType = _kind switch { Kind.Counter => "counter", Kind.Gauge => "gauge", _ => "histogram" };
        }

        public Instrument Instrument { get; }

        public string PrometheusName { get; }

        public string PrometheusType { get; }

        public void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var key = TagSet.Of(tags);
            if (!_series.TryGetValue(key, out var series)) series = _series.GetOrAdd(key, _ => new Series(_bounds.Length + 1));
            lock (series)
            {
                switch (_kind)
                {
                    case Kind.Histogram:
                        var i = 0;
                        while (i < _bounds.Length && value > _bounds[i]) i++;
                        series.Counts[i]++;
                        series.Sum += value;
                        series.Count++;
                        break;
                    case Kind.Counter when !_cumulative:
                        series.Value += value;
                        break;
                    default:
                        series.Value = value;
                        break;
                }
            }
        }

        public void Write(StringBuilder text)
        {
            foreach (var (tags, series) in _series.OrderBy(s => Labels(s.Key, null), StringComparer.Ordinal))
            {
                lock (series)
                {
                    if (_kind != Kind.Histogram)
                    {
                        text.Append(PrometheusName).Append(Labels(tags, null)).Append(' ').Append(Number(series.Value)).Append('\n');
                        continue;
                    }

                    long cumulative = 0;
                    for (var i = 0; i < _bounds.Length; i++)
                    {
                        cumulative += series.Counts[i];
                        text.Append(PrometheusName).Append("_bucket").Append(Labels(tags, Number(_bounds[i]))).Append(' ').Append(cumulative.ToString(CultureInfo.InvariantCulture)).Append('\n');
                    }

                    text.Append(PrometheusName).Append("_bucket").Append(Labels(tags, "+Inf")).Append(' ').Append(series.Count.ToString(CultureInfo.InvariantCulture)).Append('\n');
                    text.Append(PrometheusName).Append("_sum").Append(Labels(tags, null)).Append(' ').Append(Number(series.Sum)).Append('\n');
                    text.Append(PrometheusName).Append("_count").Append(Labels(tags, null)).Append(' ').Append(series.Count.ToString(CultureInfo.InvariantCulture)).Append('\n');
                }
            }
        }

        private static double[] BoundsOf(Instrument instrument) => instrument switch
        {
            Histogram<double> { Advice.HistogramBucketBoundaries: { } b } => [.. b],
            Histogram<long> { Advice.HistogramBucketBoundaries: { } b } => [.. b.Select(v => (double)v)],
            Histogram<int> { Advice.HistogramBucketBoundaries: { } b } => [.. b.Select(v => (double)v)],
            _ => DefaultBuckets,
        };

        private static string Labels(TagSet tags, string? le)
        {
            if (tags.Count == 0 && le is null) return "";
            var text = new StringBuilder("{");
            foreach (var (key, value) in tags.Pairs())
            {
                if (text.Length > 1) text.Append(',');
                text.Append(key.Replace('.', '_').Replace('-', '_')).Append("=\"").Append(Escape(Convert.ToString(value, CultureInfo.InvariantCulture) ?? "")).Append('"');
            }

            if (le is not null)
            {
                if (text.Length > 1) text.Append(',');
                text.Append("le=\"").Append(le).Append('"');
            }

            return text.Append('}').ToString();
        }

        private static string Escape(string value) => value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

        private static string Number(double value) =>
            double.IsPositiveInfinity(value) ? "+Inf" : double.IsNegativeInfinity(value) ? "-Inf" : value.ToString("R", CultureInfo.InvariantCulture);
    }
}
