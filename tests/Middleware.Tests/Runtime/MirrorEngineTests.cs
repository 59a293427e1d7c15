using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Middleware.Grains;
using Middleware.Recovery.Log;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;
using Middleware.Tests.Support;

namespace Middleware.Tests.Runtime;

/// <summary>
/// The engine side of process-level mirroring, in one process: an owner runtime's durable groups are shipped to a
/// mirror runtime's standbys, which re-execute them; the mirror's activation then starts warm. The silo tests cover
/// real processes, sockets and SIGKILL.
/// </summary>
public sealed class MirrorEngineTests
{
    private static readonly ComponentId C = new("Counter", "c");

    [Fact]
    public async Task A_mirror_takes_over_warm_without_replaying_and_answers_old_request_ids_from_its_memory()
    {
        var store = new MemoryLogStore();
        var shipped = new Shipments();
        await using var mirror = Runtime(store, "mirror");
        await using (var owner = Runtime(store, "owner", shipped))
        {
            for (var i = 1; i <= 50; i++) await owner.Call<ICounter>("c", $"r{i}").Add(i);
        }

        await shipped.DeliverAsync(mirror, "owner");
        Assert.Equal(50, mirror.Mirrors.Find(C)!.AppliedSeq);
        Assert.Equal(50, mirror.Mirrors.RecordsApplied);
        Assert.Equal(0, mirror.Mirrors.RecordsFromStore); // nothing read back: every record came shipped

        // The owner is gone; the mirror claims and serves from the standby.
        Assert.Equal(1275 + 51, await mirror.Call<ICounter>("c", "r51").Add(51));
        Assert.Equal((1L, 0L, 0L), (mirror.Mirrors.WarmTakeovers, mirror.Mirrors.ColdTakeovers, mirror.Mirrors.RecordsFromStore));
        Assert.Equal(0, mirror.Mirrors.Count);
        // A retry of a request the dead owner acknowledged gets its recorded reply: exactly once.
        Assert.Equal(55, await mirror.Call<ICounter>("c", "r10").Add(10));
        Assert.Equal(1275 + 51, await mirror.Call<ICounter>("c", "r52").Add(0));
    }

    [Fact]
    public async Task The_tail_the_owner_never_shipped_comes_from_the_store_and_nothing_else_is_replayed()
    {
        var store = new MemoryLogStore();
        var shipped = new Shipments();
        await using var mirror = Runtime(store, "mirror");
        await using (var owner = Runtime(store, "owner", shipped))
        {
            for (var i = 1; i <= 30; i++) await owner.Call<ICounter>("c", $"r{i}").Add(1);
            await shipped.DeliverAsync(mirror, "owner");
            for (var i = 31; i <= 45; i++) await owner.Call<ICounter>("c", $"r{i}").Add(1); // died before shipping these
        }

        Assert.Equal(30, mirror.Mirrors.Find(C)!.AppliedSeq);
        Assert.Equal(46, await mirror.Call<ICounter>("c", "r46").Add(1));
        Assert.Equal((1L, 15L), (mirror.Mirrors.WarmTakeovers, mirror.Mirrors.RecordsFromStore));
    }

    [Fact]
    public async Task A_gap_in_what_was_shipped_and_an_announced_head_are_filled_from_the_store()
    {
        var store = new MemoryLogStore();
        var shipped = new Shipments();
        await using var mirror = Runtime(store, "mirror");
        await using var owner = Runtime(store, "owner", shipped);
        for (var i = 1; i <= 10; i++) await owner.Call<ICounter>("c", $"a{i}").Add(1);
        await shipped.DeliverAsync(mirror, "owner");
        for (var i = 1; i <= 10; i++) await owner.Call<ICounter>("c", $"b{i}").Add(1);
        shipped.Discard(); // lost on the way
        for (var i = 1; i <= 10; i++) await owner.Call<ICounter>("c", $"c{i}").Add(1);
        await shipped.DeliverAsync(mirror, "owner");
        Assert.Equal((30L, 10L), (mirror.Mirrors.Find(C)!.AppliedSeq, mirror.Mirrors.RecordsFromStore));

        // An owner whose buffer overflowed announces only how far the log got.
        for (var i = 1; i <= 5; i++) await owner.Call<ICounter>("c", $"d{i}").Add(1);
        shipped.Discard();
        Assert.Equal(MirrorApplyOutcome.Applied, await mirror.Mirrors.ApplyAsync(C, "owner", [], null, head: 35));
        Assert.Equal(35, mirror.Mirrors.Find(C)!.AppliedSeq);
    }

    [Fact]
    public async Task Checkpoint_hashes_are_compared_and_the_mirror_forgets_ids_a_checkpoint_covers()
    {
        var store = new MemoryLogStore();
        var shipped = new Shipments();
        await using var mirror = Runtime(store, "mirror");
        await using (var owner = Runtime(store, "owner", shipped, checkpointEvery: 10))
        {
            for (var i = 1; i <= 25; i++) await owner.Call<ICounter>("c", $"r{i}").Add(1);
        }

        await shipped.DeliverAsync(mirror, "owner");
        Assert.True(shipped.Checkpoints >= 2, $"{shipped.Checkpoints} checkpoints shipped");
        Assert.Equal(0, mirror.Mirrors.Divergences);
        Assert.Equal(26, await mirror.Call<ICounter>("c", "r26").Add(1));
        Assert.Equal(1, mirror.Mirrors.WarmTakeovers);
        // Ids before the last checkpoint are answered from the store's dedup table, later ones from memory: both exactly once.
        Assert.Equal(3, await mirror.Call<ICounter>("c", "r3").Add(1));
        Assert.Equal(24, await mirror.Call<ICounter>("c", "r24").Add(1));
    }

    [Fact]
    public async Task A_nondeterministic_reply_is_a_divergence_the_mirror_reports_while_the_owner_serves_on()
    {
        var store = new MemoryLogStore();
        var shipped = new Shipments();
        var log = new RecordingLogger { MinimumLevel = LogLevel.Warning };
        await using var mirror = Runtime(store, "mirror", logger: log);
        await using var owner = Runtime(store, "owner", shipped);
        await owner.Call<IWallClock>("w", "n1").Now();
        var outcomes = await shipped.DeliverAsync(mirror, "owner");
        Assert.Equal([MirrorApplyOutcome.DivergedNow], outcomes);
        Assert.Equal(1, mirror.Mirrors.Divergences);
        Assert.Equal(1, mirror.Counters.Snapshot()[(RuntimeCounters.MirrorDivergence, FailureCause.Divergence)]);
        var line = Assert.Single(log.At(LogLevel.Error));
        Assert.Contains("Mirror divergence: WallClock/w at seq 1 (Now)", line);
        Assert.Contains("the owner recorded reply", line);

        // The owner is untouched; later shipments do not replay the divergent turn again.
        await owner.Call<IWallClock>("w", "n2").Now();
        Assert.Equal([MirrorApplyOutcome.Diverged], await shipped.DeliverAsync(mirror, "owner"));
        Assert.Equal(1, mirror.Mirrors.Divergences);
    }

    [Fact]
    public async Task A_state_that_differs_behind_equal_replies_is_caught_at_the_checkpoint()
    {
        var store = new MemoryLogStore();
        var shipped = new Shipments();
        await using var mirror = Runtime(store, "mirror");
        await using var owner = Runtime(store, "owner", shipped, checkpointEvery: 3);
        for (var i = 1; i <= 3; i++) await owner.Call<IDrifter>("d", $"t{i}").Touch();
        var outcomes = await shipped.DeliverAsync(mirror, "owner");
        Assert.Contains(MirrorApplyOutcome.DivergedNow, outcomes);
        Assert.Equal(1, mirror.Mirrors.Divergences);
        Assert.Equal(1, await owner.Call<IDrifter>("d", "t4").Touch()); // the owner serves on
    }

    [Fact]
    public async Task Without_a_standby_a_takeover_is_cold_and_counted_as_such()
    {
        var store = new MemoryLogStore();
        await using (var owner = Runtime(store, "owner"))
        {
            for (var i = 1; i <= 5; i++) await owner.Call<ICounter>("c", $"r{i}").Add(1);
        }

        await using var other = Runtime(store, "other");
        Assert.Equal(6, await other.Call<ICounter>("c", "r6").Add(1));
        Assert.Equal((0L, 1L), (other.Mirrors.WarmTakeovers, other.Mirrors.ColdTakeovers));
    }

    [Fact]
    public async Task A_reset_makes_the_standby_rebuild_from_the_reset_checkpoint()
    {
        var store = new MemoryLogStore();
        var shipped = new Shipments();
        await using var mirror = Runtime(store, "mirror");
        await using (var owner = Runtime(store, "owner", shipped))
        {
            for (var i = 1; i <= 6; i++) await owner.Call<ICounter>("c", $"r{i}").Add(10);
            await owner.ResetAsync(C, 3, "ops", "undo the last three");
            await owner.Call<ICounter>("c", "after").Add(1);
        }

        await shipped.DeliverAsync(mirror, "owner");
        Assert.Equal(31, await mirror.Call<ICounter>("c", "next").Add(0));
        Assert.Equal(0, mirror.Mirrors.Divergences);
    }

    private static LocalRuntime Runtime(ILogStore store, string ownerId, Shipments? shipped = null, int checkpointEvery = 1000, ILogger? logger = null)
    {
        var environment = new RuntimeEnvironment { CommitObserver = shipped };
        if (logger is not null) environment.Logger = logger;
        return new LocalRuntime(store, new ComponentRegistry().Add<ICounter, Counter>().Add<IWallClock, WallClock>().Add<IDrifter, Drifter>(),
            new RuntimeOptions { OwnerId = ownerId, CheckpointEveryTurns = checkpointEvery }, environment);
    }

    /// <summary>What an owner made durable, kept until the test delivers it (as a silo's shipper would, in order).</summary>
    private sealed class Shipments : ICommitObserver
    {
        private readonly ConcurrentQueue<AppendGroup> _groups = new();

        public int Checkpoints { get; private set; }

        public void Committed(AppendGroup group) => _groups.Enqueue(group);

        public void Discard() => _groups.Clear();

        public async Task<List<MirrorApplyOutcome>> DeliverAsync(LocalRuntime mirror, string owner)
        {
            var outcomes = new List<MirrorApplyOutcome>();
            while (_groups.TryDequeue(out var group))
            {
                if (group.Checkpoint is not null) Checkpoints++;
                var mark = group.Checkpoint is { } c ? new CheckpointMark(c.Seq, c.StateHash) : (CheckpointMark?)null;
                var outcome = await mirror.Mirrors.ApplyAsync(ComponentId.Parse(group.ComponentId), owner, group.Records, mark);
                if (outcomes.Count == 0 || outcomes[^1] != outcome) outcomes.Add(outcome);
            }

            return outcomes;
        }
    }
}

public interface IDrifter : IRecoverableComponent
{
    Task<int> Touch();
}

public sealed class DrifterState
{
    public string Token { get; set; } = "";
}

/// <summary>Deliberately nondeterministic in its state only: the reply is always 1, the state gets a fresh GUID.</summary>
public sealed class Drifter : RecoverableGrain<DrifterState>, IDrifter
{
    public Task<int> Touch()
    {
#pragma warning disable MW0001 // the point of the test
        State.Token = Guid.NewGuid().ToString();
#pragma warning restore MW0001
        return Task.FromResult(1);
    }
}
