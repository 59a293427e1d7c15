using System.CommandLine;
using Middleware.Admin.Cli;
using Middleware.Admin.Components;
using Middleware.Admin.Output;
using Middleware.Inspection;
using Middleware.Recovery.Runtime;
using System.Text.Json;

namespace Middleware.Admin.Commands;

/// <summary>
/// <c>mw state ID --components PATH [--seq N | --as-of TIME]</c>: the state now or after an earlier turn
/// (<see cref="ComponentView.StateAsync"/>).
/// </summary>
internal static class StateCommand
{
    public static Command Build(CliContext cli)
    {
        var id = CliOptions.ComponentId();
        var components = CliOptions.Components();
        var seq = new Option<long?>("--seq") { Description = "The state after this turn (default: the last one)." };
        var asOf = new Option<string?>("--as-of") { Description = "The state after the last turn committed at or before this UTC time (ISO 8601)." };
        var command = new Command("state", "Print a component's state as JSON, now or at a point in the past.") { id, components, seq, asOf };
        command.SetAction(async (parse, ct) =>
        {
            if (parse.GetValue(seq) is not null && parse.GetValue(asOf) is not null)
                throw new AdminException("Give either --seq or --as-of, not both.");
            Validate.ComponentId(parse.GetValue(id));
            if (parse.GetValue(seq) is { } wanted) Validate.Range(wanted, "--seq", 0);
            var time = parse.GetValue(asOf) is { } timeText ? ComponentView.ParseTime(timeText) : (DateTime?)null;
            var registry = ComponentAssemblies.Load(parse.GetValue(components)!);
            await using var store = await cli.OpenStoreAsync(parse).ConfigureAwait(false);
            var (cid, _) = await ComponentLookup.GetAsync(store, parse.GetValue(id)!, ct).ConfigureAwait(false);
            StateShape shape;
            try
            {
                shape = await ComponentView.StateAsync(store, registry, cid, parse.GetValue(seq), time, ct).ConfigureAwait(false);
            }
            catch (ReplayDivergenceException e)
            {
                await AdminCli.WriteErrorAsync(cli.Error, e.Message).ConfigureAwait(false);
                return ExitCodes.Divergence;
            }

            if (CliContext.Json(parse))
            {
                cli.WriteJson(shape);
                return ExitCodes.Ok;
            }

            await cli.Output.WriteLineAsync(Format.Line($"{cid} after seq {shape.Seq} (committed {Format.Text(shape.CommittedAt)}; checkpoint {shape.CheckpointSeq} + {shape.ReplayedTurns} replayed turn(s))")).ConfigureAwait(false);
            await cli.Output.WriteLineAsync(JsonSerializer.Serialize(shape.State, JsonShapes.Options)).ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }
}
