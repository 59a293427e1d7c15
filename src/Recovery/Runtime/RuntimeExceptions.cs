using Middleware.Core;
using Middleware.Grains;
using Middleware.Recovery.Log;

namespace Middleware.Recovery.Runtime;

/// <summary>
/// The turn's record could not be made durable (store failure, or the activation was fenced by a newer
/// owner). Nothing was acknowledged; retry with the same request id and exactly-once still holds.
/// </summary>
public class TurnNotDurableException : RequestNotAcknowledgedException
{
    /// <summary>The turn of <paramref name="requestId"/> on <paramref name="component"/> was not made durable for <paramref name="reason"/>.</summary>
    public TurnNotDurableException(ComponentId component, string requestId, string reason, Exception? inner = null)
        : base($"The turn of request '{requestId}' on {component} was not made durable ({reason}); it was not acknowledged. Retry with the same request id.", inner)
    {
        Component = component;
        RequestId = requestId;
    }

    /// <summary>For subclasses that word their own message.</summary>
    protected TurnNotDurableException(string message, ComponentId component, string requestId, Exception? inner)
        : base(message, inner)
    {
        Component = component;
        RequestId = requestId;
    }

    /// <summary>The component.</summary>
    public ComponentId Component { get; }

    /// <summary>The request that was not acknowledged.</summary>
    public string RequestId { get; }
}

/// <summary>
/// A turn of the component is in doubt: its partial record is durable (so its outbound calls may have taken effect
/// under its deterministic ids) but it has not finished, usually because a back end or another component could not
/// be reached. It holds its place in the component's history, so the component completes it before any other turn and
/// retries it in the background with backoff; meanwhile every other request is refused with this exception, which
/// names the turn in doubt and the last reason it could not finish. Nothing was acknowledged: retry with the same
/// request id (clients and gateways do so by themselves).
/// </summary>
public sealed class ComponentInDoubtException(ComponentId component, string requestId, string inDoubtRequestId, long inDoubtSeq, Exception? lastFailure)
    : TurnNotDurableException(MessageFor(component, requestId, inDoubtRequestId, inDoubtSeq, lastFailure), component, requestId, lastFailure)
{
    /// <summary>The request whose turn is in doubt.</summary>
    public string InDoubtRequestId { get; } = inDoubtRequestId;

    /// <summary>The seq of the in-doubt turn's first partial record (its outbound request ids are built from it).</summary>
    public long InDoubtSeq { get; } = inDoubtSeq;

    private static string MessageFor(ComponentId component, string requestId, string inDoubt, long seq, Exception? failure)
    {
        var cause = failure is null ? "it has not been attempted yet" : $"its last attempt failed: {failure.Message}";
        return requestId == inDoubt
            ? $"Request '{requestId}' on {component} is in doubt: it started (partial record at seq {seq}) and its outbound calls may have taken effect, " +
              $"but it could not finish ({cause}). {component} completes it in the background before anything else; retry with the same request id to get its reply."
            : $"Request '{requestId}' on {component} was not run: request '{inDoubt}' is in doubt at seq {seq} and must complete before any other turn of {component} ({cause}). " +
              "It is retried in the background; retry this request with the same request id.";
    }
}

/// <summary>
/// The component is quarantined: its log could not be replayed with this code (a divergence or a corrupt record), or an
/// operator quarantined it. It does not activate, and requests for it are not run, until an operator releases or resets
/// it (<c>mw release</c>, <c>mw reset</c>, <c>mw accept</c>) or code that replays it is deployed. Nothing was acknowledged.
/// </summary>
public sealed class ComponentQuarantinedException(ComponentId component, ControlRecord quarantine, Exception? cause = null)
    : RequestNotAcknowledgedException(
        $"{component} is quarantined ({quarantine.Reason}; by {quarantine.By} at {new DateTime(quarantine.AtTicks, DateTimeKind.Utc):O}). " +
        $"Its requests are not run until it is released (mw release {component}) after the cause is fixed, reset to an earlier seq " +
        $"(mw reset {component} --to SEQ), or a change of behaviour is accepted (mw accept {component} --from SEQ)" +
        (quarantine.CodeVersion is null ? "." : ", or code that replays its log is deployed."), cause)
{
    /// <summary>The component.</summary>
    public ComponentId Component { get; } = component;

    /// <summary>The quarantine record: who, why, when, for which code.</summary>
    public ControlRecord Quarantine { get; } = quarantine;
}

/// <summary>The session items of a turn's session could not be read (the session store failed); the turn is not recorded.</summary>
public sealed class SessionItemsUnavailableException(string message, Exception inner) : Exception(message, inner);

/// <summary>
/// The component is owned by another live silo (<see cref="IOwnershipPolicy"/> refused the claim): send the
/// request to that owner instead. Nothing ran here and nothing stays activated.
/// </summary>
public sealed class ComponentOwnedElsewhereException(ComponentId component, string owner, string? ownerAddress)
    : Exception($"{component} is owned by the live silo '{owner}'{(ownerAddress is null ? "" : $" at {ownerAddress}")}; send the request to that silo (it was not run here).")
{
    /// <summary>The component.</summary>
    public ComponentId Component { get; } = component;

    /// <summary>The id of the silo that owns it.</summary>
    public string Owner { get; } = owner;

    /// <summary>That silo's protocol address, when known.</summary>
    public string? OwnerAddress { get; } = ownerAddress;
}
