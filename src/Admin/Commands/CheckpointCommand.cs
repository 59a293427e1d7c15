using System.CommandLine;
using Middleware.Admin.Cli;
using Middleware.Admin.Components;
using Middleware.Admin.Output;
using Middleware.Recovery.Runtime;

namespace Middleware.Admin.Commands;

/// <summary>
/// <c>mw checkpoint ID --components PATH</c>: activates the component in a <see cref="LocalRuntime"/> on the
/// store (claim, load, replay) and writes a checkpoint of its current state, with its dedup entries, as a
/// host would. The claim raises the epoch, so a host that owned the component re-activates on its next request.
/// </summary>
internal static class CheckpointCommand
{
    public static Command Build(CliContext cli)
    {
        var id = CliOptions.ComponentId();
        var components = CliOptions.Components();
        var command = new Command("checkpoint", "Write a checkpoint of a component now (activates it here; a host owning it re-activates on its next request).") { id, components };
        command.SetAction(async (parse, ct) =>
        {
            var registry = ComponentAssemblies.Load(parse.GetValue(components)!);
            await using var store = await cli.OpenStoreAsync(parse).ConfigureAwait(false);
            var (cid, head) = await ComponentLookup.GetAsync(store, parse.GetValue(id)!, ct).ConfigureAwait(false);
            registry.Get(cid.Type);
            if (head.LastSeq > head.CheckpointSeq)
            {
                await using var runtime = new LocalRuntime(store, registry, new RuntimeOptions { OwnerId = "mw-checkpoint" });
                // Activates the component (replaying its log, no new turn) and checkpoints its live state.
                await runtime.CheckpointAsync(cid, ct).ConfigureAwait(false);
            }

            var now = await store.GetHeadAsync(head.ComponentId, ct).ConfigureAwait(false) ?? head;
            var shape = new CheckpointShape(now.ComponentId, now.CheckpointSeq, now.LastSeq, now.Epoch);
            if (CliContext.Json(parse)) cli.WriteJson(shape);
            else
            {
                var what = head.LastSeq > head.CheckpointSeq ? "wrote a checkpoint" : "already checkpointed";
                await cli.Output.WriteLineAsync($"{cid}: {what} at seq {shape.CheckpointSeq} (last seq {shape.LastSeq}, epoch {shape.Epoch})").ConfigureAwait(false);
            }

            return ExitCodes.Ok;
        });
        return command;
    }
}
