using System.CommandLine;
using System.Globalization;
using Middleware.Admin.Cli;
using Middleware.Admin.Components;
using Middleware.Admin.Output;
using Middleware.Recovery.Runtime;
using System.Text.Json;

namespace Middleware.Admin.Commands;

/// <summary>
/// <c>mw state ID --components PATH [--seq N | --as-of TIME]</c>: the state now or after an earlier turn,
/// rebuilt from the checkpoint at or before it plus replay (<c>Replayer.LoadAsync</c>).
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
            var time = parse.GetValue(asOf) is { } timeText ? ParseTime(timeText) : (DateTime?)null;
            var registry = ComponentAssemblies.Load(parse.GetValue(components)!);
            await using var store = await cli.OpenStoreAsync(parse).ConfigureAwait(false);
            var (cid, head) = await ComponentLookup.GetAsync(store, parse.GetValue(id)!, ct).ConfigureAwait(false);
            var type = registry.Get(cid.Type);
            var target = parse.GetValue(seq) ?? head.LastSeq;
            if (time is { } t)
                target = await SeqAsOfAsync(store, head, t, ct).ConfigureAwait(false);
            if (target < 0 || target > head.LastSeq)
                throw new AdminException($"--seq {target} is out of range for {cid}: its turns are 1..{head.LastSeq}; give 0..{head.LastSeq} (0: the state before the first turn).");

            Replayer.Loaded loaded;
            try
            {
                loaded = await Replayer.LoadAsync(store, type, cid, target, registry.Json, ct).ConfigureAwait(false);
            }
            catch (InvalidDataException e)
            {
                throw new AdminException($"The state of {cid} at seq {target} cannot be rebuilt: {e.Message} (the log before the earliest checkpoint may have been truncated).");
            }
            catch (ReplayDivergenceException e)
            {
                await AdminCli.WriteErrorAsync(cli.Error, e.Message).ConfigureAwait(false);
                return ExitCodes.Divergence;
            }

            // LoadAsync reads what is there: with the records before the earliest checkpoint truncated it stops short.
            if (loaded.LastSeq != target)
                throw new AdminException($"The state of {cid} at seq {target} cannot be rebuilt: the log before its earliest checkpoint was truncated (the earliest state is at the checkpoint, see mw components show {cid}).");

            var state = Format.Json(GrainState.Serialize(loaded.Grain, type, registry.Json));
            var committed = target == 0 ? null : await CommitTimeAsync(store, cid.ToString(), target, ct).ConfigureAwait(false);
            if (CliContext.Json(parse))
            {
                cli.WriteJson(new StateShape(cid.ToString(), target, loaded.CheckpointSeq, committed, state));
                return ExitCodes.Ok;
            }

            await cli.Output.WriteLineAsync(Format.Line($"{cid} after seq {target} (committed {Format.Text(committed)}; checkpoint {loaded.CheckpointSeq} + {loaded.Turns.Count} replayed turn(s))")).ConfigureAwait(false);
            await cli.Output.WriteLineAsync(JsonSerializer.Serialize(state, JsonShapes.Options)).ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static DateTime ParseTime(string text) =>
        !string.IsNullOrWhiteSpace(text) && DateTime.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t)
            ? t
            : throw new AdminException($"--as-of '{text}' is not a time; write it as ISO 8601, e.g. 2025-01-31T12:00:00Z.");

    /// <summary>The last seq whose commit time is at or before <paramref name="time"/> (0 when the first turn is later).</summary>
    private static async Task<long> SeqAsOfAsync(Middleware.Recovery.Storage.ILogStore store, Middleware.Recovery.Log.ComponentHead head, DateTime time, CancellationToken ct)
    {
        var records = await ComponentLookup.ReadAllAsync(store, head, ct).ConfigureAwait(false);
        long found = records.Count > 0 && records[0].Seq > 1 ? -1 : 0;
        foreach (var r in records)
        {
            if (r.CommittedAtTicks <= time.Ticks) found = r.Seq;
        }

        if (found < 0)
            throw new AdminException($"The log of {head.ComponentId} before seq {records[0].Seq} was truncated; no state as of {Format.Text(time)} can be rebuilt.");
        return found;
    }

    private static async Task<DateTime?> CommitTimeAsync(Middleware.Recovery.Storage.ILogStore store, string id, long seq, CancellationToken ct)
    {
        var r = await store.ReadAsync(id, seq, seq, ct).ConfigureAwait(false);
        return r.Count == 0 ? null : Format.Time(r[0].CommittedAtTicks);
    }
}
