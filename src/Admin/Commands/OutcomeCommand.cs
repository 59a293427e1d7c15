using System.CommandLine;
using Middleware.Admin.Cli;
using Middleware.Admin.Cluster;
using Middleware.Admin.Output;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Protocol;
using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;
using Spectre.Console;

namespace Middleware.Admin.Commands;

/// <summary>
/// <c>mw outcome REQUEST_ID [--component ID] [--fence] [--cluster-key KEY]</c>: did a request commit? Read-only by
/// default (<see cref="RequestLookup"/>): committed with its reply, fenced, or not committed. A request that is neither
/// committed nor fenced may still arrive and run, so only the component's owner can settle it: <c>--fence</c> sends the
/// protocol's outcome query to a live silo, which routes it to the owner; the owner answers the recorded reply, or
/// writes a durable fence so the id can never commit and answers "not committed". Without <c>--component</c> every
/// component's dedup table and log are scanned (slow on a big store).
/// </summary>
internal static class OutcomeCommand
{
    public static Command Build(CliContext cli)
    {
        var requestId = new Argument<string>("request-id") { Description = "The request id (a session's look like SESSION:n)." };
        var component = new Option<string?>("--component") { Description = "The component the request was sent to, Type/key (without it every component is scanned: slow)." };
        var fence = new Option<bool>("--fence") { Description = "Ask the component's owner (through a live silo) to decide: if the request did not commit, it is fenced and can never run." };
        var clusterKey = CliOptions.ClusterKey();
        var adminKeyFile = CliOptions.AdminKeyFile();
        var command = new Command("outcome", "Did a request commit? Committed (with its reply), fenced, or not committed; --fence lets the owner settle it.") { requestId, component, fence, clusterKey, adminKeyFile };
        var tls = new TlsCliOptions();
        tls.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            var id = parse.GetValue(requestId)!;
            if (string.IsNullOrWhiteSpace(id)) throw new AdminException("The request id is empty; give the id the request was sent with (a session's look like SESSION:n).");
            var target = parse.GetValue(component);
            if (target is not null) Validate.ComponentId(target, "--component");
            if (target is null)
            {
                if (parse.GetValue(fence)) throw new AdminException("--fence needs --component ID: the owner of that component decides the outcome.");
                return await ScanAsync(cli, parse, id, ct).ConfigureAwait(false);
            }

            await using var store = await cli.OpenClusterStoreAsync(parse, write: parse.GetValue(fence)).ConfigureAwait(false);
            OutcomeShape shape;
            if (parse.GetValue(fence))
            {
                shape = await FenceAsync(store, Parse(target), id, CliContext.AdminKey(parse, clusterKey, adminKeyFile), tls.Read(parse), ct).ConfigureAwait(false);
            }
            else
            {
                var (_, head) = await ComponentLookup.GetAsync(store, target, ct).ConfigureAwait(false);
                shape = await RequestLookup.FindAsync(store, head, id, ct).ConfigureAwait(false);
            }

            if (CliContext.Json(parse)) cli.WriteJson(shape);
            else await cli.Output.WriteLineAsync(Format.Line(RequestLookup.Describe(shape))).ConfigureAwait(false);
            return shape.Outcome == RequestLookup.Corrupt ? ExitCodes.Divergence : ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>
    /// Settles the outcome through the owner. What the store already shows as committed or fenced is final and needs no
    /// silo; otherwise the outcome query goes to a live silo (the owner's when it is live), and the store is read again
    /// for the seq and time of the record the owner found or wrote.
    /// </summary>
    private static async Task<OutcomeShape> FenceAsync(ILogStore store, ComponentId target, string requestId, string? clusterKey, Protocol.Tls.TlsClientOptions? tls, CancellationToken ct)
    {
        var idText = target.ToString();
        var head = await store.GetHeadAsync(idText, ct).ConfigureAwait(false);
        if (head is not null)
        {
            var known = await RequestLookup.FindAsync(store, head, requestId, ct).ConfigureAwait(false);
            // Committed and fenced are final; a turn in doubt goes to its owner, which completes it (never fences it).
            if (known.Outcome is RequestLookup.Committed or RequestLookup.Fenced or RequestLookup.Corrupt) return known;
        }

        await using var link = await SiloLink.OpenAsync(CliContext.Cluster(store), clusterKey, tls, ct).ConfigureAwait(false);
        var owner = head?.Owner is { } ownerId ? link.Live.FirstOrDefault(s => s.SiloId == ownerId)?.Address : null;
        var query = new InvokeMessage(target.Type, target.Key, "$outcome", requestId, null, null, ReadOnlyMemory<byte>.Empty, InvokeFlags.Outcome);
        var reply = await link.SendAsync(query, owner, ct).ConfigureAwait(false);
        OutcomeShape decided = reply.Status switch
        {
            ReplyStatus.Ok => RequestLookup.Commit(idText, requestId, "silo", null, null, new ComponentReply(reply.Result)),
            ReplyStatus.Error when reply.ErrorType == RequestOutcome.FencedErrorType =>
                new OutcomeShape(idText, requestId, RequestLookup.Fenced, false, "silo", null, null, null, null, null),
            ReplyStatus.Error => RequestLookup.Commit(idText, requestId, "silo", null, null, new ComponentReply(ReadOnlyMemory<byte>.Empty, reply.ErrorType ?? "error", reply.ErrorMessage ?? "")),
            _ => throw new AdminException($"The cluster refused the outcome query for {requestId} on {idText}: {reply.Status}: {reply.Detail}"),
        };

        // The owner's record is durable before it answers: take its seq and commit time from the store.
        if (await store.GetHeadAsync(idText, ct).ConfigureAwait(false) is { } now
            && await RequestLookup.FindAsync(store, now, requestId, ct).ConfigureAwait(false) is { } found
            && found.Outcome == decided.Outcome)
        {
            decided = decided with { Seq = found.Seq, CommittedAt = found.CommittedAt };
        }

        return decided;
    }

    /// <summary>No component given: look in every component's dedup table and log, with a progress bar on a terminal.</summary>
    private static async Task<int> ScanAsync(CliContext cli, ParseResult parse, string requestId, CancellationToken ct)
    {
        await using var store = await cli.OpenStoreAsync(parse).ConfigureAwait(false);
        var heads = await store.ListComponentsAsync(ct).ConfigureAwait(false);
        await cli.Error.WriteLineAsync(Format.Line($"note: no --component given: reading the dedup table and log of all {heads.Count} component(s) for {requestId}; this is slow on a big store, pass --component ID when you know it.")).ConfigureAwait(false);
        OutcomeScanShape scan = null!;
        async Task ScanAllAsync(Action advance) => scan = await RequestLookup.ScanAsync(store, heads, requestId, advance, ct).ConfigureAwait(false);

        if (cli.Progress() is { } console && heads.Count > 0)
        {
            await console.Progress().AutoClear(true).StartAsync(async p =>
            {
                var task = p.AddTask($"scanning {heads.Count} component(s)", maxValue: heads.Count);
                await ScanAllAsync(() => task.Increment(1)).ConfigureAwait(false);
            }).ConfigureAwait(false);
        }
        else
        {
            await ScanAllAsync(() => { }).ConfigureAwait(false);
        }

        var found = scan.Found;
        if (CliContext.Json(parse))
        {
            cli.WriteJson(scan);
            return found.Any(f => f.Outcome == RequestLookup.Corrupt) ? ExitCodes.Divergence : ExitCodes.Ok;
        }

        if (found.Count == 0)
        {
            await cli.Output.WriteLineAsync(Format.Line($"{requestId}: not found in any of {heads.Count} component(s): not committed anywhere (not fenced; only a component's owner can fence it: mw outcome {requestId} --component ID --fence)")).ConfigureAwait(false);
        }

        foreach (var shape in found) await cli.Output.WriteLineAsync(Format.Line(RequestLookup.Describe(shape))).ConfigureAwait(false);
        return found.Any(f => f.Outcome == RequestLookup.Corrupt) ? ExitCodes.Divergence : ExitCodes.Ok;
    }

    private static ComponentId Parse(string text)
    {
        try
        {
            return ComponentId.Parse(text);
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            throw new AdminException(e.Message);
        }
    }
}
