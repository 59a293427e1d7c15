using Microsoft.Extensions.Logging;

namespace Middleware.Recovery.Runtime;

/// <summary>
/// Every event id the engine logs with, in one place (ids 1000-1099), and the messages that are not written inline. A
/// healthy silo is quiet: claims of new components are Debug; a takeover from another owner is Information; failures that
/// need an operator (quarantine, divergence, store errors, refused checkpoints) are Warning or Error.
/// </summary>
public static partial class EngineLog
{
    /// <summary>A component was claimed (an epoch bump) with no other owner before it: Debug.</summary>
    public static readonly EventId ClaimId = new(1001, "ComponentClaimed");

    /// <summary>A component was quarantined: its log does not replay with this code.</summary>
    public static readonly EventId QuarantineId = new(1002, "ComponentQuarantined");

    /// <summary>A turn (or a resumed turn) failed without an outcome of the component's own; the caller retries.</summary>
    public static readonly EventId TurnFailedId = new(1003, "TurnNotRecorded");

    /// <summary>A turn in doubt could not complete yet (a back end or callee is down); retried with backoff.</summary>
    public static readonly EventId InDoubtId = new(1004, "TurnInDoubt");

    /// <summary>A turn in doubt completed after failed attempts.</summary>
    public static readonly EventId InDoubtCompletedId = new(1005, "TurnInDoubtCompleted");

    /// <summary>The store failed or fenced a write: the activation is discarded and the request retried.</summary>
    public static readonly EventId StoreErrorId = new(1006, "StoreWriteFailed");

    /// <summary>A request was refused because a record could not be read (corrupt).</summary>
    public static readonly EventId CorruptId = new(1007, "CorruptRecord");

    /// <summary>An activation failed (claim, replay, store).</summary>
    public static readonly EventId ActivationFailedId = new(1008, "ActivationFailed");

    /// <summary>A checkpoint was refused: the state does not survive serialization.</summary>
    public static readonly EventId CheckpointRefusedId = new(1009, "CheckpointRefused");

    /// <summary>A turn's state did not survive serialization (VerifyStateEveryTurn).</summary>
    public static readonly EventId StateLossId = new(1010, "StateLoss");

    /// <summary>A mirror's standby did not reproduce what the owner shipped.</summary>
    public static readonly EventId MirrorDivergenceId = new(1011, "MirrorDivergence");

    /// <summary>A mirror's standby could not apply a shipment and is rebuilt from the store.</summary>
    public static readonly EventId MirrorApplyFailedId = new(1012, "MirrorApplyFailed");

    /// <summary>An activation's replay did not reproduce its log with this code (it is quarantined next).</summary>
    public static readonly EventId DivergenceId = new(1013, "ReplayDivergence");

    /// <summary>A component was claimed from another owner (a dead or leaving silo, a move): Information.</summary>
    public static readonly EventId TakeoverId = new(1014, "ComponentTakenOver");

    /// <summary>Logs a successful claim: Information when the component had another owner before (a takeover), Debug otherwise.</summary>
    internal static void Claimed(ILogger logger, string component, long epoch, string? previousOwner, string self)
    {
        if (previousOwner is not null && previousOwner != self)
            TookOver(logger, component, epoch, previousOwner);
        else
            ClaimedFresh(logger, component, epoch);
    }

    [LoggerMessage(EventId = 1014, EventName = "ComponentTakenOver", Level = LogLevel.Information, Message = "{Component}: claimed at epoch {Epoch}, taking it over from {PreviousOwner}")]
    private static partial void TookOver(ILogger logger, string component, long epoch, string previousOwner);

    [LoggerMessage(EventId = 1001, EventName = "ComponentClaimed", Level = LogLevel.Debug, Message = "{Component}: claimed at epoch {Epoch}")]
    private static partial void ClaimedFresh(ILogger logger, string component, long epoch);

    [LoggerMessage(EventId = 1002, EventName = "ComponentQuarantined", Level = LogLevel.Error, Message = "{Component} is quarantined: {Reason}")]
    internal static partial void Quarantined(ILogger logger, string component, string reason);
}
