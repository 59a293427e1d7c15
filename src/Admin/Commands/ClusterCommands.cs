using System.CommandLine;
using System.Globalization;
using Middleware.Admin.Cli;
using Middleware.Admin.Output;
using Middleware.Recovery.Storage;
using Spectre.Console;

namespace Middleware.Admin.Commands;

/// <summary>
/// <c>mw cluster status</c>: the silos table (<see cref="IClusterStore.ListSilosAsync"/>, which first marks dead the
/// silos that missed their window while another silo kept reaching the store, by the store's clock) with each silo's
/// heartbeat age, activations, and the number of components the store names it owner of.
/// </summary>
internal static class ClusterCommands
{
    public static Command Build(CliContext cli)
    {
        var status = new Command("status", "List the silos: address, live/dead/left, heartbeat age, activations, components owned, joined at.");
        status.SetAction(async (parse, ct) =>
        {
            await using var store = await cli.OpenClusterStoreAsync(parse, write: true).ConfigureAwait(false);
            var cluster = CliContext.Cluster(store);
            var silos = await cluster.ListSilosAsync(ct).ConfigureAwait(false);
            var heads = await store.ListComponentsAsync(ct).ConfigureAwait(false);
            var owned = heads.Where(h => h.Owner is not null).GroupBy(h => h.Owner!, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
            var live = silos.Where(s => s.IsLive).Select(s => s.SiloId).ToHashSet(StringComparer.Ordinal);
            var shape = new ClusterStatusShape(
                store.Name,
                live.Count,
                silos.Count,
                heads.Count,
                heads.Count(h => h.Owner is null || !live.Contains(h.Owner)),
                silos.Select(s => new SiloShape(
                    s.SiloId, s.Address, s.HttpAddress, StatusOf(s), Math.Round(s.HeartbeatAge.TotalSeconds, 3), Math.Round(s.DeadAfter.TotalSeconds, 3),
                    s.Activations, owned.GetValueOrDefault(s.SiloId), s.JoinedAt.UtcDateTime)).ToList());
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
            return ExitCodes.Ok;
        });

        return new Command("cluster", "The cluster as the store sees it.") { status };
    }

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
