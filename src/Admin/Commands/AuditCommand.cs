using System.CommandLine;
using System.Text;
using Middleware.Admin.Cli;
using Middleware.Admin.Components;
using Middleware.Admin.Output;
using Middleware.Inspection;
using Middleware.Inspection.Audit;
using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;
using Spectre.Console;

namespace Middleware.Admin.Commands;

/// <summary>
/// <c>mw audit (ID | --type T | --all) --components PATH [--parallel N] [--from-genesis]</c>: replay logs
/// against the application's current code. Exit 0 clean, 1 any divergence, 2 usage or store error.
/// </summary>
internal static class AuditCommand
{
    public static Command Build(CliContext cli)
    {
        var id = new Argument<string?>("id") { Description = "One component id, Type/key.", Arity = ArgumentArity.ZeroOrOne };
        var type = new Option<string?>("--type") { Description = "Every component of this type." };
        var all = new Option<bool>("--all") { Description = "Every component in the store." };
        var components = CliOptions.Components();
        var parallel = new Option<int>("--parallel") { Description = "Components replayed at once (default: processor count).", DefaultValueFactory = _ => Environment.ProcessorCount };
        var genesis = new Option<bool>("--from-genesis") { Description = "Replay from seq 1 without checkpoints, comparing the state with every checkpoint on the way." };
        var command = new Command("audit", "Replay component logs with their recorded nondeterminism against the current code and report every divergence.")
        {
            id, type, all, components, parallel, genesis,
        };
        command.SetAction(async (parse, ct) =>
        {
            var chosen = (parse.GetValue(id) is null ? 0 : 1) + (parse.GetValue(type) is null ? 0 : 1) + (parse.GetValue(all) ? 1 : 0);
            if (chosen != 1) throw new AdminException("Say what to audit: one component id, --type T, or --all (exactly one of them).");
            Validate.Range(parse.GetValue(parallel), "--parallel", 1, Validate.MaxParallel, "components at once");
            if (parse.GetValue(id) is { } one) Validate.ComponentId(one);
            Validate.Type(parse.GetValue(type));
            var registry = ComponentAssemblies.Load(parse.GetValue(components)!);
            await using var store = await cli.OpenStoreAsync(parse, readers: parse.GetValue(parallel)).ConfigureAwait(false);
            var heads = await SelectAsync(store, parse.GetValue(id), parse.GetValue(type), ct).ConfigureAwait(false);
            var options = new AuditOptions
            {
                Mode = parse.GetValue(genesis) ? AuditMode.FromGenesis : AuditMode.FromCheckpoint,
                Parallelism = parse.GetValue(parallel),
            };
            var engine = new AuditEngine(store, registry);
            var result = await RunWithProgressAsync(cli, engine, heads, options, ct).ConfigureAwait(false);
            if (CliContext.Json(parse)) cli.WriteJson(AuditShapes.Shape(result));
            else Render(cli, result);
            return ExitCode(result);
        });
        return command;
    }

    /// <summary>1 for any divergence or passed-over turn in doubt; else 2 when a component could not be audited; else 0 (pending turns in doubt are normal).</summary>
    public static int ExitCode(AuditResult result) =>
        result.Divergences.Count > 0 || result.PassedOver.Count > 0 ? ExitCodes.Divergence : result.Skipped.Count > 0 ? ExitCodes.UsageOrStore : ExitCodes.Ok;

    private static string Kind(DivergenceKind kind) => AuditShapes.Kind(kind);

    private static async Task<IReadOnlyList<ComponentHead>> SelectAsync(ILogStore store, string? id, string? type, CancellationToken ct)
    {
        if (id is not null) return [(await ComponentLookup.GetAsync(store, id, ct).ConfigureAwait(false)).Head];
        var heads = await store.ListComponentsAsync(ct).ConfigureAwait(false);
        if (type is null) return heads;
        var selected = heads.Where(h => ComponentLookup.TypeOf(h.ComponentId) == type).ToList();
        return selected.Count > 0 ? selected : throw new AdminException($"No components of type '{type}' in {store.Name}.");
    }

    private static async Task<AuditResult> RunWithProgressAsync(CliContext cli, AuditEngine engine, IReadOnlyList<ComponentHead> heads, AuditOptions options, CancellationToken ct)
    {
        var console = cli.Progress();
        if (console is null) return await engine.RunAsync(heads, options, null, ct).ConfigureAwait(false);
        var progress = new AuditProgress();
        AuditResult? result = null;
        await console.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .StartAsync(async ctx =>
            {
                var bar = ctx.AddTask($"auditing {heads.Count} component(s)", maxValue: Math.Max(1, heads.Count));
                var run = engine.RunAsync(heads, options, progress, ct);
                while (!run.IsCompleted)
                {
                    bar.Value = progress.Components;
                    bar.Description = $"auditing: {progress.Components}/{heads.Count} components, {progress.Turns:N0} turns";
                    await Task.WhenAny(run, Task.Delay(200, ct)).ConfigureAwait(false);
                }

                result = await run.ConfigureAwait(false);
                bar.Value = heads.Count;
            }).ConfigureAwait(false);
        return result!;
    }

    private static void Render(CliContext cli, AuditResult r)
    {
        var console = cli.Tables();
        var summary = new Table().AddColumns("mode", "components", "turns replayed", "divergent", "skipped", "time", "turns/s");
        summary.AddRow(r.Mode == AuditMode.FromGenesis ? "from genesis" : "from checkpoint", r.Components.Count.ToString(), r.Turns.ToString("N0"),
            r.Divergences.Count.ToString(), r.Skipped.Count.ToString(), $"{r.Elapsed.TotalSeconds:F2} s", r.TurnsPerSecond.ToString("N0"));
        console.Write(summary);
        if (r.Divergences.Count > 0)
        {
            var table = new Table().AddColumns("component", "seq", "kind", "method", "args", "expected", "actual");
            foreach (var d in r.Divergences)
            {
                table.AddRow(Format.Cell(d.Component), d.Seq.ToString(), Kind(d.Kind), Format.Cell(d.Method), Format.Cell(d.Args.IsEmpty ? "-" : Encoding.UTF8.GetString(d.Args.Span)),
                    Format.Cell(Format.Clip(d.Expected)), Format.Cell(Format.Clip(d.Actual)));
            }

            console.Write(table);
        }

        foreach (var s in r.Skipped) console.WriteLine(Format.Line($"skipped {s.Component}: {s.Skipped}"));
        if (r.InDoubt.Count > 0)
        {
            var table = new Table().AddColumns("component", "request", "seq", "method", "in doubt");
            foreach (var t in r.InDoubt)
            {
                table.AddRow(Format.Cell(t.Component), Format.Cell(t.RequestId), t.Seq.ToString(), Format.Cell(t.Method),
                    Format.Cell(t.Pending ? "pending: its owner completes it before anything else" : $"passed over by {t.PassedBy}"));
            }

            console.Write(table);
        }

        console.WriteLine($"checksums: {r.Verified:N0} verified, {r.Unverified:N0} unverified (written before checksums: read as before, not verifiable); " +
                          $"{r.DedupChecked:N0} dedup entries matched against the log");
        var corrupt = r.Divergences.Count(d => d.Kind == DivergenceKind.Corrupt);
        if (corrupt > 0)
        {
            console.WriteLine($"CORRUPT: {corrupt} component(s) have a record, checkpoint or dedup entry that fails its checksum or disagrees with the log; " +
                              "restore the store from a backup, or reset each one to a seq before the damage (mw reset ID --to SEQ)");
        }

        console.WriteLine(r.Divergences.Count > corrupt ? $"DIVERGENT: {r.Divergences.Count - corrupt} component(s) no longer reproduce their logs"
            : r.Divergences.Count > 0 ? "the damaged components were audited up to the damage only"
            : r.PassedOver.Count > 0 ? $"INCONSISTENT: {r.Divergences.Count} component(s) no longer reproduce their logs"
            : r.PassedOver.Count > 0 ? $"INCONSISTENT: {r.PassedOver.Count} turn(s) in doubt were passed over by later records; their outbound calls may have taken effect without a recorded outcome"
            : r.Skipped.Count > 0 ? "INCOMPLETE: some components could not be audited"
            : r.InDoubt.Count > 0 ? $"clean: every replayed turn reproduced its recorded reply; {r.InDoubt.Count} turn(s) in doubt pending"
            : "clean: every replayed turn reproduced its recorded reply");
    }
}
