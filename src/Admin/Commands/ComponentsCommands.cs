using System.CommandLine;
using Middleware.Admin.Cli;
using Middleware.Admin.Output;
using Middleware.Inspection;
using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;
using Spectre.Console;

namespace Middleware.Admin.Commands;

/// <summary><c>mw components list [--type T]</c> and <c>mw components show ID</c>.</summary>
internal static class ComponentsCommands
{
    public static Command Build(CliContext cli)
    {
        var type = new Option<string?>("--type") { Description = "Only components of this type (e.g. Account)." };
        var list = new Command("list", "List components: owner, epoch, log length, last checkpoint, last activity.") { type };
        list.SetAction(async (parse, ct) =>
        {
            var filter = Validate.Type(parse.GetValue(type));
            await using var store = await cli.OpenStoreAsync(parse).ConfigureAwait(false);
            var rows = new List<ComponentShape>();
            foreach (var head in await store.ListComponentsAsync(ct).ConfigureAwait(false))
            {
                if (filter is not null && ComponentLookup.TypeOf(head.ComponentId) != filter) continue;
                rows.Add(await ComponentView.ShapeAsync(store, head, ct).ConfigureAwait(false));
            }

            if (CliContext.Json(parse)) cli.WriteJson(new ComponentListShape(rows));
            else Render(cli, rows);
            return ExitCodes.Ok;
        });

        var id = CliOptions.ComponentId();
        var show = new Command("show", "Show one component: owner, epoch, log length, last checkpoint, last activity.") { id };
        show.SetAction(async (parse, ct) =>
        {
            await using var store = await cli.OpenStoreAsync(parse).ConfigureAwait(false);
            var (_, head) = await ComponentLookup.GetAsync(store, parse.GetValue(id)!, ct).ConfigureAwait(false);
            var shape = await ComponentView.ShapeAsync(store, head, ct).ConfigureAwait(false);
            if (CliContext.Json(parse)) cli.WriteJson(shape);
            else Render(cli, [shape]);
            return ExitCodes.Ok;
        });

        return new Command("components", "Components known to the store.") { list, show };
    }

    private static void Render(CliContext cli, IReadOnlyList<ComponentShape> rows)
    {
        var table = new Table().AddColumns("component", "owner", "epoch", "last seq", "checkpoint seq", "last activity (UTC)");
        foreach (var c in rows)
        {
            table.AddRow(Format.Cell(c.Id), Format.Cell(c.Owner ?? "-"), c.Epoch.ToString(), c.LastSeq.ToString(), c.CheckpointSeq.ToString(), Format.Text(c.LastActivity));
        }

        var console = cli.Tables();
        console.Write(table);
        console.WriteLine($"{rows.Count} component(s)");
    }
}
