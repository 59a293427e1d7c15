using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Middleware.Dashboard;
using Middleware.Transport;

namespace Middleware.Silo;

/// <summary>
/// The silo's HTTP endpoints: <c>/health</c> (200 and JSON while the runtime runs, 503 otherwise), <c>/metrics</c>
/// (Prometheus text) and <c>/dashboard</c> (<see cref="DashboardEndpoints"/>), for GET and HEAD only (any other method is 405 with <c>Allow: GET, HEAD</c>). Added as a startup filter so <c>AddMiddlewareSilo</c> alone sets up a whole silo; only the
/// HTTP listener runs this pipeline, the protocol listener has its own.
/// </summary>
internal sealed class SiloHttpEndpoints(SiloRuntime silo, TransportMetrics transport, SiloMetrics instruments, RequestLatency latency, TimeProvider time) : IStartupFilter
{
    private DashboardOptions? _dashboard;

    /// <inheritdoc />
    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        app.Use(async (context, nextMiddleware) =>
        {
            if (DashboardEndpoints.Handles(context.Request.Path))
            {
                await DashboardEndpoints.HandleAsync(context, _dashboard ??= SiloDashboard.Options(silo, latency, time)).ConfigureAwait(false);
                return;
            }

            var path = context.Request.Path.Value;
            if (path is "/health" or "/metrics" && !HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method))
            {
                // Read-only resources: anything but GET and HEAD (POST, DELETE, TRACE, ...) is refused with nothing of them in the answer.
                context.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
                context.Response.Headers.Allow = "GET, HEAD";
                return;
            }

            switch (path)
            {
                case "/health":
                    await WriteHealthAsync(context.Response).ConfigureAwait(false);
                    return;
                case "/metrics":
                    context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
                    await context.Response.WriteAsync(Metrics(), context.RequestAborted).ConfigureAwait(false);
                    return;
                default:
                    await nextMiddleware(context).ConfigureAwait(false);
                    return;
            }
        });
        next(app);
    };

    private async Task WriteHealthAsync(HttpResponse response)
    {
        var runtime = silo.RuntimeOrNull;
        // Degraded, not down: the silo serves every other component; the quarantined ones need an operator.
        var quarantined = runtime?.Quarantined ?? [];
        response.StatusCode = runtime is null ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status200OK;
        response.ContentType = "application/json";
        var body = new
        {
            status = runtime is null ? "stopped" : quarantined.Count > 0 ? "degraded" : "ok",
            quarantined = quarantined.Select(q => new { component = q.Component.ToString(), reason = q.Quarantine.Reason, by = q.Quarantine.By, at = new DateTime(q.Quarantine.AtTicks, DateTimeKind.Utc) }).ToArray(),
            siloId = silo.Options.SiloId,
            store = silo.StoreDescription,
            activations = runtime?.ActivationCount ?? 0,
            address = silo.Membership?.Address,
            liveSilos = silo.Membership?.Live.Select(s => s.SiloId).ToArray() ?? [],
            // Null while the silo still warms up (it joins the cluster after): then the turns it ran and how long it took.
            warmup = silo.Warmup is { } w ? new { turns = w.Turns, ms = Math.Round(w.Milliseconds), problem = w.Problem } : null,
            rebalance = silo.Rebalancer is { } r
                ? new { perSecond = silo.Options.RebalancePerSecond, misplaced = r.Misplaced, moved = r.Moved, failed = r.Failed, handedOverOnLeave = r.HandedOverOnLeave }
                : null,
        };
        await response.WriteAsync(JsonSerializer.Serialize(body), response.HttpContext.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>The Prometheus exposition of the transport counters, activations and the group-commit writer.</summary>
    internal string Metrics()
    {
        var text = new StringBuilder();
        void Add(string name, string type, string help, long value)
        {
            text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
            text.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
            text.Append(name).Append(' ').Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }

        Add("middleware_connections_accepted_total", "counter", "Protocol connections accepted.", transport.ConnectionsAccepted);
        Add("middleware_connections_active", "gauge", "Protocol connections open now.", transport.ConnectionsActive);
        Add("middleware_handshakes_rejected_total", "counter", "Connections refused at the handshake.", transport.HandshakesRejected);
        Add("middleware_handshake_credential_failures_total", "counter", "Handshakes refused for a missing or wrong key proof, a key in clear, or a role without a key.", transport.HandshakeCredentialFailures);
        Add("middleware_handshakes_throttled_total", "counter", "Handshakes refused at once because their address was locked out after repeated failures.", transport.HandshakesThrottled);
        Add("middleware_handshake_lockouts_total", "counter", "Times a remote address was locked out after repeated failed handshakes.", transport.AddressLockouts);
        Add("middleware_frames_in_total", "counter", "Frames received after the handshake.", transport.FramesIn);
        Add("middleware_frames_out_total", "counter", "Frames sent after the handshake.", transport.FramesOut);
        Add("middleware_flushes_total", "counter", "Socket flushes of the protocol connections.", transport.Flushes);
        Add("middleware_protocol_errors_total", "counter", "Connections closed for a protocol violation.", transport.ProtocolErrors);
        Add("middleware_handler_failures_total", "counter", "Requests whose handler threw.", transport.HandlerFailures);
        Add("middleware_replies_dropped_total", "counter", "Replies whose connection closed first.", transport.RepliesDropped);
        Add("middleware_connections_refused_total", "counter", "Connections refused at the connection limit (--max-connections).", transport.ConnectionsRefused);
        Add("middleware_connections_idle_closed_total", "counter", "Connections closed after the idle timeout with nothing in flight.", transport.IdleClosed);
        Add("middleware_connections_slow_closed_total", "counter", "Connections closed for sending a frame below the minimum data rate.", transport.SlowClosed);
        Add("middleware_connections_peer_gone_total", "counter", "Connections whose peer vanished with requests or replies pending.", transport.PeersGone);
        Add("middleware_read_pauses_total", "counter", "Times a connection stopped reading at its in-flight or queued-reply limit.", transport.ReadPauses);
        var runtime = silo.RuntimeOrNull;
        var (batches, records) = runtime?.WriterStats ?? (0, 0);
        Add("middleware_activations", "gauge", "Live component activations.", runtime?.ActivationCount ?? 0);
        var (activated, activating) = runtime?.Counters.Activations ?? (0, TimeSpan.Zero);
        Add("middleware_activations_started_total", "counter", "Activations that reached serving (claim, checkpoint, log tail).", activated);
        text.Append("# HELP middleware_activation_seconds_total Time activations took to reach serving, summed (divide by middleware_activations_started_total).\n");
        text.Append("# TYPE middleware_activation_seconds_total counter\n");
        text.Append("middleware_activation_seconds_total ").Append(activating.TotalSeconds.ToString("0.######", CultureInfo.InvariantCulture)).Append('\n');
        Add("middleware_writer_batches_total", "counter", "Store transactions of the group-commit writer.", batches);
        Add("middleware_writer_records_total", "counter", "Log records written by the group-commit writer.", records);
        var (served, forwarded, reroutes) = silo.Router.Stats;
        Add("middleware_requests_served_total", "counter", "Requests run by this silo's runtime.", served);
        Add("middleware_requests_forwarded_total", "counter", "Requests this silo forwarded to the owner on another silo.", forwarded);
        Add("middleware_requests_rerouted_total", "counter", "Route attempts repeated after an unreachable owner, a move or a fence.", reroutes);
        Add("middleware_cluster_live_silos", "gauge", "Live silos in this silo's view.", silo.Membership?.Live.Count ?? 0);
        // What a request costs the process in allocations and collections (the benchmark divides by requests served).
        Add("middleware_process_allocated_bytes_total", "counter", "Bytes this process allocated on the managed heap since it started.", GC.GetTotalAllocatedBytes(precise: false));
        Add("middleware_process_gc_collections_total", "counter", "Garbage collections of this process (all generations).", GC.CollectionCount(0));
        text.Append("# HELP middleware_process_gc_pause_seconds_total Time this process was paused for garbage collection.\n");
        text.Append("# TYPE middleware_process_gc_pause_seconds_total counter\n");
        text.Append("middleware_process_gc_pause_seconds_total ").Append(GC.GetTotalPauseDuration().TotalSeconds.ToString("0.######", CultureInfo.InvariantCulture)).Append('\n');
        // Where the silo's memory is (the RSS beside them is the process's; the rest is native: SQLite's caches, stacks, code).
        var gc = GC.GetGCMemoryInfo();
        Add("middleware_process_gc_heap_bytes", "gauge", "Managed heap size after the last garbage collection (live objects and fragmentation).", gc.HeapSizeBytes);
        Add("middleware_process_gc_fragmented_bytes", "gauge", "Free space inside the managed heap after the last garbage collection.", gc.FragmentedBytes);
        Add("middleware_process_gc_committed_bytes", "gauge", "Memory the garbage collector has committed from the OS now.", GC.GetGCMemoryInfo(GCKind.Any).TotalCommittedBytes);
        Add("middleware_rebalance_moved_total", "counter", "Components this silo moved to their rendezvous owner (rebalancing).", silo.Rebalancer?.Moved ?? 0);
        Add("middleware_rebalance_failed_total", "counter", "Rebalancing handovers that failed or raced a claim (the component stayed where the store says).", silo.Rebalancer?.Failed ?? 0);
        Add("middleware_rebalance_misplaced", "gauge", "Live activations here whose rendezvous owner is another silo, at the last scan.", silo.Rebalancer?.Misplaced ?? 0);
        Add("middleware_rebalance_left_total", "counter", "Components handed over to other silos by a graceful leave.", silo.Rebalancer?.HandedOverOnLeave ?? 0);
        Add("middleware_cluster_rejoins_total", "counter", "Times this silo found itself declared dead and rejoined.", silo.Membership?.Rejoins ?? 0);
        if (runtime is not null)
        {
            // The engine's counts by kind and cause: failures that were not a component's own outcome, quarantines, ...
            var counts = runtime.Counters.Snapshot();
            foreach (var kind in counts.Keys.Select(k => k.Kind).Distinct().Order(StringComparer.Ordinal))
            {
                var name = $"middleware_{kind}s_total";
                text.Append("# HELP ").Append(name).Append(" Engine ").Append(kind.Replace('_', ' ')).Append("s by cause.\n");
                text.Append("# TYPE ").Append(name).Append(" counter\n");
                foreach (var ((_, cause), value) in counts.Where(c => c.Key.Kind == kind).OrderBy(c => c.Key.Cause, StringComparer.Ordinal))
                    text.Append(name).Append("{cause=\"").Append(cause).Append("\"} ").Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');
            }
        }

        AddMirroring(text, runtime, Add);
        var (sweeps, completedInDoubt) = silo.InDoubtSweeps;
        Add("middleware_in_doubt_sweeps_total", "counter", "Sweeps for turns in doubt that dead silos left in the log.", sweeps);
        Add("middleware_in_doubt_completed_total", "counter", "Turns in doubt this silo found by sweeping and completed.", completedInDoubt);
        // The Middleware.Engine and Middleware.Silo instruments, with their labels (component type, method, outcome, store, peer).
        instruments.WritePrometheus(text);
        return text.ToString();
    }

    /// <summary>Mirroring: standbys, records shipped and applied, lag per silo pair, divergences, warm and cold takeovers.</summary>
    private void AddMirroring(StringBuilder text, Recovery.Runtime.LocalRuntime? runtime, Action<string, string, string, long> add)
    {
        var mirrors = runtime?.Mirrors;
        var shipper = silo.Shipper;
        add("middleware_mirror_standbys", "gauge", "Standby activations this silo keeps for components other silos own.", mirrors?.Count ?? 0);
        add("middleware_mirror_mirrored_components", "gauge", "Live activations here whose component type is mirrored.",
            runtime is null || shipper is null ? 0 : runtime.ActiveComponents.Count(id => shipper.IsMirrored(id.Type)));
        add("middleware_mirror_records_shipped_total", "counter", "Durable records this silo shipped to mirrors (acknowledged).", shipper?.RecordsShipped ?? 0);
        add("middleware_mirror_shipments_failed_total", "counter", "Shipments to a mirror that failed (it catches up from the store).", shipper?.Failures ?? 0);
        add("middleware_mirror_overflows_total", "counter", "Times a shipping buffer overflowed (the mirror caught up from the store).", shipper?.Overflows ?? 0);
        add("middleware_mirror_records_applied_total", "counter", "Shipped records this silo's standbys applied.", mirrors?.RecordsApplied ?? 0);
        add("middleware_mirror_records_from_store_total", "counter", "Records standbys read from the store instead (bootstrap, gaps, takeover tails).", mirrors?.RecordsFromStore ?? 0);
        add("middleware_mirror_divergences_total", "counter", "Shipped turns or checkpoints this silo's code did not reproduce.", mirrors?.Divergences ?? 0);
        add("middleware_mirror_silos_declared_dead_total", "counter", "Silos this silo declared dead on direct evidence (reset connection, refused port).", silo.Mirroring?.DeclaredDead ?? 0);
        text.Append("# HELP middleware_mirror_takeovers_total Components this silo took over from another owner: warm (from a standby) or cold (log replay).\n");
        text.Append("# TYPE middleware_mirror_takeovers_total counter\n");
        text.Append("middleware_mirror_takeovers_total{kind=\"warm\"} ").Append((mirrors?.WarmTakeovers ?? 0).ToString(CultureInfo.InvariantCulture)).Append('\n');
        text.Append("middleware_mirror_takeovers_total{kind=\"cold\"} ").Append((mirrors?.ColdTakeovers ?? 0).ToString(CultureInfo.InvariantCulture)).Append('\n');
        if (shipper is null) return;
        var lanes = shipper.Lag();
        text.Append("# HELP middleware_mirror_lag_records Records shipped to a mirror and not yet acknowledged, by mirror silo address.\n");
        text.Append("# TYPE middleware_mirror_lag_records gauge\n");
        foreach (var lane in lanes)
            text.Append("middleware_mirror_lag_records{mirror=\"").Append(lane.Mirror).Append("\"} ").Append(lane.PendingRecords.ToString(CultureInfo.InvariantCulture)).Append('\n');
        text.Append("# HELP middleware_mirror_lag_ms Commit-to-acknowledgement time of shipments to a mirror since the last scrape (max) and of the last one, by mirror silo address.\n");
        text.Append("# TYPE middleware_mirror_lag_ms gauge\n");
        foreach (var lane in lanes)
        {
            text.Append("middleware_mirror_lag_ms{mirror=\"").Append(lane.Mirror).Append("\",stat=\"max\"} ").Append(lane.MaxLagMs.ToString("0.###", CultureInfo.InvariantCulture)).Append('\n');
            text.Append("middleware_mirror_lag_ms{mirror=\"").Append(lane.Mirror).Append("\",stat=\"last\"} ").Append(lane.LastLagMs.ToString("0.###", CultureInfo.InvariantCulture)).Append('\n');
        }

        // Over every mirror: the 50th and 99th percentile of the recent shipments (the last 4096 per mirror), and the
        // histogram of every shipment since start (subtract two scrapes for the quantiles of a window).
        text.Append("middleware_mirror_lag_ms{stat=\"p50\"} ").Append(shipper.LagPercentile(50).ToString("0.###", CultureInfo.InvariantCulture)).Append('\n');
        text.Append("middleware_mirror_lag_ms{stat=\"p99\"} ").Append(shipper.LagPercentile(99).ToString("0.###", CultureInfo.InvariantCulture)).Append('\n');
        var (cumulative, count, sumMs) = shipper.LagHistogram();
        text.Append("# HELP middleware_mirror_shipment_lag_ms Commit-to-acknowledgement time of every shipment to a mirror since start (ms).\n");
        text.Append("# TYPE middleware_mirror_shipment_lag_ms histogram\n");
        for (var i = 0; i < cumulative.Count; i++)
            text.Append("middleware_mirror_shipment_lag_ms_bucket{le=\"").Append(MirrorShipper.LagBucketsMs[i].ToString(CultureInfo.InvariantCulture)).Append("\"} ").Append(cumulative[i].ToString(CultureInfo.InvariantCulture)).Append('\n');
        text.Append("middleware_mirror_shipment_lag_ms_bucket{le=\"+Inf\"} ").Append(count.ToString(CultureInfo.InvariantCulture)).Append('\n');
        text.Append("middleware_mirror_shipment_lag_ms_sum ").Append(sumMs.ToString("0.###", CultureInfo.InvariantCulture)).Append('\n');
        text.Append("middleware_mirror_shipment_lag_ms_count ").Append(count.ToString(CultureInfo.InvariantCulture)).Append('\n');
    }
}
