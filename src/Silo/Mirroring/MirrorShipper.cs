using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Middleware.Grains;
using Middleware.Protocol;
using Middleware.Protocol.Control;
using Middleware.Recovery.Log;
using Middleware.Recovery.Runtime;

namespace Middleware.Silo;

/// <summary>
/// The owner's side of mirroring: told of every durable group of records (<see cref="ICommitObserver"/>), it keeps those
/// of mirrored components in one bounded lane per mirror silo and ships them over the silo-to-silo connection as
/// <c>$mirror.ship</c> requests, one shipment in flight per lane (so each component's records arrive in seq order) and
/// everything queued meanwhile in the next one. Only durable records are shipped, so a mirror never applies what could
/// be lost. The commit path only queues: when a lane's buffer overflows (a slow or unreachable mirror), its records are
/// dropped and only how far each component's log got is sent; the mirror then catches up from the store.
/// </summary>
public sealed class MirrorShipper : ICommitObserver, IAsyncDisposable
{
    private static readonly TimeSpan AckTimeout = TimeSpan.FromSeconds(10);
    private readonly ConcurrentDictionary<string, Lane> _lanes = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, bool> _mirroredTypes = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _mirrorOf = new(StringComparer.Ordinal);
    private readonly SiloOptions _options;
    private readonly ComponentRegistry _registry;
    private readonly Func<ClusterMembership?> _membership;
    private readonly Func<string, CancellationToken, Task<MiddlewareConnection>> _connect;
    private readonly Action<string, Exception> _unreachable;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stop = new();
    private long _records;
    private long _shipments;
    private long _overflows;
    private long _failures;
    private readonly long[] _lagCounts = new long[LagBucketsMs.Count + 1];
    private long _lagSumMicros;

    /// <summary>Upper bounds (ms) of the shipment lag histogram (<see cref="LagHistogram"/>); one more bucket holds the rest.</summary>
    public static IReadOnlyList<double> LagBucketsMs { get; } = [0.5, 1, 2, 5, 10, 20, 50, 100, 250, 500, 1000, 5000];

    /// <summary>
    /// A shipper for the silo of <paramref name="options"/>: <paramref name="connect"/> gives the connection to a silo
    /// address, <paramref name="unreachable"/> is told when one could not be reached (evidence of death to check).
    /// </summary>
    public MirrorShipper(SiloOptions options, ComponentRegistry registry, Func<ClusterMembership?> membership,
        Func<string, CancellationToken, Task<MiddlewareConnection>> connect, Action<string, Exception> unreachable, ILogger logger, TimeProvider time)
    {
        _options = options;
        _registry = registry;
        _membership = membership;
        _connect = connect;
        _unreachable = unreachable;
        _logger = logger;
        _time = time;
    }

    /// <summary>Records shipped and acknowledged.</summary>
    public long RecordsShipped => Interlocked.Read(ref _records);

    /// <summary>Shipments acknowledged.</summary>
    public long Shipments => Interlocked.Read(ref _shipments);

    /// <summary>Times a lane's buffer overflowed (its mirror then caught up from the store).</summary>
    public long Overflows => Interlocked.Read(ref _overflows);

    /// <summary>Shipments that failed (mirror unreachable or refusing); the mirror catches up from the store.</summary>
    public long Failures => Interlocked.Read(ref _failures);

    /// <summary>Per mirror silo: records waiting to be shipped or acknowledged, and the lag of the last shipment and the largest since the last call (ms).</summary>
    public IReadOnlyList<(string Mirror, long PendingRecords, double LastLagMs, double MaxLagMs)> Lag()
    {
        var lanes = new List<(string, long, double, double)>();
        foreach (var (address, lane) in _lanes) lanes.Add((address, lane.Pending, lane.LastLagMs, lane.TakeMaxLagMs()));
        return lanes;
    }

    /// <summary>Lag samples (ms from the first commit in a shipment to its acknowledgement), newest last, for benchmarks.</summary>
    public IReadOnlyList<double> LagSamples()
    {
        var all = new List<double>();
        foreach (var lane in _lanes.Values) all.AddRange(lane.Samples());
        return all;
    }

    /// <summary>
    /// Every acknowledged shipment's lag since the silo started, as cumulative counts per bound of
    /// <see cref="LagBucketsMs"/> plus the total (the +Inf bucket), and the sum of the lags in ms: a Prometheus histogram,
    /// from which a scraper gets the quantiles of any window by subtracting two scrapes.
    /// </summary>
    public (IReadOnlyList<long> Cumulative, long Count, double SumMs) LagHistogram()
    {
        var cumulative = new long[LagBucketsMs.Count];
        long running = 0;
        for (var i = 0; i < LagBucketsMs.Count; i++)
        {
            running += Interlocked.Read(ref _lagCounts[i]);
            cumulative[i] = running;
        }

        return (cumulative, running + Interlocked.Read(ref _lagCounts[^1]), Interlocked.Read(ref _lagSumMicros) / 1000.0);
    }

    /// <summary>The <paramref name="percentile"/> (0-100, nearest rank) of <see cref="LagSamples"/>, or 0 without samples.</summary>
    public double LagPercentile(double percentile)
    {
        var samples = LagSamples().ToArray();
        if (samples.Length == 0) return 0;
        Array.Sort(samples);
        var rank = (int)Math.Ceiling(percentile / 100 * samples.Length);
        return samples[Math.Clamp(rank - 1, 0, samples.Length - 1)];
    }

    private void CountLag(double lagMs)
    {
        var bucket = 0;
        while (bucket < LagBucketsMs.Count && lagMs > LagBucketsMs[bucket]) bucket++;
        Interlocked.Increment(ref _lagCounts[bucket]);
        Interlocked.Add(ref _lagSumMicros, (long)(lagMs * 1000));
    }

    /// <summary>True when <paramref name="componentType"/> is mirrored under the silo's <see cref="SiloOptions.Mirroring"/>.</summary>
    public bool IsMirrored(string componentType) => _options.Mirroring switch
    {
        MirroringMode.None => false,
        MirroringMode.All => true,
        _ => _mirroredTypes.GetOrAdd(componentType, t => _registry.TryGet(t, out var info) && info.Mirrored),
    };

    // The commit thread's look-up (per group of every batch): no substring for a type already known (issue 18).
    private bool IsMirrored(ReadOnlySpan<char> componentType)
    {
        if (_options.Mirroring is not MirroringMode.None and not MirroringMode.All
            && _mirroredTypes.TryGetAlternateLookup<ReadOnlySpan<char>>(out var lookup) && lookup.TryGetValue(componentType, out var mirrored))
        {
            return mirrored;
        }

        return IsMirrored(componentType.ToString());
    }

    /// <inheritdoc />
    public void Committed(AppendGroup group)
    {
        if (_options.Mirroring == MirroringMode.None || _stop.IsCancellationRequested) return;
        var slash = group.ComponentId.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0 || !IsMirrored(group.ComponentId.AsSpan(0, slash))) return;
        if (_membership() is not { } membership) return;
        if (MirrorPlacement.MirrorOf(group.ComponentId, membership.Live, membership.SiloId) is not { } mirror) return;
        _mirrorOf[group.ComponentId] = mirror.Address;
        LaneOf(mirror.Address).Add(group, _time.GetTimestamp());
    }

    /// <summary>
    /// Asks the mirror of <paramref name="componentId"/> to catch up from the store to the log's head (a new mirror after
    /// the view changed bootstraps without waiting for the component's next turn).
    /// </summary>
    public void Announce(string componentId)
    {
        if (_membership() is not { } membership) return;
        if (MirrorPlacement.MirrorOf(componentId, membership.Live, membership.SiloId) is not { } mirror) return;
        // Unchanged mirror: it has (or is getting) everything already.
        if (_mirrorOf.TryGetValue(componentId, out var known) && string.Equals(known, mirror.Address, StringComparison.OrdinalIgnoreCase)) return;
        _mirrorOf[componentId] = mirror.Address;
        LaneOf(mirror.Address).AddHead(componentId, ShippedComponent.StoreHead);
    }

    private Lane LaneOf(string address) => _lanes.GetOrAdd(address, a => new Lane(this, a));

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        foreach (var lane in _lanes.Values)
        {
            try
            {
                await lane.Stopped.ConfigureAwait(false);
            }
            catch (Exception e)
            {
                // Stopping must not fail the host's shutdown for a shipment: the records are durable in the store.
                _logger.LogDebug("Silo {SiloId}: a mirror lane ended with {Reason} while stopping", _options.SiloId, e.Message);
            }
        }

        // _stop is cancelled, not disposed: probes and activations still running may read its token.
    }

    /// <summary>What is queued for one mirror silo, and its sender.</summary>
    private sealed class Lane(MirrorShipper shipper, string address)
    {
        private const int SampleCount = 4096;
        private readonly object _gate = new();
        private readonly Queue<double> _samples = new();
        private List<(AppendGroup Group, long At)> _items = [];
        private Dictionary<string, long> _heads = new(StringComparer.Ordinal);
        private long _bytes;
        private long _pending;
        private bool _sending;
        private double _maxLag;
        private Task _sender = Task.CompletedTask;

        public long Pending => Interlocked.Read(ref _pending);

        public double LastLagMs { get; private set; }

        public Task Stopped => _sender;

        public double TakeMaxLagMs()
        {
            lock (_gate)
            {
                var max = _maxLag;
                _maxLag = 0;
                return max;
            }
        }

        public IReadOnlyList<double> Samples()
        {
            lock (_gate) return _samples.ToList();
        }

        public void Add(AppendGroup group, long at)
        {
            long size = 64;
            foreach (var record in group.Records) size += 32 + record.Payload.Length;
            lock (_gate)
            {
                if (_bytes + size > shipper._options.MirrorBufferBytes)
                {
                    // A slow or unreachable mirror must not grow the owner's memory: keep only how far each log got.
                    foreach (var (queued, _) in _items) Head(queued);
                    Head(group);
                    Interlocked.Add(ref _pending, -_items.Count);
                    _items = [];
                    _bytes = 0;
                    Interlocked.Increment(ref shipper._overflows);
                }
                else
                {
                    _items.Add((group, at));
                    _bytes += size;
                    Interlocked.Add(ref _pending, group.Records.Count);
                }

                StartSending();
            }
        }

        public void AddHead(string componentId, long head)
        {
            lock (_gate)
            {
                _heads[componentId] = head == ShippedComponent.StoreHead || !_heads.TryGetValue(componentId, out var known) ? head : Math.Max(known, head);
                StartSending();
            }
        }

        private void Head(AppendGroup group)
        {
            var last = group.Records.Count > 0 ? group.Records[^1].Seq : group.Checkpoint?.Seq ?? 0;
            if (!_heads.TryGetValue(group.ComponentId, out var known) || (known != ShippedComponent.StoreHead && known < last)) _heads[group.ComponentId] = last;
        }

        /// <summary>Caller holds the gate.</summary>
        private void StartSending()
        {
            if (_sending || shipper._stop.IsCancellationRequested) return;
            _sending = true;
            _sender = Task.Run(SendLoopAsync);
        }

        private async Task SendLoopAsync()
        {
            while (true)
            {
                List<(AppendGroup Group, long At)> items;
                Dictionary<string, long> heads;
                lock (_gate)
                {
                    if ((_items.Count == 0 && _heads.Count == 0) || shipper._stop.IsCancellationRequested)
                    {
                        _sending = false;
                        return;
                    }

                    items = _items;
                    heads = _heads;
                    _items = [];
                    _heads = new Dictionary<string, long>(StringComparer.Ordinal);
                    _bytes = 0;
                }

                var records = items.Sum(i => (long)i.Group.Records.Count);
                try
                {
                    await SendAsync(items, heads).ConfigureAwait(false);
                    Interlocked.Add(ref shipper._records, records);
                    Interlocked.Increment(ref shipper._shipments);
                    if (items.Count > 0)
                    {
                        var lag = shipper._time.GetElapsedTime(items[0].At).TotalMilliseconds;
                        shipper.CountLag(lag);
                        lock (_gate)
                        {
                            LastLagMs = lag;
                            _maxLag = Math.Max(_maxLag, lag);
                            _samples.Enqueue(lag);
                            if (_samples.Count > SampleCount) _samples.Dequeue();
                        }
                    }
                }
                catch (OperationCanceledException) when (shipper._stop.IsCancellationRequested)
                {
                    // The silo is stopping: what was queued is durable in the store; the mirror catches up from there.
                    lock (_gate) _sending = false;
                    return;
                }
                catch (Exception e)
                {
                    // The records are durable in the store: the mirror (this one later, or the next one) catches up from there.
                    Interlocked.Increment(ref shipper._failures);
                    lock (_gate)
                    {
                        foreach (var (group, _) in items) Head(group);
                        foreach (var (id, head) in heads)
                            if (!_heads.ContainsKey(id)) _heads[id] = head;
                    }

                    shipper._logger.LogDebug("Silo {SiloId}: shipping to mirror {Mirror} failed ({Reason}); it catches up from the store", shipper._options.SiloId, address, e.Message);
                    if (e is ConnectionLostException or System.Net.Sockets.SocketException or IOException) shipper._unreachable(address, e);
                    try
                    {
                        await Task.Delay(TimeSpan.FromMilliseconds(200), shipper._time, shipper._stop.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        lock (_gate) _sending = false;
                        return;
                    }
                }
                finally
                {
                    Interlocked.Add(ref _pending, -records);
                }
            }
        }

        private async Task SendAsync(List<(AppendGroup Group, long At)> items, Dictionary<string, long> heads)
        {
            // One entry per component: its records in order, the latest checkpoint, and how far its log is known to be.
            var byComponent = new Dictionary<string, (List<ShippedRecord> Records, long CheckpointSeq, string? Hash)>(StringComparer.Ordinal);
            foreach (var (group, _) in items)
            {
                if (!byComponent.TryGetValue(group.ComponentId, out var entry)) entry = ([], 0, null);
                foreach (var r in group.Records) entry.Records.Add(new ShippedRecord(r.Seq, r.Epoch, (byte)r.Kind, r.Payload));
                if (group.Checkpoint is { } c) entry = (entry.Records, c.Seq, c.StateHash);
                byComponent[group.ComponentId] = entry;
            }

            var components = new List<ShippedComponent>(byComponent.Count + heads.Count);
            foreach (var (id, (records, checkpointSeq, hash)) in byComponent)
                components.Add(new ShippedComponent(id, records, checkpointSeq, hash, heads.Remove(id, out var head) ? head : 0));
            foreach (var (id, head) in heads) components.Add(new ShippedComponent(id, [], 0, null, head));

            var shipment = new MirrorShipment(shipper._options.SiloId, shipper._time.GetUtcNow().UtcTicks, components);
            var connection = await shipper._connect(address, shipper._stop.Token).ConfigureAwait(false);
            var request = new InvokeMessage("$mirror", "", ProtocolConstants.MirrorShip, "$mirror:" + Stopwatch.GetTimestamp().ToString(System.Globalization.CultureInfo.InvariantCulture),
                null, null, shipment.Encode(), InvokeFlags.Control | InvokeFlags.Forwarded);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(shipper._stop.Token);
            timeout.CancelAfter(AckTimeout);
            var reply = await connection.InvokeAsync(request, timeout.Token).ConfigureAwait(false);
            if (reply.Status != ReplyStatus.Ok) throw new InvalidOperationException($"the mirror answered {reply}");
        }
    }
}
