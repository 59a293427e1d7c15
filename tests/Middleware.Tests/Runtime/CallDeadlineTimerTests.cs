using System.Diagnostics;
using Middleware.Recovery.Runtime;

namespace Middleware.Tests.Runtime;

/// <summary>
/// The one timer behind every call deadline of a runtime (<see cref="CallDeadlineTimer"/>): a deadline never passes
/// before its timeout, calls with different timeouts each get theirs (a short one added after long ones is not held up
/// behind them), and a call that returned in time is never told its deadline passed.
/// </summary>
public sealed class CallDeadlineTimerTests
{
    /// <summary>A hang must fail the test, not the run.</summary>
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Each_wait_completes_once_its_own_timeout_passed_and_not_before()
    {
        var timer = new CallDeadlineTimer(TimeProvider.System);
        var clock = Stopwatch.StartNew();
        var longWait = new CallWait();
        var shortWait = new CallWait();
        timer.Add(longWait, TimeSpan.FromMilliseconds(600));
        timer.Add(shortWait, TimeSpan.FromMilliseconds(60));

        Assert.Null(await shortWait.Task.WaitAsync(Patience));
        var shortElapsed = clock.Elapsed;
        Assert.True(shortElapsed >= TimeSpan.FromMilliseconds(60), $"the 60 ms deadline passed after {shortElapsed.TotalMilliseconds} ms");
        Assert.Null(await longWait.Task.WaitAsync(Patience));
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(600), $"the 600 ms deadline passed after {clock.Elapsed.TotalMilliseconds} ms");
        Assert.Equal(0, timer.Pending);
    }

    [Fact]
    public async Task A_removed_wait_is_never_told_its_deadline_passed_and_the_next_one_still_is()
    {
        var timer = new CallDeadlineTimer(TimeProvider.System);
        var returned = new CallWait();
        var later = new CallWait();
        var other = new CallWait();
        timer.Add(returned, TimeSpan.FromMilliseconds(50));
        timer.Add(later, TimeSpan.FromMilliseconds(50));
        timer.Add(other, TimeSpan.FromMilliseconds(120));
        timer.Remove(returned); // its call came back in time (the head of its list: the timer stays armed for it)
        timer.Remove(returned); // removing twice is harmless

        Assert.Null(await later.Task.WaitAsync(Patience));
        Assert.Null(await other.Task.WaitAsync(Patience));
        Assert.False(returned.Task.IsCompleted);
        Assert.Equal(0, timer.Pending);

        // The timer is armed again by a new wait after it went idle.
        var again = new CallWait();
        timer.Add(again, TimeSpan.FromMilliseconds(30));
        Assert.Null(await again.Task.WaitAsync(Patience));
    }

    [Fact]
    public async Task A_broken_deadlock_completes_the_calls_wait_with_the_exception()
    {
        var graph = new WaitForGraph(_ => true, TimeProvider.System, CancellationToken.None);
        var waitA = new CallWait();
        var waitB = new CallWait();
        var ab = graph.Add("T/a", "T/a:1:1", "T/b", waitA);
        var ba = graph.Add("T/b", "T/b:1:1", "T/a", waitB);

        // The edge that closes the cycle is the youngest waiter's: its call's wait is told, with the cycle.
        Assert.True(waitB.Task.IsCompleted);
        var broken = await waitB.Task;
        Assert.NotNull(broken);
        Assert.True(ba.Deadlock.IsCompleted);
        Assert.Same(broken, await ba.Deadlock);
        Assert.False(waitA.Task.IsCompleted);
        Assert.False(ab.Deadlock.IsCompleted);
        graph.Remove(ab);
        graph.Remove(ba);
    }
}
