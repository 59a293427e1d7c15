using Microsoft.Extensions.Logging;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Recovery.Storage;

namespace Middleware.Recovery.Runtime;

/// <summary>
/// What an operator learns about an activation's failures that are not the component's own outcome: each is logged
/// once (with component, seq, request id and cause) and counted by cause in <see cref="RuntimeCounters"/>. Repeats of
/// the same cause for the same turn in doubt (background retries) are logged at debug level only, so a back end that is
/// down for an hour writes two lines, not thousands: when it starts failing and when the turn completes.
/// </summary>
internal sealed partial class Activation
{
    private string? _lastLoggedCause;
    private int _failedAttempts;

    /// <summary>The cause label of a failure that is not the component's own outcome.</summary>
    internal static string CauseOf(Exception e) => e switch
    {
        ComponentInDoubtException { InnerException: { } inner } => CauseOf(inner),
        BackendUnavailableException => FailureCause.Backend,
        SessionItemsUnavailableException => FailureCause.Session,
        ReplayDivergenceException => FailureCause.Divergence,
        InvalidDataException or CorruptRecordException => FailureCause.Corrupt,
        StoreUnavailableException or TurnNotDurableException => FailureCause.Store,
        RequestNotAcknowledgedException or IOException => FailureCause.ComponentCall,
        _ => FailureCause.Other,
    };

    /// <summary>A turn's attempt failed for <paramref name="failure"/>; <paramref name="inDoubtSeq"/> when it stays in doubt.</summary>
    private void ReportFailedAttempt(Invocation inv, Exception failure, long? inDoubtSeq)
    {
        // The turn's own store failures are reported where the write failed; a not-durable reply here is a callee's.
        var cause = failure is TurnNotDurableException and not ComponentInDoubtException ? FailureCause.ComponentCall : CauseOf(failure);
        _services.Counters.CountTurnFailure(cause);
        _failedAttempts++;
        var key = $"{inv.RequestId}|{cause}|{failure.Message}";
        var level = key == _lastLoggedCause ? LogLevel.Debug : LogLevel.Warning;
        _lastLoggedCause = key;
        if (inDoubtSeq is { } seq)
        {
            _services.Logger.Log(level, EngineLog.InDoubtId, "{Component}: request {RequestId} ({Method}) is in doubt at seq {Seq} and could not complete ({Cause}): {Reason}. Nothing runs ahead of it; it is retried with backoff.",
                IdText, inv.RequestId, inv.Method, seq, cause, failure.Message);
        }
        else
        {
            _services.Logger.Log(level, EngineLog.TurnFailedId, "{Component}: request {RequestId} ({Method}) was not recorded ({Cause}): {Reason}. The caller retries it.",
                IdText, inv.RequestId, inv.Method, cause, failure.Message);
        }
    }

    /// <summary>A turn that was in doubt is final now: say so when its failures were reported.</summary>
    private void ReportCompletedInDoubt(string requestId, long seq)
    {
        if (_failedAttempts == 0) return;
        _services.Logger.LogInformation(EngineLog.InDoubtCompletedId, "{Component}: request {RequestId}, in doubt at seq {Seq}, completed after {Attempts} failed attempt(s)", IdText, requestId, seq, _failedAttempts);
        _failedAttempts = 0;
        _lastLoggedCause = null;
    }

    /// <summary>The store refused or failed a write of this activation: it ends, and the next one starts from the log.</summary>
    private void ReportStoreFailure(string requestId, string what, Exception? error)
    {
        _services.Counters.CountTurnFailure(what == "fenced" ? FailureCause.Fenced : FailureCause.Store);
        var level = what == "fenced" ? LogLevel.Information : LogLevel.Warning;
        _services.Logger.Log(level, EngineLog.StoreErrorId, error, "{Component}: the record of request {RequestId} was not made durable ({What}); the activation is discarded and the request retried",
            IdText, requestId, what);
    }

    /// <summary>A request met a corrupt record (a dedup entry): counted and logged at error level, once per request and cause.</summary>
    private void ReportCorrupt(string requestId, CorruptRecordException e)
    {
        _services.Counters.CountTurnFailure(FailureCause.Corrupt);
        var key = $"{requestId}|corrupt";
        var level = key == _lastLoggedCause ? LogLevel.Debug : LogLevel.Error;
        _lastLoggedCause = key;
        _services.Logger.Log(level, EngineLog.CorruptId, "{Component}: request {RequestId} was refused ({Cause}): {Reason}", IdText, requestId, FailureCause.Corrupt, e.Message);
    }

    /// <summary>Recovery failed: counted and logged with the cause (divergence and corruption at error level: an operator must act).</summary>
    private void ReportActivationFailure(Exception e)
    {
        if (e is ComponentOwnedElsewhereException or ComponentQuarantinedException) return; // not a new failure: the owner serves, or the quarantine stands
        var cause = CauseOf(e);
        _services.Counters.CountActivationFailure(cause);
        var level = cause is FailureCause.Divergence or FailureCause.Corrupt ? LogLevel.Error : LogLevel.Warning;
        _services.Logger.Log(level, cause == FailureCause.Divergence ? EngineLog.DivergenceId : EngineLog.ActivationFailedId, "{Component}: activation failed ({Cause}): {Reason}", IdText, cause, e.Message);
    }
}
