using Middleware.Grains;
using Middleware.Protocol;
using Middleware.Protocol.Control;
using Middleware.Recovery.Runtime;

namespace Middleware.Silo;

/// <summary>
/// <c>$quarantine</c>, <c>$release</c>, <c>$reset</c> and <c>$accept</c>, at the component's owner (routed there like any
/// request to the component): an operator's decisions, recorded in the component's log by the runtime (see
/// <see cref="LocalRuntime.QuarantineAsync"/> and its siblings), so they never fence a live owner from outside.
/// </summary>
internal static class DecisionOperations
{
    /// <summary>True for the operations this class answers.</summary>
    public static bool Handles(string method) => method is ProtocolConstants.Quarantine or ProtocolConstants.Release or ProtocolConstants.Reset or ProtocolConstants.Accept;

    public static async Task<ReplyMessage> HandleAsync(LocalRuntime runtime, ComponentId target, InvokeMessage request, CancellationToken cancellationToken)
    {
        var decision = ControlCodec.DecodeDecision(request.Args, request.Method);
        var component = target.ToString();
        switch (request.Method)
        {
            case ProtocolConstants.Quarantine:
                await runtime.QuarantineAsync(target, decision.By, decision.Reason, cancellationToken).ConfigureAwait(false);
                return Ok(new DecisionResult(component, "quarantine", 0, 0, 0, 0));
            case ProtocolConstants.Release:
                await runtime.ReleaseAsync(target, decision.By, decision.Reason, cancellationToken).ConfigureAwait(false);
                return Ok(new DecisionResult(component, "release", 0, 0, 0, 0));
            case ProtocolConstants.Reset:
                return Ok(Result(await runtime.ResetAsync(target, decision.Seq, decision.By, decision.Reason, cancellationToken).ConfigureAwait(false)));
            default:
                return Ok(Result(await runtime.AcceptAsync(target, decision.Seq, decision.By, decision.Reason, cancellationToken).ConfigureAwait(false)));
        }
    }

    private static DecisionResult Result(HistoryDecision d) =>
        new(d.Component.ToString(), d.Action.ToString().ToLowerInvariant(), d.RecordSeq, d.FromSeq, d.Turns, d.ChangedReplies);

    private static ReplyMessage Ok(DecisionResult result) => ReplyMessage.Ok(ControlCodec.Encode(result));
}
