using System.Diagnostics;

namespace Middleware.Tests.Support;

/// <summary>
/// Awaits a condition a test cannot be told about directly (a metric, a store row, a line of output): checks it at once,
/// then at short, growing intervals, and throws <see cref="TimeoutException"/> naming what was awaited once
/// <c>patience</c> has passed. The patience is a bound for a stuck run, not a timing assertion: on a loaded box the
/// condition just comes later.
/// </summary>
internal static class Eventually
{
    /// <summary>The default bound: far beyond any condition's usual wait, so only a run that is stuck hits it.</summary>
    public static readonly TimeSpan DefaultPatience = TimeSpan.FromSeconds(30);

    /// <summary>Returns once <paramref name="condition"/> holds; <paramref name="what"/> says what was awaited ("the silo to list 2 members").</summary>
    public static Task TrueAsync(Func<bool> condition, string what, TimeSpan? patience = null) =>
        TrueAsync(() => Task.FromResult(condition()), what, patience);

    /// <summary>As <see cref="TrueAsync(Func{bool}, string, TimeSpan?)"/>, for a condition that must be asked for (HTTP, a store).</summary>
    public static async Task TrueAsync(Func<Task<bool>> condition, string what, TimeSpan? patience = null)
    {
        var bound = patience ?? DefaultPatience;
        var waited = Stopwatch.StartNew();
        var pause = 5;
        while (!await condition())
        {
            if (waited.Elapsed > bound) throw new TimeoutException($"Gave up waiting for {what} after {bound.TotalSeconds:0} s.");
            await Task.Delay(pause); // the next look at the condition, not a wait for something to happen
            pause = Math.Min(pause * 2, 100);
        }
    }
}
