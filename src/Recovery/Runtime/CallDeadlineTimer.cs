using Middleware.Core;

namespace Middleware.Recovery.Runtime;

/// <summary>
/// What one outbound call of a turn waits on besides its reply (<see cref="CallDeadlines"/>): its deadline, or being
/// chosen to break a deadlock. Completes with null when the deadline passed, with the exception when a deadlock was
/// broken at this call; whichever comes first stands. One object per call, no cancellation source and no timer of its own.
/// </summary>
internal sealed class CallWait() : TaskCompletionSource<DeadlockException?>(TaskCreationOptions.RunContinuationsAsynchronously)
{
    /// <summary>When the deadline passes (<see cref="TimeProvider.GetTimestamp"/> units); set by <see cref="CallDeadlineTimer.Add"/>.</summary>
    internal long Due;

    /// <summary>Its place in the timer's list while the deadline is pending (null otherwise; guarded by the timer's lock).</summary>
    internal LinkedListNode<CallWait>? Node;

    /// <summary>The timeout it was added under (the timer's list key).</summary>
    internal long TimeoutTicks;
}

/// <summary>
/// One timer for all call deadlines of a runtime, instead of a cancellation source, a delay task and a timer per call.
/// Waits are kept in one list per distinct timeout; a list is in deadline order because each wait is added at "now"
/// (read under the lock from the monotonic clock) plus that list's timeout. The one timer is armed for the earliest head;
/// a call that returns in time is unlinked (O(1)) and never touches the timer. A deadline fires no earlier than its
/// timeout (the timer may fire late by its own resolution, as a per-call timer would).
/// </summary>
internal sealed class CallDeadlineTimer(TimeProvider time)
{
    private readonly object _sync = new();
    private readonly Dictionary<long, LinkedList<CallWait>> _byTimeout = [];
    private ITimer? _timer;
    private long _armedFor = long.MaxValue;

    /// <summary>Waits now pending (tests, diagnostics).</summary>
    public int Pending
    {
        get
        {
            lock (_sync) return _byTimeout.Values.Sum(l => l.Count);
        }
    }

    /// <summary>Starts <paramref name="wait"/>'s deadline: it completes with null once <paramref name="timeout"/> passed, unless removed first.</summary>
    public void Add(CallWait wait, TimeSpan timeout)
    {
        lock (_sync)
        {
            var now = time.GetTimestamp();
            wait.TimeoutTicks = timeout.Ticks;
            wait.Due = now + ToTimestamp(timeout);
            if (!_byTimeout.TryGetValue(timeout.Ticks, out var list)) _byTimeout[timeout.Ticks] = list = new();
            wait.Node = list.AddLast(wait);
            if (wait.Due < _armedFor) Arm(wait.Due, now);
        }
    }

    /// <summary>The call ended (its reply, or the wait completed): its deadline no longer applies.</summary>
    public void Remove(CallWait wait)
    {
        lock (_sync)
        {
            if (wait.Node is not { List: { } list } node) return;
            list.Remove(node);
            wait.Node = null;
            // The timer stays armed for the removed head: it fires, finds nothing due and arms for the next head.
            if (list.Count == 0) _byTimeout.Remove(wait.TimeoutTicks);
        }
    }

    private void Fire()
    {
        List<CallWait>? due = null;
        lock (_sync)
        {
            var now = time.GetTimestamp();
            var next = long.MaxValue;
            List<long>? empty = null;
            foreach (var (key, list) in _byTimeout)
            {
                while (list.First is { } head && head.Value.Due <= now)
                {
                    list.RemoveFirst();
                    head.Value.Node = null;
                    (due ??= []).Add(head.Value);
                }

                if (list.First is { } first) next = Math.Min(next, first.Value.Due);
                else (empty ??= []).Add(key);
            }

            if (empty is not null)
                foreach (var key in empty) _byTimeout.Remove(key);
            _armedFor = long.MaxValue;
            if (next != long.MaxValue) Arm(next, now);
        }

        // Outside the lock: the waits run their continuations asynchronously anyway.
        if (due is null) return;
        foreach (var wait in due) wait.TrySetResult(null);
    }

    private void Arm(long due, long now)
    {
        _armedFor = due;
        // Never zero (a timer firing a hair early re-arms for the rest), rounded up to whole milliseconds.
        var delay = TimeSpan.FromMilliseconds(Math.Max(1, Math.Ceiling((due - now) * 1000.0 / time.TimestampFrequency)));
        (_timer ??= CreateTimer()).Change(delay, Timeout.InfiniteTimeSpan);
    }

    private ITimer CreateTimer()
    {
        // Made inside some call's turn: it must not keep that turn's execution context (async locals, activity) alive.
        using (ExecutionContext.SuppressFlow())
            return time.CreateTimer(static s => ((CallDeadlineTimer)s!).Fire(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    private long ToTimestamp(TimeSpan timeout) => (long)Math.Ceiling(timeout.Ticks * (double)time.TimestampFrequency / TimeSpan.TicksPerSecond);
}
