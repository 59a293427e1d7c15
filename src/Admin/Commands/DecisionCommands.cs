using System.CommandLine;
using Middleware.Admin.Cli;
using Middleware.Admin.Cluster;
using Middleware.Admin.Components;
using Middleware.Admin.Output;
using Middleware.Grains;
using Middleware.Protocol;
using Middleware.Protocol.Control;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;

namespace Middleware.Admin.Commands;

/// <summary>
/// The way out of a quarantine or a divergence, each recorded in the component's log (who, why, when) so audits explain
/// the history: <c>mw quarantine ID</c>, <c>mw release ID</c>, <c>mw reset ID --to SEQ</c>, <c>mw accept ID --from SEQ</c>.
/// With a live silo in the cluster the decision goes to the component's owner (routed like a request; the owner records
/// it, so no live owner is ever fenced from outside); with none, the tool carries it out on the store itself with the
/// application's components (<c>--components</c>), claiming the component and releasing it afterwards.
/// </summary>
internal static class DecisionCommands
{
    /// <summary>The owner id the tool claims with when no silo is live.</summary>
    public const string OwnerId = "mw-decision";

    public static IEnumerable<Command> Build(CliContext cli)
    {
        yield return Decision(cli, "quarantine", ProtocolConstants.Quarantine, "Stop serving a component (its requests are refused, nothing is replayed) until it is released.", null);
        yield return Decision(cli, "release", ProtocolConstants.Release, "Lift a component's quarantine: it activates again (its log replayed with the current code).", null);
        yield return Decision(cli, "reset", ProtocolConstants.Reset, "Rebuild a component's state from its log up to --to SEQ with the current code and supersede every later record.", "--to");
        yield return Decision(cli, "accept", ProtocolConstants.Accept, "Adopt what the current code produces for a component from --from SEQ on (an intended change of behaviour).", "--from");
    }

    private static Command Decision(CliContext cli, string name, string operation, string description, string? seqOption)
    {
        var id = CliOptions.ComponentId();
        var reason = new Option<string>("--reason") { Description = "Why (recorded in the log with who decided).", Required = true };
        var seq = seqOption is null ? null : new Option<long>(seqOption) { Description = seqOption == "--to" ? "The seq the state goes back to (0: the beginning)." : "The first seq whose new behaviour is adopted.", Required = true };
        var components = new Option<string?>("--components") { Description = "The application's component assembly: needed only when no silo is live (the tool then replays the log itself)." };
        var clusterKey = CliOptions.ClusterKey();
        var adminKeyFile = CliOptions.AdminKeyFile();
        var command = new Command(name, description) { id, reason, components, clusterKey, adminKeyFile };
        var tls = new TlsCliOptions();
        tls.AddTo(command);
        if (seq is not null) command.Options.Add(seq);
        command.SetAction(async (parse, ct) =>
        {
            Validate.ComponentId(parse.GetValue(id));
            var text = Validate.OneLine(parse.GetValue(reason), "--reason", "say why (it is recorded in the component's log)");
            var at = seq is null ? 0 : Validate.Range(parse.GetValue(seq), seqOption!, seqOption == "--from" ? 1 : 0);
            Validate.NotBlank(parse.GetValue(components), "--components", "give the path of the application's component assembly, or leave it out while a silo is live");
            var by = $"mw:{Environment.UserName}@{Environment.MachineName}";
            await using var store = await cli.OpenClusterStoreAsync(parse, write: true).ConfigureAwait(false);
            var (cid, _) = await ComponentLookup.GetAsync(store, parse.GetValue(id)!, ct).ConfigureAwait(false);
            var cluster = CliContext.Cluster(store);
            var live = (await cluster.ListSilosAsync(ct).ConfigureAwait(false)).Any(s => s.IsLive);
            DecisionShape shape;
            if (live)
            {
                shape = await ThroughOwnerAsync(store, cid, operation, new DecisionRequest(by, text, at), CliContext.AdminKey(parse, clusterKey, adminKeyFile), tls.Read(parse), ct).ConfigureAwait(false);
            }
            else
            {
                var path = parse.GetValue(components)
                    ?? throw new AdminException($"No silo is live, so the tool must replay {cid} itself: give the application's component assembly with --components PATH.");
                shape = await OnTheStoreAsync(store, cluster, ComponentAssemblies.Load(path), cid, name, by, text, at, ct).ConfigureAwait(false);
            }

            shape = shape with { By = by, Reason = text };
            if (CliContext.Json(parse)) cli.WriteJson(shape);
            else await cli.Output.WriteLineAsync(Format.Line(Describe(shape))).ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static async Task<DecisionShape> ThroughOwnerAsync(ILogStore store, ComponentId cid, string operation, DecisionRequest request, string? clusterKey, Protocol.Tls.TlsClientOptions? tls, CancellationToken ct)
    {
        await using var link = await SiloLink.OpenAsync(CliContext.Cluster(store), clusterKey, tls, ct).ConfigureAwait(false);
        var head = await store.GetHeadAsync(cid.ToString(), ct).ConfigureAwait(false);
        var owner = head?.Owner is { } ownerId ? link.Live.FirstOrDefault(s => s.SiloId == ownerId)?.Address : null;
        var message = new InvokeMessage(cid.Type, cid.Key, operation, "$control:" + Guid.NewGuid().ToString("N"), null, null, ControlCodec.Encode(request), InvokeFlags.Control);
        var reply = await link.SendAsync(message, owner, ct).ConfigureAwait(false);
        if (reply.Status != ReplyStatus.Ok)
        {
            var why = reply.Status == ReplyStatus.Error ? $"{reply.ErrorType}: {reply.ErrorMessage}" : reply.Detail;
            throw new AdminException($"The cluster refused to {operation.TrimStart('$')} {cid}: {why}");
        }

        var result = ControlCodec.DecodeDecisionResult(reply.Result, operation);
        return new DecisionShape(result.Component, result.Action, result.RecordSeq, result.FromSeq, result.Turns, result.ChangedReplies, "", "", "silo");
    }

    private static async Task<DecisionShape> OnTheStoreAsync(ILogStore store, IClusterStore cluster, ComponentRegistry registry, ComponentId cid, string action, string by, string reason, long seq, CancellationToken ct)
    {
        registry.Get(cid.Type);
        HistoryDecision? decision = null;
        await using (var runtime = new LocalRuntime(store, registry, new RuntimeOptions { OwnerId = OwnerId }, new RuntimeEnvironment { Ownership = new ClusterOwnership(cluster, OwnerId) }))
        {
            switch (action)
            {
                case "quarantine":
                    await runtime.QuarantineAsync(cid, by, reason, ct).ConfigureAwait(false);
                    break;
                case "release":
                    await runtime.ReleaseAsync(cid, by, reason, ct).ConfigureAwait(false);
                    break;
                case "reset":
                    decision = await runtime.ResetAsync(cid, seq, by, reason, ct).ConfigureAwait(false);
                    break;
                default:
                    decision = await runtime.AcceptAsync(cid, seq, by, reason, ct).ConfigureAwait(false);
                    break;
            }
        }

        // Release what the tool claimed, so silos need not wait for anything to place it again.
        if (await store.GetHeadAsync(cid.ToString(), ct).ConfigureAwait(false) is { Owner: OwnerId } claimed)
            await cluster.HandOverAsync(cid.ToString(), claimed.Epoch, OwnerId, null, ct).ConfigureAwait(false);
        return decision is { } d
            ? new DecisionShape(cid.ToString(), action, d.RecordSeq, d.FromSeq, d.Turns, d.ChangedReplies, "", "", "store")
            : new DecisionShape(cid.ToString(), action, 0, 0, 0, 0, "", "", "store");
    }

    private static string Describe(DecisionShape s) => s.Action switch
    {
        "quarantine" => $"{s.Component}: quarantined ({s.Reason}); its requests are refused until mw release {s.Component}",
        "release" => $"{s.Component}: released; it replayed its log with the current code and serves again",
        "reset" => $"{s.Component}: reset to seq {s.FromSeq}; {s.Turns} later turn(s) superseded (control record and checkpoint at seq {s.RecordSeq})",
        _ => $"{s.Component}: accepted the current code from seq {s.FromSeq}; {s.ChangedReplies} of {s.Turns} replies changed (control record and checkpoint at seq {s.RecordSeq})",
    };
}
