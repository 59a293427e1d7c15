using System.CommandLine;
using System.Globalization;
using Middleware.Admin.Cli;
using Middleware.Admin.Cluster;
using Middleware.Admin.Output;
using Middleware.Protocol;
using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;
using Spectre.Console;

namespace Middleware.Admin.Commands;

/// <summary>
/// <c>mw cluster status</c>: the silos table (<see cref="IClusterStore.ListSilosAsync"/>, which first marks dead the
/// silos that missed their window while another silo kept reaching the store, by the store's clock) with each silo's
/// heartbeat age, activations, and the number of components the store names it owner of; and each live silo's mirror
/// load: the standbys it keeps (asked with <c>$mirror.list</c>) and their lag behind the log, the mirrored components it
/// owns and its shipping lag (from its <c>/metrics</c>).
/// </summary>
internal static class ClusterCommands
{
    public static Command Build(CliContext cli)
    {
        var clusterKey = CliOptions.ClusterKey();
        var adminKeyFile = CliOptions.AdminKeyFile();
        var status = new Command("status", "List the silos: address, live/dead/left, heartbeat age, activations, components owned, joined at; and each live silo's mirror load and lag.") { clusterKey, adminKeyFile };
        var tls = new TlsCliOptions();
        tls.AddTo(status);
        status.SetAction(async (parse, ct) =>
        {
            await using var store = await cli.OpenClusterStoreAsync(parse, write: true).ConfigureAwait(false);
            var cluster = CliContext.Cluster(store);
            var silos = await cluster.ListSilosAsync(ct).ConfigureAwait(false);
            var liveSilos = silos.Where(s => s.IsLive).ToList();
            // Standbys and metrics before the heads: a log read later is at least as long as what any standby applied.
            // Both at once, every silo at once: an unreachable silo costs one timeout, not one per question.
            var asking = MirrorView.ListStandbysAsync(liveSilos, null, CliContext.AdminKey(parse, clusterKey, adminKeyFile), tls.Read(parse), ct);
            var reading = Task.WhenAll(liveSilos.Select(s => MirrorView.ReadMetricsAsync(s, ct)));
            var standbys = (await asking.ConfigureAwait(false)).ToDictionary(a => a.Silo.SiloId, StringComparer.Ordinal);
            var metrics = (await reading.ConfigureAwait(false)).Select((m, i) => (liveSilos[i].SiloId, m)).ToDictionary(p => p.SiloId, p => p.m, StringComparer.Ordinal);
            var heads = await store.ListComponentsAsync(ct).ConfigureAwait(false);
            var owned = heads.Where(h => h.Owner is not null).GroupBy(h => h.Owner!, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
            var live = liveSilos.Select(s => s.SiloId).ToHashSet(StringComparer.Ordinal);
            var byId = heads.ToDictionary(h => h.ComponentId, StringComparer.Ordinal);
            var now = TimeProvider.System.GetUtcNow();
            var mirrors = new Dictionary<string, SiloMirrorShape>(StringComparer.Ordinal);
            foreach (var silo in liveSilos)
                mirrors[silo.SiloId] = await MirrorLoadAsync(store, standbys[silo.SiloId], metrics[silo.SiloId], byId, now, ct).ConfigureAwait(false);
            var shape = new ClusterStatusShape(
                store.Name,
                live.Count,
                silos.Count,
                heads.Count,
                heads.Count(h => h.Owner is null || !live.Contains(h.Owner)),
                MirrorsCommand.NoMirror(liveSilos),
                silos.Select(s => new SiloShape(
                    s.SiloId, s.Address, s.HttpAddress, StatusOf(s), Math.Round(s.HeartbeatAge.TotalSeconds, 3), Math.Round(s.DeadAfter.TotalSeconds, 3),
                    s.Activations, owned.GetValueOrDefault(s.SiloId), s.JoinedAt.UtcDateTime, mirrors.GetValueOrDefault(s.SiloId))).ToList());
            if (CliContext.Json(parse))
            {
                cli.WriteJson(shape);
                return ExitCodes.Ok;
            }

            var table = new Table().AddColumns("silo", "address", "status", "heartbeat age", "window", "activations", "components owned", "joined (UTC)");
            foreach (var s in shape.Silos)
            {
                table.AddRow(Format.Cell(s.SiloId), Format.Cell(s.Address), s.Status, Age(s.HeartbeatAgeSeconds), Age(s.DeadAfterSeconds),
                    s.Activations.ToString(CultureInfo.InvariantCulture), s.ComponentsOwned.ToString(CultureInfo.InvariantCulture), Format.Text(s.JoinedAt));
            }

            var console = cli.Tables();
            if (shape.Total > 0) console.Write(table);
            console.WriteLine($"{shape.Live} live of {shape.Total} silo(s); {shape.Components} component(s), {shape.ComponentsWithoutLiveOwner} without a live owner");
            if (shape.Live == 0) return ExitCodes.Ok;
            // Plain lines on the writer itself: Spectre would wrap them at the table width.
            if (shape.NoMirror is { } noMirror) cli.Output.WriteLine($"no mirror: {noMirror}");
            RenderMirrorLoad(console, cli.Output, shape);
            return ExitCodes.Ok;
        });

        return new Command("cluster", "The cluster as the store sees it.") { status };
    }

    /// <summary>One live silo's mirror load: its standbys (and their lag by the store's log), and its mirroring metrics.</summary>
    private static async Task<SiloMirrorShape> MirrorLoadAsync(ILogStore store, SiloStandbys answer, SiloMirrorMetrics metrics,
        IReadOnlyDictionary<string, ComponentHead> heads, DateTimeOffset now, CancellationToken ct)
    {
        int? count = null, diverged = null;
        long? maxRecords = null;
        double? maxMs = null;
        if (answer.Standbys is { } standbys)
        {
            (count, diverged, maxRecords, maxMs) = (standbys.Count, standbys.Count(s => s.DivergedAtSeq > 0), 0, 0);
            foreach (var standby in standbys)
            {
                var lastSeq = heads.TryGetValue(standby.Component, out var head) ? head.LastSeq : standby.AppliedSeq;
                maxRecords = Math.Max(maxRecords.Value, lastSeq - standby.AppliedSeq);
                if (await MirrorView.LagMsAsync(store, standby.Component, standby.AppliedSeq, lastSeq, now, ct).ConfigureAwait(false) is { } ms)
                    maxMs = Math.Max(maxMs.Value, ms);
            }
        }

        var errors = new[] { answer.Error is { } e ? $"{ProtocolConstants.MirrorList}: {e}" : null, metrics.Error }.OfType<string>().ToList();
        return new SiloMirrorShape(count, diverged, maxRecords, maxMs, metrics.MirroredComponents, metrics.LastShipLagMs, errors.Count == 0 ? null : string.Join("; ", errors));
    }

    /// <summary>The second table of <c>cluster status</c>: each live silo's mirror load and lag, and what could not be read.</summary>
    private static void RenderMirrorLoad(IAnsiConsole console, TextWriter lines, ClusterStatusShape shape)
    {
        var table = new Table().AddColumns("silo", "standbys kept", "mirrored components owned", "standby lag (records)", "standby lag (ms)", "last ship lag (ms)", "diverged");
        foreach (var s in shape.Silos)
        {
            if (s.Mirror is not { } m) continue;
            table.AddRow(Format.Cell(s.SiloId), Number(m.Standbys), Number(m.MirroredComponents), Number(m.MaxLagRecords), Ms(m.MaxLagMs), Ms(m.LastShipLagMs),
                m.Diverged is > 0 ? $"{Number(m.Diverged)} DIVERGED" : Number(m.Diverged));
        }

        console.Write(table);
        foreach (var s in shape.Silos)
            if (s.Mirror?.Error is { } error) lines.WriteLine($"note: {Format.Line(s.SiloId)}: {Format.Line(error)}");
    }

    private static string Number(long? value) => value is { } v ? v.ToString(CultureInfo.InvariantCulture) : "-";

    private static string Ms(double? value) => value is { } v ? v.ToString("0.#", CultureInfo.InvariantCulture) : "-";

    /// <summary><c>live</c> (active within its window), <c>left</c>, or <c>dead</c> (declared dead, or active but past its window).</summary>
    public static string StatusOf(SiloEntry silo) => silo.IsLive ? "live" : silo.Status == SiloStatus.Left ? "left" : "dead";

    /// <summary>An age for a table: "0.3 s" under a minute, then minutes, hours, days.</summary>
    public static string Age(double seconds) => seconds switch
    {
        < 60 => string.Create(CultureInfo.InvariantCulture, $"{seconds:0.0} s"),
        < 3600 => string.Create(CultureInfo.InvariantCulture, $"{seconds / 60:0.0} min"),
        < 86400 => string.Create(CultureInfo.InvariantCulture, $"{seconds / 3600:0.0} h"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{seconds / 86400:0.0} d"),
    };
}
