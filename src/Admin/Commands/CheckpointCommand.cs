using System.CommandLine;
using Middleware.Admin.Cli;
using Middleware.Admin.Components;
using Middleware.Admin.Output;
using Middleware.Grains;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;

namespace Middleware.Admin.Commands;

/// <summary>
/// <c>mw checkpoint ID --components PATH</c>: activates the component in a <see cref="LocalRuntime"/> on the store
/// (claim, load, replay) and writes a checkpoint of its current state, with its dedup entries, as a host would.
/// The claim raises the epoch, which fences the previous owner's writes, so a component owned by a live silo is
/// refused (checked first for a clear message, and again by the claim itself: <see cref="ClusterOwnership"/> claims in
/// <see cref="ClaimMode.RespectLiveSilo"/>, which never takes a component from a live silo). Afterwards the tool releases the component (owner none, same epoch), so
/// the next request places it on a live silo without waiting.
/// </summary>
internal static class CheckpointCommand
{
    /// <summary>The owner id the tool claims with while it writes the checkpoint.</summary>
    public const string OwnerId = "mw-checkpoint";

    public static Command Build(CliContext cli)
    {
        var id = CliOptions.ComponentId();
        var components = CliOptions.Components();
        var command = new Command("checkpoint", "Write a checkpoint of a component now (activates it here; refused while a live silo owns it).") { id, components };
        command.SetAction(async (parse, ct) =>
        {
            var registry = ComponentAssemblies.Load(parse.GetValue(components)!);
            await using var store = await cli.OpenStoreAsync(parse, write: true).ConfigureAwait(false);
            var (cid, head) = await ComponentLookup.GetAsync(store, parse.GetValue(id)!, ct).ConfigureAwait(false);
            registry.Get(cid.Type);
            var cluster = store as IClusterStore;
            if (cluster is not null && head.Owner is { } owner
                && (await cluster.ListSilosAsync(ct).ConfigureAwait(false)).FirstOrDefault(s => s.SiloId == owner && s.IsLive) is { } silo)
            {
                throw new AdminException(OwnedByLiveSilo(cid, silo.SiloId, silo.Address));
            }

            if (head.LastSeq > head.CheckpointSeq)
            {
                var options = new RuntimeOptions { OwnerId = OwnerId };
                var environment = new RuntimeEnvironment { Ownership = cluster is null ? null : new ClusterOwnership(cluster, OwnerId) };
                await using (var runtime = new LocalRuntime(store, registry, options, environment))
                {
                    try
                    {
                        // Activates the component (replaying its log, no new turn) and checkpoints its live state.
                        await runtime.CheckpointAsync(cid, ct).ConfigureAwait(false);
                    }
                    catch (ComponentOwnedElsewhereException e)
                    {
                        throw new AdminException(OwnedByLiveSilo(cid, e.Owner, e.OwnerAddress));
                    }
                }

                // Release what the tool claimed, so silos need not wait for anything to place it again.
                if (cluster is not null && await store.GetHeadAsync(head.ComponentId, ct).ConfigureAwait(false) is { Owner: OwnerId } claimed)
                    await cluster.HandOverAsync(head.ComponentId, claimed.Epoch, OwnerId, null, ct).ConfigureAwait(false);
            }

            var now = await store.GetHeadAsync(head.ComponentId, ct).ConfigureAwait(false) ?? head;
            var shape = new CheckpointShape(now.ComponentId, now.CheckpointSeq, now.LastSeq, now.Epoch);
            if (CliContext.Json(parse)) cli.WriteJson(shape);
            else
            {
                var what = head.LastSeq > head.CheckpointSeq ? "wrote a checkpoint" : "already checkpointed";
                await cli.Output.WriteLineAsync(Format.Line($"{cid}: {what} at seq {shape.CheckpointSeq} (last seq {shape.LastSeq}, epoch {shape.Epoch})")).ConfigureAwait(false);
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static string OwnedByLiveSilo(ComponentId id, string silo, string? address) =>
        $"Refused: {id} is owned by the live silo {silo}{(address is null ? "" : $" ({address})")}; checkpointing it here would claim it (epoch + 1) " +
        $"and fence that silo's writes. Let the silo checkpoint it (it does every --checkpoint-every turns and at shutdown), or run mw move {id} --to OTHER-SILO: the owner checkpoints before it hands over.";
}
