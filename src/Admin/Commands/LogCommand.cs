using System.CommandLine;
using Middleware.Admin.Cli;
using Middleware.Admin.Output;
using Middleware.Inspection;
using Spectre.Console;

namespace Middleware.Admin.Commands;

/// <summary><c>mw log ID [--from SEQ] [--to SEQ]</c>: the decoded turn records of one component.</summary>
internal static class LogCommand
{
    public static Command Build(CliContext cli)
    {
        var id = CliOptions.ComponentId();
        var fromOption = new Option<long>("--from") { Description = "First seq to show (default 1).", DefaultValueFactory = _ => 1 };
        var toOption = new Option<long?>("--to") { Description = "Last seq to show (default: the last one)." };
        var command = new Command("log", "Show a component's turn records: seq, epoch, commit time, request, method, arguments, recorded nondeterminism, reply.") { id, fromOption, toOption };
        command.SetAction(async (parse, ct) =>
        {
            Validate.ComponentId(parse.GetValue(id));
            var from = Validate.Range(parse.GetValue(fromOption), "--from", 1);
            var to = parse.GetValue(toOption) is { } given ? Validate.Range(given, "--to", 1) : (long?)null;
            if (to < from) throw new AdminException($"--from {from} is after --to {to}; give --from at most --to (both are seqs, 1 is the first turn).");
            await using var store = await cli.OpenStoreAsync(parse).ConfigureAwait(false);
            var (cid, head) = await ComponentLookup.GetAsync(store, parse.GetValue(id)!, ct).ConfigureAwait(false);
            var log = await ComponentView.LogAsync(store, head, from, to, ct).ConfigureAwait(false);
            var (first, last, shapes) = (log.FirstSeq, log.LastSeq, log.Records);
            var bad = shapes.Where(s => s.Checksum is RecordShapes.Corrupt or RecordShapes.Undecodable).ToList();
            var exit = bad.Count == 0 ? ExitCodes.Ok : ExitCodes.Divergence;
            if (CliContext.Json(parse))
            {
                cli.WriteJson(log);
                return exit;
            }

            var table = new Table().AddColumns("seq", "epoch", "committed (UTC)", "request", "session", "method", "args", "recorded", "outbound", "reply");
            foreach (var r in shapes)
            {
                table.AddRow(r.Seq.ToString(), r.Epoch.ToString(), Format.Text(r.CommittedAt), Format.Cell(r.RequestId), Format.Cell(r.SessionId ?? "-"),
                    Format.Cell(r.Method), Format.Cell(Format.Clip(r.Args.GetRawText(), 60)),
                    Format.Cell(r.Recorded.Count == 0 ? "-" : string.Join(", ", r.Recorded.Select(v => $"{v.Kind}={v.Value}"))),
                    Format.Cell(r.Outbound.Count == 0 ? "-" : string.Join(", ", r.Outbound.Select(o => $"{o.Target}.{o.Operation} [{o.RequestId}] = {(o.Error is { } e ? "abort " + e.Message : o.Result?.GetRawText() ?? "(void)")}"))),
                    Format.Cell(r.Checksum is RecordShapes.Corrupt or RecordShapes.Undecodable ? $"({r.Checksum} {r.Kind} record: {r.Error!.Message})" : r.Kind switch
                    {
                        "partialTurn" => "(partial: input forced before an outbound call)",
                        "fence" => "(fence: declared not committed, never runs)",
                        _ => Format.Clip(Format.Reply(r), 60),
                    }));
            }

            var console = cli.Tables();
            console.Write(table);
            var truncated = head.LastSeq > 0 && shapes.Count > 0 && shapes[0].Seq > first ? $" (the log before seq {shapes[0].Seq} was truncated)" : "";
            console.WriteLine(Format.Line($"{shapes.Count} record(s) of {cid}, seq {first}..{last}{truncated}"));
            foreach (var r in bad)
            {
                console.WriteLine(Format.Line($"{r.Checksum}: the {r.Kind} record of {cid} at seq {r.Seq} ({r.Error!.Message}). It is never replayed or served; " +
                                  $"restore the store from a backup, or reset {cid} to a seq before it (mw reset {cid} --to SEQ)."));
            }

            return exit;
        });
        return command;
    }
}
