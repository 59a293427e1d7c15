using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Middleware.Recovery.Storage;
using Middleware.Silo;
using Middleware.Tests.Support;

namespace Middleware.Tests.Silo;

/// <summary>
/// Membership on a moved clock: the store's clock and every silo's timers are one <see cref="FakeTimeProvider"/>, so a
/// failure window passes in microseconds of test time and the verdicts are exact, not raced against real sleeps.
/// </summary>
public sealed class ClusterMembershipClockTests
{
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(2);
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 6, 12, 0, 0, TimeSpan.Zero));

    private ClusterMembership Silo(MemoryLogStore store, string id) =>
        new(store, new SiloOptions { SiloId = id, DeadAfter = Window }, $"{id}:7000", null, _ => { }, () => 0, NullLogger.Instance, _time);

    /// <summary>Moves the clock one heartbeat interval and waits until every running silo finished that round.</summary>
    private async Task TickAsync(params ClusterMembership[] running)
    {
        var before = running.Select(m => m.Rounds).ToArray();
        _time.Advance(Window / 4);
        await Eventually.TrueAsync(() => running.Select((m, i) => m.Rounds != before[i]).All(r => r), "every running silo's heartbeat round after the clock moved");
    }

    [Fact]
    public async Task A_silo_that_stops_heartbeating_is_declared_dead_once_another_kept_heartbeating_through_its_window()
    {
        var store = new MemoryLogStore(_time);
        await using var a = Silo(store, "a");
        await using var b = Silo(store, "b");
        await a.StartAsync(CancellationToken.None);
        await b.StartAsync(CancellationToken.None);
        // a needs a window of its own unbroken contact before it can vouch against anyone.
        for (var i = 0; i < 5; i++) await TickAsync(a, b);
        await a.RefreshAsync(CancellationToken.None);
        Assert.Equal(["a", "b"], a.Live.Select(s => s.SiloId).Order());

        var gone = new TaskCompletionSource<IReadOnlyCollection<string>>(TaskCreationOptions.RunContinuationsAsynchronously);
        a.SilosGone += ids => gone.TrySetResult(ids);
        await b.DisposeAsync(); // frozen: no more heartbeats, and it never left

        // Three quarters of the window: b is late but not past it.
        for (var i = 0; i < 3; i++) await TickAsync(a);
        Assert.Contains(a.Live, s => s.SiloId == "b");
        // Past b's window while a kept reaching the store: b is declared dead, and a's view drops it.
        for (var i = 0; i < 3 && !gone.Task.IsCompleted; i++) await TickAsync(a);
        Assert.Equal(["b"], await gone.Task.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(SiloStatus.Dead, (await store.ListSilosAsync()).Single(s => s.SiloId == "b").Status);
        Assert.Equal(["a"], a.Live.Select(s => s.SiloId));
    }

    [Fact]
    public async Task A_silo_declared_dead_fails_its_next_heartbeat_and_is_live_again_once_it_rejoins()
    {
        var store = new MemoryLogStore(_time);
        await using var a = Silo(store, "a");
        var b = Silo(store, "b");
        await a.StartAsync(CancellationToken.None);
        await b.StartAsync(CancellationToken.None);
        for (var i = 0; i < 5; i++) await TickAsync(a, b);

        // b pauses (its loop does not run) for two windows while a keeps heartbeating; then b runs again, unaware.
        await b.DisposeAsync();
        for (var i = 0; i < 8; i++) await TickAsync(a);
        Assert.Equal(SiloStatus.Dead, (await store.ListSilosAsync()).Single(s => s.SiloId == "b").Status);
        await using var resumed = Silo(store, "b");
        Assert.False(await store.HeartbeatAsync("b", 0)); // the first heartbeat after the pause fails: declared dead
        await resumed.StartAsync(CancellationToken.None); // and the silo rejoins
        await TickAsync(a, resumed);
        Assert.Contains(a.Live, s => s.SiloId == "b");
    }
}
