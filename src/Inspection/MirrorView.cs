using Middleware.Protocol.Tls;
using System.Globalization;
using System.Net.Sockets;
using Middleware.Protocol;
using Middleware.Protocol.Control;
using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;

namespace Middleware.Inspection;

/// <summary>What one live silo answered to <c>$mirror.list</c>: its standbys, or why it could not be asked.</summary>
/// <param name="Silo">The silo asked.</param>
/// <param name="Standbys">The standbys it keeps (null when it did not answer).</param>
/// <param name="Error">Why it did not answer, or null.</param>
public sealed record SiloStandbys(SiloEntry Silo, IReadOnlyList<StandbyReport>? Standbys, string? Error);

/// <summary>What one silo's <c>/metrics</c> says about mirroring; a null value was not there or could not be read.</summary>
/// <param name="MirroredComponents">Live activations of mirrored types on the silo (the components it owns and ships).</param>
/// <param name="LastShipLagMs">The largest commit-to-acknowledgement time of the last shipment to any of its mirrors.</param>
/// <param name="Error">Why <c>/metrics</c> could not be read, or null.</param>
public sealed record SiloMirrorMetrics(int? MirroredComponents, double? LastShipLagMs, string? Error);

/// <summary>
/// The tool's view of mirroring: each live silo is asked for the standbys it keeps (<c>$mirror.list</c>, sent to that
/// silo itself: never routed or redirected) and, for <c>cluster status</c>, its <c>/metrics</c>; where placement
/// expects each mirror (the same rule as the silos' <c>MirrorPlacement</c>); and how far a standby is behind its log.
/// </summary>
public static class MirrorView
{
    /// <summary>How long one silo gets to answer (connect, handshake, reply) before it is reported as not answering.</summary>
    public static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(5);

    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(3) };

    /// <summary>
    /// The mirror placement expects for <paramref name="componentId"/> owned by <paramref name="ownerSiloId"/>: the top
    /// rendezvous choice among the other live silos, or null when there is none. The silos compute it with the same
    /// <see cref="Rendezvous"/> (<c>Middleware.Silo.MirrorPlacement.MirrorOf</c>).
    /// </summary>
    public static SiloEntry? ExpectedMirror(string componentId, IReadOnlyList<SiloEntry> live, string ownerSiloId) =>
        Rendezvous.Pick(componentId, live, except: ownerSiloId);

    /// <summary>Asks every silo of <paramref name="live"/> at once for its standbys (of <paramref name="componentId"/>, or all when null).</summary>
    public static Task<SiloStandbys[]> ListStandbysAsync(IReadOnlyList<SiloEntry> live, string? componentId, SiloAsking asking, CancellationToken cancellationToken) =>
        Task.WhenAll(live.Select(silo => ListStandbysAsync(silo, componentId, asking, cancellationToken)));

    private static async Task<SiloStandbys> ListStandbysAsync(SiloEntry silo, string? componentId, SiloAsking asking, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(AskTimeout);
        var options = new ConnectionOptions
        {
            SenderId = asking.SenderId,
            Role = asking.Role,
            Key = asking.Key,
            Tls = asking.Tls,
            ConnectTimeout = TimeSpan.FromSeconds(3),
            HandshakeTimeout = TimeSpan.FromSeconds(3),
            RequestTimeout = AskTimeout,
        };
        try
        {
            var (host, port) = SiloAsking.Endpoint(silo.Address);
            await using var connection = await MiddlewareConnection.ConnectAsync(host, port, options, timeout.Token).ConfigureAwait(false);
            for (var attempt = 1; ; attempt++)
            {
                var message = new InvokeMessage("$mirror", componentId ?? "", ProtocolConstants.MirrorList, "$control:" + Guid.NewGuid().ToString("N"), null, null,
                    ReadOnlyMemory<byte>.Empty, InvokeFlags.Control);
                var reply = await connection.InvokeAsync(message, timeout.Token).ConfigureAwait(false);
                switch (reply.Status)
                {
                    case ReplyStatus.Ok:
                        return new SiloStandbys(silo, ControlCodec.DecodeStandbys(reply.Result, ProtocolConstants.MirrorList), null);
                    case ReplyStatus.Unavailable when attempt < 4:
                        // Starting, or not joined yet: it answers within moments.
                        await Task.Delay(SiloAsking.RetryDelay(attempt), timeout.Token).ConfigureAwait(false);
                        continue;
                    default:
                        var reason = reply.Status == ReplyStatus.Error ? $"{reply.ErrorType}: {reply.ErrorMessage}" : $"{reply.Status}: {reply.Detail}";
                        return new SiloStandbys(silo, null, $"answered {ProtocolConstants.MirrorList} with {reason}");
                }
            }
        }
        catch (HandshakeRejectedException e)
        {
            return new SiloStandbys(silo, null, $"refused the connection: {e.Reason} ({asking.KeyHint})");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new SiloStandbys(silo, null, $"did not answer {ProtocolConstants.MirrorList} within {AskTimeout.TotalSeconds:0} s");
        }
        catch (Exception e) when (e is ConnectionLostException or SocketException or TimeoutException or IOException or ControlMessageException or InspectionException)
        {
            return new SiloStandbys(silo, null, e.Message);
        }
    }

    /// <summary>Reads the mirroring gauges of <paramref name="silo"/>'s <c>/metrics</c> (its HTTP address from the silos table).</summary>
    public static async Task<SiloMirrorMetrics> ReadMetricsAsync(SiloEntry silo, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(silo.HttpAddress)) return new SiloMirrorMetrics(null, null, "no HTTP address in the silos table");
        string text;
        try
        {
            text = await Http.GetStringAsync(new Uri($"http://{silo.HttpAddress}/metrics"), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or UriFormatException or IOException)
        {
            return new SiloMirrorMetrics(null, null, $"/metrics at {silo.HttpAddress}: {(e is TaskCanceledException ? "no answer within 3 s" : e.Message)}");
        }

        int? mirrored = null;
        double? lastLag = null;
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0 || line[0] == '#') continue;
            var space = line.LastIndexOf(' ');
            if (space <= 0 || !double.TryParse(line.AsSpan(space + 1), NumberStyles.Float, CultureInfo.InvariantCulture, out var value)) continue;
            var name = line[..space];
            if (name == "middleware_mirror_mirrored_components") mirrored = (int)value;
            else if (name.StartsWith("middleware_mirror_lag_ms{", StringComparison.Ordinal) && name.Contains("stat=\"last\"", StringComparison.Ordinal))
                lastLag = Math.Max(lastLag ?? 0, value);
        }

        return mirrored is null
            ? new SiloMirrorMetrics(null, null, $"/metrics at {silo.HttpAddress} has no middleware_mirror_* metrics (a silo built without mirroring)")
            : new SiloMirrorMetrics(mirrored, lastLag ?? 0, null);
    }

    /// <summary>
    /// The standbys the live silos keep (of <paramref name="asked"/>, or all), each with its component's owner (the store's),
    /// the silo keeping it, where placement expects it, the seq it applied against the log's last seq, and the seq where it
    /// diverged; as <c>mw mirrors</c> and the dashboard show them. With fewer than two live silos there is none, and
    /// <see cref="MirrorListShape.NoMirror"/> says why.
    /// </summary>
    public static async Task<MirrorListShape> ListAsync(IClusterStore store, string? asked, SiloAsking asking, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(store);
        var live = (await store.ListSilosAsync(ct).ConfigureAwait(false)).Where(s => s.IsLive).ToList();
        if (ClusterView.NoMirror(live) is { } reason)
            return new MirrorListShape(store.Name, live.Count, reason, 0, 0, 0, 0, asked is null ? 0 : 1, [], []);

        var answers = await ListStandbysAsync(live, asked, asking, ct).ConfigureAwait(false);
        // Heads after the standbys: a log read later is at least as long as what any standby applied.
        var heads = new Dictionary<string, ComponentHead>(StringComparer.Ordinal);
        if (asked is not null)
        {
            if (await store.GetHeadAsync(asked, ct).ConfigureAwait(false) is { } head) heads[asked] = head;
        }
        else
        {
            foreach (var head in await store.ListComponentsAsync(ct).ConfigureAwait(false)) heads[head.ComponentId] = head;
        }

        var now = TimeProvider.System.GetUtcNow();
        var rows = new List<MirrorShape>();
        foreach (var answer in answers)
        {
            foreach (var standby in answer.Standbys ?? [])
                rows.Add(await RowAsync(store, standby.Component, heads.GetValueOrDefault(standby.Component), live, answer.Silo.SiloId, standby, now, ct).ConfigureAwait(false));
        }

        if (asked is not null && rows.Count == 0)
            rows.Add(await RowAsync(store, asked, heads.GetValueOrDefault(asked), live, null, null, now, ct).ConfigureAwait(false));
        rows.Sort((a, b) => string.CompareOrdinal(a.Component, b.Component) is var c && c != 0 ? c : string.CompareOrdinal(a.Mirror, b.Mirror));
        var unanswered = answers.Where(a => a.Error is not null).Select(a => new SiloProblemShape(a.Silo.SiloId, a.Silo.Address, a.Error!)).ToList();
        var shape = new MirrorListShape(store.Name, live.Count, null,
            rows.Count(r => r.Mirror is not null), rows.Count(r => r.State == "lagging"), rows.Count(r => r.State == "diverged"),
            rows.Count(r => r.State == "misplaced"), rows.Count(r => r.Mirror is null), rows, unanswered);
        return shape;
    }

    private static async Task<MirrorShape> RowAsync(ILogStore store, string component, ComponentHead? head, IReadOnlyList<SiloEntry> live, string? mirror,
        StandbyReport? standby, DateTimeOffset now, CancellationToken ct)
    {
        var owner = head?.Owner;
        var ownerLive = owner is not null && live.Any(s => s.SiloId == owner);
        var expected = ownerLive ? ExpectedMirror(component, live, owner!)?.SiloId : null;
        var lastSeq = head?.LastSeq ?? 0;
        if (standby is null)
            return new MirrorShape(component, owner, ownerLive, null, expected, null, null, lastSeq, null, null, null, null, null, "none");

        var lagRecords = Math.Max(0, lastSeq - standby.AppliedSeq);
        var lagMs = await LagMsAsync(store, component, standby.AppliedSeq, lastSeq, now, ct).ConfigureAwait(false);
        DateTime? appliedAt = standby.LastAppliedAt.UtcTicks > 0 ? standby.LastAppliedAt.UtcDateTime : null;
        double? age = appliedAt is { } at ? Math.Round(Math.Max(0, (now.UtcDateTime - at).TotalSeconds), 3) : null;
        long? diverged = standby.DivergedAtSeq > 0 ? standby.DivergedAtSeq : null;
        var state = diverged is not null ? "diverged"
            : !ownerLive ? "ownerNotLive"
            : mirror != expected || standby.Owner != owner ? "misplaced"
            : lagRecords > 0 ? "lagging"
            : "ok";
        return new MirrorShape(component, owner, ownerLive, mirror, expected, standby.Owner, standby.AppliedSeq, lastSeq, lagRecords, lagMs, appliedAt, age, diverged, state);
    }

    /// <summary>
    /// How long a standby has been behind: 0 when it applied the log's last record, else the age of the first record it
    /// has not applied (its commit time by the owner's clock, against this machine's). Null when that record is no
    /// longer in the store (truncated).
    /// </summary>
    public static async Task<double?> LagMsAsync(ILogStore store, string componentId, long appliedSeq, long lastSeq, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (appliedSeq >= lastSeq) return 0;
        var next = await store.ReadAsync(componentId, appliedSeq + 1, appliedSeq + 1, cancellationToken).ConfigureAwait(false);
        if (next.Count == 0) return null;
        return Math.Max(0, Math.Round((now.UtcTicks - next[0].CommittedAtTicks) / (double)TimeSpan.TicksPerMillisecond, 1));
    }
}
