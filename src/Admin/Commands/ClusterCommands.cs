using System.CommandLine;
using System.Globalization;
using Middleware.Admin.Cli;
using Middleware.Admin.Cluster;
using Middleware.Admin.Output;
using Middleware.Inspection;
using Middleware.Protocol;
using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;
using Spectre.Console;

namespace Middleware.Admin.Commands;

/// <summary><c>mw cluster status</c>: <see cref="ClusterView.StatusAsync"/> as tables, or its JSON.</summary>
internal static class ClusterCommands
{
    public static Command Build(CliContext cli)
    {
        var clusterKey = CliOptions.ClusterKey();
        var adminKeyFile = CliOptions.AdminKeyFile();
        var status = new Command("status", "List the silos: address, live/dead/left, heartbeat age, activations, components owned, the spread (rendezvous share, misplaced), joined at; and each live silo's mirror load and lag.") { clusterKey, adminKeyFile };
        var tls = new TlsCliOptions();
        tls.AddTo(status);
        status.SetAction(async (parse, ct) =>
        {
            await using var store = await cli.OpenClusterStoreAsync(parse, write: true).ConfigureAwait(false);
            var shape = await ClusterView.StatusAsync(CliContext.Cluster(store), CliContext.Asking(parse, clusterKey, adminKeyFile, tls), ct).ConfigureAwait(false);
            if (CliContext.Json(parse))
            {
                cli.WriteJson(shape);
                return ExitCodes.Ok;
            }

            var table = new Table().AddColumns("silo", "address", "status", "heartbeat age", "window", "activations", "components owned", "rendezvous share", "misplaced", "joined (UTC)");
            foreach (var s in shape.Silos)
            {
                table.AddRow(Format.Cell(s.SiloId), Format.Cell(s.Address), s.Status, Age(s.HeartbeatAgeSeconds), Age(s.DeadAfterSeconds),
                    s.Activations.ToString(CultureInfo.InvariantCulture), s.ComponentsOwned.ToString(CultureInfo.InvariantCulture),
                    s.RendezvousShare is { } share ? share.ToString(CultureInfo.InvariantCulture) : "-", s.Misplaced.ToString(CultureInfo.InvariantCulture), Format.Text(s.JoinedAt));
            }

            var console = cli.Tables();
            if (shape.Total > 0) console.Write(table);
            console.WriteLine($"{shape.Live} live of {shape.Total} silo(s); {shape.Components} component(s), {shape.ComponentsWithoutLiveOwner} without a live owner, {shape.Misplaced} owned away from their rendezvous silo");
            if (shape.Live == 0) return ExitCodes.Ok;
            // Plain lines on the writer itself: Spectre would wrap them at the table width.
            if (shape.NoMirror is { } noMirror) cli.Output.WriteLine($"no mirror: {noMirror}");
            RenderMirrorLoad(console, cli.Output, shape);
            return ExitCodes.Ok;
        });

        return new Command("cluster", "The cluster as the store sees it.") { status };
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

    /// <summary>An age for a table: "0.3 s" under a minute, then minutes, hours, days.</summary>
    public static string Age(double seconds) => seconds switch
    {
        < 60 => string.Create(CultureInfo.InvariantCulture, $"{seconds:0.0} s"),
        < 3600 => string.Create(CultureInfo.InvariantCulture, $"{seconds / 60:0.0} min"),
        < 86400 => string.Create(CultureInfo.InvariantCulture, $"{seconds / 3600:0.0} h"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{seconds / 86400:0.0} d"),
    };
}
