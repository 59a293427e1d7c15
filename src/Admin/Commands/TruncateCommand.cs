using System.CommandLine;
using Middleware.Admin.Cli;
using Middleware.Admin.Components;
using Middleware.Admin.Output;
using Middleware.Recovery.Log;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;

namespace Middleware.Admin.Commands;

/// <summary>
/// <c>mw truncate ID --before SEQ [--components PATH | --force]</c>: deletes the records before SEQ. Refused
/// outright without a checkpoint at or after SEQ-1 (the component could not be rebuilt). Unless forced, the
/// records to be dropped are first audited from genesis up to that checkpoint, because once gone no later
/// audit can check them against new code; a divergence or a missing --components refuses the cut.
/// </summary>
internal static class TruncateCommand
{
    public static Command Build(CliContext cli)
    {
        var id = CliOptions.ComponentId();
        var before = new Option<long>("--before") { Description = "Delete the records with seq < SEQ.", Required = true };
        var force = new Option<bool>("--force") { Description = "Skip the audit of the records to be dropped." };
        var components = new Option<string?>("--components") { Description = "The component assembly, to audit the records to be dropped first." };
        var command = new Command("truncate", "Delete a component's records before a seq (needs a checkpoint at or after SEQ-1).") { id, before, force, components };
        command.SetAction(async (parse, ct) =>
        {
            Validate.ComponentId(parse.GetValue(id));
            var path = Validate.NotBlank(parse.GetValue(components), "--components", "give the path of the application's component assembly, or --force");
            if (parse.GetValue(force) && path is not null)
                throw new AdminException("Give either --force (drop without auditing) or --components PATH (audit first), not both.");
            await using var store = await cli.OpenStoreAsync(parse, write: true).ConfigureAwait(false);
            var (cid, head) = await ComponentLookup.GetAsync(store, parse.GetValue(id)!, ct).ConfigureAwait(false);
            var cut = parse.GetValue(before);
            if (cut < 2 || cut > head.LastSeq + 1)
                throw new AdminException($"--before {cut} is out of range for {cid}: its log has seqs 1..{head.LastSeq}, so use 2..{head.LastSeq + 1}.");
            var latest = await store.GetCheckpointAsync(head.ComponentId, long.MaxValue, ct).ConfigureAwait(false);
            if (latest is null || latest.Seq < cut - 1)
                throw new AdminException($"Refused: {cid} has no checkpoint at or after seq {cut - 1} (latest: {latest?.Seq.ToString() ?? "none"}), so it could not be rebuilt after the cut; write one first with mw checkpoint {cid} --components PATH.");

            var forced = parse.GetValue(force);
            if (!forced)
            {
                _ = path ?? throw new AdminException($"Refused: truncating drops turns before seq {cut} that no later audit can check; pass --components PATH to audit them first, or --force.");
                if (await AuditDroppedRangeAsync(store, ComponentAssemblies.Load(path!), head, latest, cut, ct).ConfigureAwait(false) is { } divergence)
                    throw new AdminException($"Refused: the records to be dropped do not replay with this code ({divergence.Kind} divergence at seq {divergence.Seq}: expected {Format.Clip(divergence.Expected)}, got {Format.Clip(divergence.Actual)}); use --force to drop them anyway.");
            }

            var deleted = await store.TruncateAsync(head.ComponentId, cut, ct).ConfigureAwait(false);
            var shape = new TruncateShape(head.ComponentId, cut, deleted, latest.Seq, forced);
            if (CliContext.Json(parse)) cli.WriteJson(shape);
            else await cli.Output.WriteLineAsync(Format.Line($"{cid}: deleted {deleted} record(s) before seq {cut}{(forced ? " (forced, not audited)" : " (audited first)")}; latest checkpoint at seq {latest.Seq}")).ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>Replays from genesis up to the earliest checkpoint at or after SEQ-1 (where the log will start), checking its state too.</summary>
    private static async Task<Divergence?> AuditDroppedRangeAsync(ILogStore store, ComponentRegistry registry, ComponentHead head, CheckpointRecord latest, long cut, CancellationToken ct)
    {
        var target = latest;
        while (await store.GetCheckpointAsync(head.ComponentId, target.Seq - 1, ct).ConfigureAwait(false) is { } earlier && earlier.Seq >= cut - 1)
            target = earlier;
        var engine = new AuditEngine(store, registry);
        var result = await engine.RunAsync([head], new AuditOptions { Mode = AuditMode.FromGenesis, Parallelism = 1, UpToSeq = target.Seq }, null, ct).ConfigureAwait(false);
        if (result.Skipped.Count > 0) throw new AdminException($"Refused: {result.Skipped[0].Skipped}; pass the assembly that defines it, or --force.");
        return result.Divergences.FirstOrDefault();
    }
}
