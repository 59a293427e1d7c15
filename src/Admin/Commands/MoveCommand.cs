using System.CommandLine;
using System.Text.Json;
using Middleware.Admin.Cli;
using Middleware.Admin.Cluster;
using Middleware.Admin.Output;
using Middleware.Protocol;
using Middleware.Protocol.Control;

namespace Middleware.Admin.Commands;

/// <summary>
/// <c>mw move ID --to SILO [--cluster-key KEY]</c>: a graceful handover. The <c>$move</c> control operation goes to a
/// live silo (the owner's when it is live), which routes it to the owner; the owner checkpoints the component,
/// deactivates it and hands it to the target in the store (same epoch: the target's claim raises it, fencing any late
/// write of the old owner). A target that is not a live silo is refused here, before anything is sent.
/// </summary>
internal static class MoveCommand
{
    public static Command Build(CliContext cli)
    {
        var id = CliOptions.ComponentId();
        var to = new Option<string>("--to") { Description = "The id of the live silo to move the component to (mw cluster status lists them).", Required = true };
        var clusterKey = CliOptions.ClusterKey();
        var adminKeyFile = CliOptions.AdminKeyFile();
        var command = new Command("move", "Hand a component over to another live silo (the owner checkpoints and deactivates it first).") { id, to, clusterKey, adminKeyFile };
        var tls = new TlsCliOptions();
        tls.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            Validate.ComponentId(parse.GetValue(id));
            Validate.OneLine(parse.GetValue(to), "--to", "give the id of a live silo (mw cluster status lists them)");
            await using var store = await cli.OpenClusterStoreAsync(parse, write: true).ConfigureAwait(false);
            var (cid, head) = await ComponentLookup.GetAsync(store, parse.GetValue(id)!, ct).ConfigureAwait(false);
            var destination = parse.GetValue(to)!;
            await using var link = await SiloLink.OpenAsync(CliContext.Cluster(store), CliContext.AdminKey(parse, clusterKey, adminKeyFile), tls.Read(parse), ct).ConfigureAwait(false);
            if (!link.Live.Any(s => s.SiloId == destination))
            {
                throw new AdminException($"'{destination}' is not a live silo; the live ones are: {string.Join(", ", link.Live.Select(s => $"{s.SiloId} ({s.Address})"))}.");
            }

            MoveShape shape;
            if (head.Owner == destination)
            {
                shape = new MoveShape(cid.ToString(), destination, destination, head.Epoch, head.Owner);
            }
            else
            {
                var owner = head.Owner is { } ownerId ? link.Live.FirstOrDefault(s => s.SiloId == ownerId)?.Address : null;
                var message = new InvokeMessage(cid.Type, cid.Key, ProtocolConstants.Move, "$control:" + Guid.NewGuid().ToString("N"), null, null,
                    ControlCodec.Encode(new MoveRequest(destination)), InvokeFlags.Control);
                var reply = await link.SendAsync(message, owner, ct).ConfigureAwait(false);
                if (reply.Status != ReplyStatus.Ok)
                {
                    var reason = reply.Status == ReplyStatus.Error ? $"{reply.ErrorType}: {reply.ErrorMessage}" : reply.Detail;
                    throw new AdminException($"The cluster refused to move {cid} to {destination}: {reason}");
                }

                MoveResult result;
                try
                {
                    result = ControlCodec.DecodeMoveResult(reply.Result, ProtocolConstants.Move);
                }
                catch (ControlMessageException e)
                {
                    throw new AdminException($"The silo answered the move with an unexpected result ({Format.Clip(System.Text.Encoding.UTF8.GetString(reply.Result.Span))}): {e.Message}");
                }

                var (from, movedTo, epoch) = result;
                var after = await store.GetHeadAsync(cid.ToString(), ct).ConfigureAwait(false);
                shape = new MoveShape(cid.ToString(), from, movedTo, epoch, after?.Owner);
            }

            if (CliContext.Json(parse)) cli.WriteJson(shape);
            else if (shape.From == shape.To) await cli.Output.WriteLineAsync(Format.Line($"{shape.Component} is already on {shape.To} (epoch {shape.Epoch}); nothing to move")).ConfigureAwait(false);
            else await cli.Output.WriteLineAsync(Format.Line($"{shape.Component}: moved from {shape.From} to {shape.To} (handed over at epoch {shape.Epoch}); the store names {shape.Owner ?? "no one"} as owner")).ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }
}
