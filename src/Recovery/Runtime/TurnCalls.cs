using Middleware.Grains;
using Middleware.Recovery.Log;

namespace Middleware.Recovery.Runtime;

/// <summary>
/// The outbound calls of one live turn that may be outstanding together (<c>await Task.WhenAll(Context.Call…, Context.Call…)</c>).
/// Ordinals are taken when the turn's code starts a call, so they follow program order; outcomes arrive in any order and
/// are kept by ordinal, so the turn's records list them in ordinal order and replay (which completes each call at once)
/// hands them back to the same calls. What would depend on the order of arrival is refused: starting a call or taking a
/// nondeterministic value after one call of the turn completed while another is still outstanding (that code runs in a
/// continuation whose place depends on which reply came first, so neither its ordinal nor its value position is
/// reproducible).
/// </summary>
internal sealed class TurnCalls
{
    private readonly object _gate = new();
    private readonly List<OutboundCall> _recorded = [];
    private int _outstanding;
    private int _completedSinceLastStep;

    /// <summary>How many calls of the turn are outstanding now.</summary>
    public int Outstanding
    {
        get
        {
            lock (_gate) return _outstanding;
        }
    }

    /// <summary>
    /// The turn's code takes a step whose place in the record must be reproducible (a call, a value). Refused when a call
    /// completed since the previous step while another is still outstanding.
    /// </summary>
    public void Step(ComponentId id, string? method, NondeterminismKind? value)
    {
        lock (_gate)
        {
            // The step's words are built only for a refusal: a turn takes several steps and is refused almost never.
            if (_outstanding > 0 && _completedSinceLastStep > 0)
                throw new InvalidOperationException(
                    $"{id}.{method} {(value is { } kind ? $"asked for a nondeterministic value ({kind})" : "started an outbound call")} after one of its outbound calls completed while {_outstanding} other(s) were still outstanding: " +
                    "where that happens depends on which reply arrives first, so a replay could not reproduce it. Start the calls that run " +
                    "together first, then await them all (await Task.WhenAll(...)), and only then call again or use Context.UtcNow, NewGuid, Random or session items.");
            _completedSinceLastStep = 0;
        }
    }

    /// <summary>A call of the turn started (its ordinal is taken).</summary>
    public void Started()
    {
        lock (_gate) _outstanding++;
    }

    /// <summary>A call of the turn completed (with an outcome or a failure).</summary>
    public void Completed()
    {
        lock (_gate)
        {
            _outstanding--;
            _completedSinceLastStep++;
        }
    }

    /// <summary>Keeps a call's outcome (calls complete in any order).</summary>
    public void Add(OutboundCall call)
    {
        lock (_gate) _recorded.Add(call);
    }

    /// <summary>The outcomes so far, in ordinal order (a partial record taken while calls are outstanding may have gaps).</summary>
    public OutboundCall[] Snapshot()
    {
        lock (_gate)
        {
            var calls = _recorded.ToArray();
            Array.Sort(calls, static (a, b) => a.Ordinal.CompareTo(b.Ordinal));
            return calls;
        }
    }
}
