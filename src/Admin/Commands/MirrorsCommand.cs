using System.CommandLine;
using System.Globalization;
using Middleware.Admin.Cli;
using Middleware.Admin.Cluster;
using Middleware.Admin.Output;
using Middleware.Inspection;
using Middleware.Protocol.Control;
using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;
using Spectre.Console;

namespace Middleware.Admin.Commands;

/// <summary>
/// <c>mw mirrors [ID] [--admin-key-file FILE]</c>: the warm standbys of mirrored components. Every live silo is asked which
/// standbys it keeps (<c>$mirror.list</c>); each is shown with its component's owner (the store's), the silo keeping it,
/// where placement expects it, the seq it applied against the log's last seq, when it last applied something, and the
/// seq where it diverged. With fewer than two live silos there is no mirror, which is one line.
/// </summary>
internal static class MirrorsCommand
{
    public static Command Build(CliContext cli)
    {
        var id = new Argument<string?>("id") { Description = "One component, Type/key (e.g. Account/acct-07); all mirrored components when left out.", Arity = ArgumentArity.ZeroOrOne };
        var clusterKey = CliOptions.ClusterKey();
        var adminKeyFile = CliOptions.AdminKeyFile();
        var command = new Command("mirrors", "List the warm standbys the live silos keep: owner, mirror (and the expected one), applied seq against the log, lag, divergence.") { id, clusterKey, adminKeyFile };
        var tls = new TlsCliOptions();
        tls.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            // Listing the silos marks the late ones dead (a write), as in cluster status.
            await using var store = await cli.OpenClusterStoreAsync(parse, write: true).ConfigureAwait(false);
            string? asked = null;
            if (parse.GetValue(id) is { } text) asked = (await ComponentLookup.GetAsync(store, text, ct).ConfigureAwait(false)).Head.ComponentId;
            var shape = await MirrorView.ListAsync(CliContext.Cluster(store), asked, CliContext.Asking(parse, clusterKey, adminKeyFile, tls), ct).ConfigureAwait(false);
            if (shape.NoMirror is { } reason)
            {
                if (CliContext.Json(parse)) cli.WriteJson(shape);
                else await cli.Output.WriteLineAsync($"{(asked is null ? "No component has a" : Format.Line(asked) + " has no")} mirror: {reason}").ConfigureAwait(false);
                return ExitCodes.Ok;
            }

            if (CliContext.Json(parse)) cli.WriteJson(shape);
            else Render(cli, shape, asked);
            return shape.Diverged > 0 ? ExitCodes.Divergence : ExitCodes.Ok;
        });
        return command;
    }

    private static void Render(CliContext cli, MirrorListShape shape, string? asked)
    {
        var table = new Table().AddColumns("component", "owner", "mirror", "expected mirror", "applied seq", "last seq", "lag", "last applied (UTC)", "age", "state");
        foreach (var r in shape.Mirrors)
        {
            table.AddRow(Format.Cell(r.Component), Format.Cell(r.Owner) + (r.Owner is not null && !r.OwnerLive ? " (not live)" : ""), Format.Cell(r.Mirror),
                Format.Cell(r.ExpectedMirror), Number(r.AppliedSeq), Number(r.LastSeq), Lag(r), Format.Text(r.LastAppliedAt),
                r.LastAppliedAgeSeconds is { } age ? ClusterCommands.Age(age) : "-", StateText(r));
        }

        var console = cli.Tables();
        console.Write(table);
        var components = shape.Mirrors.Select(r => r.Component).Distinct(StringComparer.Ordinal).Count();
        console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{shape.Standbys} standby(s) of {components} component(s) on {shape.Live} live silo(s): {shape.Lagging} lagging, {shape.Diverged} diverged, {shape.Misplaced} not where placement expects"));
        // Plain lines on the writer itself: Spectre would wrap them at the table width.
        foreach (var r in shape.Mirrors.Where(r => r.DivergedAtSeq is not null))
        {
            cli.Output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"DIVERGED: the standby of {Format.Line(r.Component)} on {Format.Line(r.Mirror ?? "-")} did not reproduce its log at seq {r.DivergedAtSeq} (the silo's log names the method, expected and actual); the owner keeps serving, and the standby stays divergent until it is rebuilt from a later checkpoint"));
        }

        if (asked is not null && shape.Mirrors is [{ Mirror: null } none])
            cli.Output.WriteLine($"{Format.Line(asked)} has no standby on any live silo" + (none.ExpectedMirror is { } e ? $"; placement expects one on {Format.Line(e)}" : ""));
        foreach (var u in shape.Unanswered)
            cli.Output.WriteLine($"note: {Format.Line(u.SiloId)} ({Format.Line(u.Address)}) did not answer: {Format.Line(u.Reason)}; its standbys are missing above");
    }

    private static string Number(long? value) => value is { } v ? v.ToString(CultureInfo.InvariantCulture) : "-";

    private static string Lag(MirrorShape r) => r.LagRecords is not { } records ? "-"
        : records == 0 ? "0"
        : string.Create(CultureInfo.InvariantCulture, $"{records} rec, {(r.LagMs is { } ms ? $"{ms:0.#} ms" : "?")}");

    private static string StateText(MirrorShape r) => r.State switch
    {
        "diverged" => string.Create(CultureInfo.InvariantCulture, $"DIVERGED at seq {r.DivergedAtSeq}"),
        "misplaced" => r.Mirror != r.ExpectedMirror ? "misplaced (not the expected mirror)" : $"misplaced (fed by {Format.Cell(r.ShippedBy)})",
        "ownerNotLive" => "owner not live",
        "none" => "no standby",
        var s => s,
    };
}
