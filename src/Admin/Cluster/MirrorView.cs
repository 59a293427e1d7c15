using Middleware.Protocol.Tls;
using System.Globalization;
using System.Net.Sockets;
using Middleware.Admin.Cli;
using Middleware.Protocol;
using Middleware.Protocol.Control;
using Middleware.Recovery.Storage;

namespace Middleware.Admin.Cluster;

/// <summary>What one live silo answered to <c>$mirror.list</c>: its standbys, or why it could not be asked.</summary>
/// <param name="Silo">The silo asked.</param>
/// <param name="Standbys">The standbys it keeps (null when it did not answer).</param>
/// <param name="Error">Why it did not answer, or null.</param>
internal sealed record SiloStandbys(SiloEntry Silo, IReadOnlyList<StandbyReport>? Standbys, string? Error);

/// <summary>What one silo's <c>/metrics</c> says about mirroring; a null value was not there or could not be read.</summary>
/// <param name="MirroredComponents">Live activations of mirrored types on the silo (the components it owns and ships).</param>
/// <param name="LastShipLagMs">The largest commit-to-acknowledgement time of the last shipment to any of its mirrors.</param>
/// <param name="Error">Why <c>/metrics</c> could not be read, or null.</param>
internal sealed record SiloMirrorMetrics(int? MirroredComponents, double? LastShipLagMs, string? Error);

/// <summary>
/// The tool's view of mirroring: each live silo is asked for the standbys it keeps (<c>$mirror.list</c>, sent to that
/// silo itself: never routed or redirected) and, for <c>cluster status</c>, its <c>/metrics</c>; where placement
/// expects each mirror (the same rule as the silos' <c>MirrorPlacement</c>); and how far a standby is behind its log.
/// </summary>
internal static class MirrorView
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
    public static Task<SiloStandbys[]> ListStandbysAsync(IReadOnlyList<SiloEntry> live, string? componentId, string? clusterKey, TlsClientOptions? tls, CancellationToken cancellationToken) =>
        Task.WhenAll(live.Select(silo => ListStandbysAsync(silo, componentId, clusterKey, tls, cancellationToken)));

    private static async Task<SiloStandbys> ListStandbysAsync(SiloEntry silo, string? componentId, string? clusterKey, TlsClientOptions? tls, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(AskTimeout);
        var options = new ConnectionOptions
        {
            SenderId = "mw",
            Role = PeerRole.Admin,
            Key = clusterKey,
            Tls = tls,
            ConnectTimeout = TimeSpan.FromSeconds(3),
            HandshakeTimeout = TimeSpan.FromSeconds(3),
            RequestTimeout = AskTimeout,
        };
        try
        {
            var (host, port) = SiloLink.Endpoint(silo.Address);
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
                        await Task.Delay(SiloLink.RetryDelay(attempt), timeout.Token).ConfigureAwait(false);
                        continue;
                    default:
                        var reason = reply.Status == ReplyStatus.Error ? $"{reply.ErrorType}: {reply.ErrorMessage}" : $"{reply.Status}: {reply.Detail}";
                        return new SiloStandbys(silo, null, $"answered {ProtocolConstants.MirrorList} with {reason}");
                }
            }
        }
        catch (HandshakeRejectedException e)
        {
            return new SiloStandbys(silo, null, $"refused the connection: {e.Reason} (give the admin key with --admin-key-file FILE or {CliOptions.AdminKeyFileVariable})");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new SiloStandbys(silo, null, $"did not answer {ProtocolConstants.MirrorList} within {AskTimeout.TotalSeconds:0} s");
        }
        catch (Exception e) when (e is ConnectionLostException or SocketException or TimeoutException or IOException or ControlMessageException or AdminException)
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
