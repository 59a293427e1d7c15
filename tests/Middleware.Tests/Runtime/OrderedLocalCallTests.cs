using Middleware.Core;
using Middleware.Grains;
using Middleware.Recovery.Log;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Sqlite;
using Middleware.Recovery.Storage;
using Middleware.TestComponents;
using Middleware.Tests.Support;

namespace Middleware.Tests.Runtime;

/// <summary>
/// A turn's call to a component of the same runtime leaves before the turn's partial record is durable; the callee's
/// record is then written only with it (same transaction, a dependent group) or after it (docs/ARCHITECTURE.md, "Calls
/// that do not wait for the caller's partial record"). Each test here fails if that order is not kept: the store
/// writes a dependent group whose dependency it refused, the writer commits a dependent record before or without its
/// dependency, or the runtime makes a callee's effect durable while the caller's trace is not.
/// </summary>
public sealed class OrderedLocalCallTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    private static ComponentRegistry Registry() => new ComponentRegistry().Add<IPeer, Peer>();

    private static LogRecord Record(long seq, long epoch, RecordKind kind = RecordKind.Turn) => new(seq, epoch, kind, new byte[] { 1, 2, 3 });

    private static async Task<ILogStore> StoreAsync(string kind, string dir) =>
        kind == "sqlite" ? SqliteLogStore.Open(Path.Combine(dir, "store.db")) : await Task.FromResult<ILogStore>(new MemoryLogStore());

    private static async Task<long> LastSeqAsync(ILogStore store, string id) => (await store.GetHeadAsync(id))?.LastSeq ?? 0;

    [Theory]
    [InlineData("memory")]
    [InlineData("sqlite")]
    public async Task A_group_whose_dependency_is_refused_in_the_same_transaction_writes_nothing(string kind)
    {
        var dir = Path.Combine(Path.GetTempPath(), "mw-order-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            await using var store = await StoreAsync(kind, dir);
            Assert.True(store.SupportsGroupDependencies);
            foreach (var id in new[] { "A/1", "B/1" }) Assert.NotNull((await store.ClaimAsync(new ClaimRequest(id, 0, "me", ClaimMode.EpochOnly))).Claimed);

            // The caller's group is fenced (a stale epoch): the dependent group must not be written, though it would pass alone.
            var statuses = await store.AppendAsync([new AppendGroup("A/1", 2, [Record(1, 2)]), new AppendGroup("B/1", 1, [Record(1, 1)]) { DependsOn = [0] }]);
            Assert.Equal([AppendStatus.Fenced, AppendStatus.Fenced], statuses);
            Assert.Equal(0, await LastSeqAsync(store, "B/1"));

            // A seq conflict refuses it the same way; an independent group in the same transaction is written.
            statuses = await store.AppendAsync([new AppendGroup("A/1", 1, [Record(5, 1)]), new AppendGroup("B/1", 1, [Record(1, 1)]) { DependsOn = [0] }, new AppendGroup("C/1", 1, [])]);
            Assert.Equal(AppendStatus.Fenced, statuses[1]);
            Assert.Equal(0, await LastSeqAsync(store, "B/1"));

            // Written together when the dependency is.
            statuses = await store.AppendAsync([new AppendGroup("A/1", 1, [Record(1, 1, RecordKind.PartialTurn)]), new AppendGroup("B/1", 1, [Record(1, 1)]) { DependsOn = [0] }]);
            Assert.Equal([AppendStatus.Ok, AppendStatus.Ok], statuses);
            Assert.Equal(1, await LastSeqAsync(store, "B/1"));

            // A claim riding in a dependent group is not even decided when the dependency is refused.
            var claiming = await store.AppendClaimingAsync([
                new AppendGroup("A/1", 2, [Record(2, 2)]),
                new AppendGroup("D/1", 1, [Record(1, 1)]) { Claim = new AppendClaim(new ClaimRequest("D/1", 0, "me", ClaimMode.EpochOnly), 0), DependsOn = [0] },
            ]);
            Assert.Equal([AppendStatus.Fenced, AppendStatus.Fenced], claiming.Statuses);
            Assert.Null(claiming.Claims[1]);
            Assert.Null(await store.GetHeadAsync("D/1"));

            // Only an earlier group can be depended on.
            var e = await Assert.ThrowsAsync<ArgumentException>(() => store.AppendAsync([new AppendGroup("A/1", 1, [Record(2, 1)]) { DependsOn = [0] }]));
            Assert.Contains("earlier group", e.Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void A_store_that_cannot_order_dependent_groups_refuses_them_naming_the_fix()
    {
        var e = Assert.Throws<ArgumentException>(() => GroupDependencyRules.Check([new AppendGroup("A/1", 1, []), new AppendGroup("B/1", 1, []) { DependsOn = [0] }], supported: false, "postgres:x"));
        Assert.Contains("SupportsGroupDependencies", e.Message);
        Assert.Contains("wait for the dependency", e.Message);
    }

    /// <summary>A store whose appends can be held or failed, and that remembers every append that reached it.</summary>
    private sealed class Watched
    {
        public Watched()
        {
            Recorder = new RecordingStore(Inner);
            Store = new FaultInjectingStore(Recorder) { OrderDependentGroups = true };
        }

        public MemoryLogStore Inner { get; } = new();

        public RecordingStore Recorder { get; }

        public FaultInjectingStore Store { get; }

        /// <summary>Holds (or fails) the next append that has a group <paramref name="hold"/> accepts.</summary>
        public void Hold(Func<AppendGroup, bool> hold, FaultMode mode = FaultMode.Hang) => Store.Inject(mode, count: 1, where: hold);

        public int AppendCount
        {
            get
            {
                lock (Recorder.Appends) return Recorder.Appends.Count;
            }
        }

        /// <summary>Whether an append since the first <paramref name="since"/> had a group of <paramref name="component"/>.</summary>
        public bool Saw(string component, int since)
        {
            lock (Recorder.Appends) return Recorder.Appends.Skip(since).Any(a => a.Any(g => g.ComponentId == component));
        }
    }

    /// <summary>Passes everything to the inner store and keeps the groups of every append it was given.</summary>
    private sealed class RecordingStore(ILogStore inner) : ILogStore
    {
        public List<IReadOnlyList<AppendGroup>> Appends { get; } = [];

        public string Name => inner.Name;

        public bool SupportsGroupDependencies => inner.SupportsGroupDependencies;

        public Task<IReadOnlyList<AppendStatus>> AppendAsync(IReadOnlyList<AppendGroup> groups, CancellationToken cancellationToken = default)
        {
            lock (Appends) Appends.Add([.. groups]);
            return inner.AppendAsync(groups, cancellationToken);
        }

        public Task<ComponentHead?> GetHeadAsync(string componentId, CancellationToken cancellationToken = default) => inner.GetHeadAsync(componentId, cancellationToken);

        public Task<ClaimResult> ClaimAsync(ClaimRequest request, CancellationToken cancellationToken = default) => inner.ClaimAsync(request, cancellationToken);

        public Task<IReadOnlyList<LogRecord>> ReadAsync(string componentId, long fromSeq, long toSeq, CancellationToken cancellationToken = default) => inner.ReadAsync(componentId, fromSeq, toSeq, cancellationToken);

        public Task<CheckpointRecord?> GetCheckpointAsync(string componentId, long atOrBeforeSeq = long.MaxValue, CancellationToken cancellationToken = default) => inner.GetCheckpointAsync(componentId, atOrBeforeSeq, cancellationToken);

        public Task<DedupEntry?> FindRequestAsync(string componentId, string requestId, CancellationToken cancellationToken = default) => inner.FindRequestAsync(componentId, requestId, cancellationToken);

        public Task<long> TruncateAsync(string componentId, long beforeSeq, CancellationToken cancellationToken = default) => inner.TruncateAsync(componentId, beforeSeq, cancellationToken);

        public Task<IReadOnlyList<ComponentHead>> ListComponentsAsync(CancellationToken cancellationToken = default) => inner.ListComponentsAsync(cancellationToken);

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    [Fact]
    public async Task The_writer_commits_a_dependent_record_only_with_or_after_its_dependency()
    {
        var watched = new Watched();
        foreach (var id in new[] { "H/1", "A/1", "B/1", "X/1" }) await watched.Inner.ClaimAsync(new ClaimRequest(id, 0, "me", ClaimMode.EpochOnly));
        await using var writer = new GroupCommitWriter(watched.Store, maxBatch: 100);
        Assert.True(writer.OrdersDependencies);

        // 1. Taken together, the caller's group fenced (stale epoch): the dependent is refused in that same transaction.
        watched.Hold(g => g.ComponentId == "H/1");
        var held = writer.Enqueue("H/1", 1, Record(1, 1));
        await WaitUntilAsync(() => watched.Store.Faulted == 1, "the first append to hang");
        var a = writer.EnqueueItem("A/1", 2, Record(1, 2, RecordKind.PartialTurn), null, null);
        var b = writer.EnqueueItem("B/1", 1, Record(1, 1), null, a);
        watched.Store.Release();
        Assert.Equal(AppendStatus.Ok, await held.WaitAsync(Patience));
        Assert.Equal(AppendStatus.Fenced, await a.Task.WaitAsync(Patience));
        await Assert.ThrowsAsync<DependencyNotWrittenException>(() => b.Task.WaitAsync(Patience));
        Assert.Equal(0, await LastSeqAsync(watched.Inner, "B/1"));

        // 2. The dependency commits in a transaction that fails: the dependent was held back meanwhile (the store never saw
        // it) and is refused without reaching the store.
        var since = watched.AppendCount;
        watched.Hold(g => g.ComponentId == "A/1");
        a = writer.EnqueueItem("A/1", 1, Record(1, 1, RecordKind.PartialTurn), null, null);
        await WaitUntilAsync(() => watched.Store.Faulted == 2, "the dependency's append to hang");
        b = writer.EnqueueItem("B/1", 1, Record(1, 1), null, a);
        await Task.Delay(50); // "nothing happens within T": the dependent must stay held back while its dependency hangs
        Assert.False(b.Task.IsCompleted);
        Assert.False(watched.Saw("B/1", since));
        watched.Store.Release(fail: true);
        await Assert.ThrowsAsync<StoreUnavailableException>(() => a.Task.WaitAsync(Patience));
        await Assert.ThrowsAsync<DependencyNotWrittenException>(() => b.Task.WaitAsync(Patience));
        Assert.False(watched.Saw("B/1", since));
        Assert.Equal(0, await LastSeqAsync(watched.Inner, "B/1"));

        // 3. Both written in one transaction; a component whose earlier record was in the batch before the dependency gets
        // a group of its own after it (groups are decided in order).
        watched.Hold(g => g.ComponentId == "H/1");
        held = writer.Enqueue("H/1", 1, Record(2, 1));
        await WaitUntilAsync(() => watched.Store.Faulted == 3, "the append to hang");
        var x = writer.Enqueue("X/1", 1, Record(1, 1));
        a = writer.EnqueueItem("A/1", 1, Record(1, 1, RecordKind.PartialTurn), null, null);
        var x3 = writer.EnqueueItem("X/1", 1, Record(2, 1), null, a);
        b = writer.EnqueueItem("B/1", 1, Record(1, 1), null, a);
        watched.Store.Release();
        foreach (var t in new[] { held, x, a.Task, x3.Task, b.Task }) Assert.Equal(AppendStatus.Ok, await t.WaitAsync(Patience));
        Assert.Equal(2, await LastSeqAsync(watched.Inner, "X/1"));
        lock (watched.Recorder.Appends)
        {
            // One transaction: X/1 (seq 1), A/1, then X/1 (seq 2) and B/1, both depending on A/1's group.
            var last = watched.Recorder.Appends[^1];
            Assert.Equal(["X/1", "A/1", "X/1", "B/1"], last.Select(g => g.ComponentId));
            Assert.Equal([1], last[2].DependsOn!);
            Assert.Equal([1], last[3].DependsOn!);
        }
        Assert.Equal(1, await LastSeqAsync(watched.Inner, "B/1"));
    }

    [Fact]
    public async Task A_callee_record_is_not_durable_when_the_callers_partial_record_is_fenced()
    {
        var store = new MemoryLogStore();
        await using (var runtime = new LocalRuntime(store, Registry()))
        {
            Assert.Equal(1, await runtime.Call<IPeer>("a", "r0").Forward("b", ""));
            var bBefore = await LastSeqAsync(store, "Peer/b");

            // Another owner takes a over while its activation here is live: a's next partial record is fenced. Its call to b
            // leaves before that is known, and b's record rides in the same transaction: it must not be written.
            var head = await store.GetHeadAsync("Peer/a");
            Assert.NotNull((await store.ClaimAsync(new ClaimRequest("Peer/a", head!.Epoch, "usurper", ClaimMode.EpochOnly))).Claimed);
            await Assert.ThrowsAnyAsync<RequestNotAcknowledgedException>(() => runtime.Call<IPeer>("a", "r1").Forward("b", "").WaitAsync(Patience));
            Assert.Equal(bBefore, await LastSeqAsync(store, "Peer/b"));
        }

        // b never moved: its state rebuilt from the log shows one Work.
        await using var fresh = new LocalRuntime(store, Registry());
        Assert.Equal(1, (await fresh.Call<IPeer>("b", "read").Read()).Worked);
    }

    [Fact]
    public async Task A_callee_record_is_not_durable_when_the_transaction_with_the_callers_partial_record_fails()
    {
        var watched = new Watched();
        await using (var runtime = new LocalRuntime(watched.Store, Registry()))
        {
            Assert.Equal(1, await runtime.Call<IPeer>("a", "r0").Forward("b", ""));
            var bBefore = await LastSeqAsync(watched.Inner, "Peer/b");
            var aBefore = await LastSeqAsync(watched.Inner, "Peer/a");

            // The transaction carrying a's next partial record fails: b's record was in it (the call did not wait), so b's
            // effect is not durable either, and the request is not acknowledged.
            watched.Hold(g => g.ComponentId == "Peer/a" && g.Records.Any(r => r.Kind == RecordKind.PartialTurn), FaultMode.Fail);
            await Assert.ThrowsAnyAsync<RequestNotAcknowledgedException>(() => runtime.Call<IPeer>("a", "r1").Forward("b", "").WaitAsync(Patience));
            Assert.Equal(1, watched.Store.Faulted);
            Assert.Equal(bBefore, await LastSeqAsync(watched.Inner, "Peer/b"));
            Assert.Equal(aBefore, await LastSeqAsync(watched.Inner, "Peer/a"));
        }

        // A retry of the same request runs once: b moves exactly once.
        await using var fresh = new LocalRuntime(watched.Inner, Registry());
        Assert.Equal(2, await fresh.Call<IPeer>("a", "r1").Forward("b", ""));
        Assert.Equal(2, await fresh.Call<IPeer>("a", "r1").Forward("b", ""));
        Assert.Equal(2, (await fresh.Call<IPeer>("b", "read").Read()).Worked);
    }

    [Theory]
    [InlineData(true, 2)]
    [InlineData(false, 3)]
    public async Task A_local_call_shares_the_commit_of_the_callers_partial_record(bool ordered, int commits)
    {
        // One quiet request: the commits it waits for are the writer's batches, one after another.
        var store = new MemoryLogStore();
        await using var runtime = new LocalRuntime(store, Registry(), new RuntimeOptions { OrderLocalCalls = ordered });
        await runtime.Call<IPeer>("a", "warm").Forward("b", "");
        var before = runtime.WriterStats.Batches;
        Assert.Equal(2, await runtime.Call<IPeer>("a", "r1").Forward("b", ""));
        // Ordered: [a's partial + b's record], [a's final]. Waiting: [a's partial], [b's record], [a's final].
        Assert.Equal(commits, runtime.WriterStats.Batches - before);
    }

    private static Task WaitUntilAsync(Func<bool> condition, string what) => Eventually.TrueAsync(condition, what, Patience);
}
