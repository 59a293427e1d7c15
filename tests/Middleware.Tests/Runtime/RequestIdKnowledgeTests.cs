using System.Collections.Concurrent;
using System.Reflection;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;
using Middleware.Tests.Support;

namespace Middleware.Tests.Runtime;

/// <summary>
/// A component past its checkpoint tells a new request id from one its checkpoint recorded without a store read per
/// request (<see cref="RequestIdKnowledge"/>), and still answers every recorded id with its recorded reply, running nothing
/// twice: in the activation that wrote the checkpoints, after a reactivation, with ids out of order and ids of any form.
/// </summary>
public sealed class RequestIdKnowledgeTests
{
    [Theory]
    [InlineData("s1a2b3:17", "s1a2b3", -1, 17)]
    [InlineData("Account/x:42:1", "Account/x", 42, 1)]
    [InlineData("Account/a:b:42:1", "Account/a:b", 42, 1)]
    [InlineData(":5", "", -1, 5)]
    [InlineData("r1", "r", -1, 1)]
    [InlineData("order-2026-0042", "order-2026-", -1, 42)]
    [InlineData("bench-7f3a-12-99", "bench-7f3a-12-", -1, 99)]
    [InlineData("session:12a7", "session:12a", -1, 7)]
    [InlineData("12345", "", -1, 12345)]
    public void Ids_split_into_a_prefix_and_their_trailing_numbers(string id, string prefix, long hi, long lo)
    {
        Assert.True(RequestIdKnowledge.TryParse(id, out var p, out var h, out var l));
        Assert.Equal((prefix, hi, lo), (p.ToString(), h, l));
    }

    [Theory]
    [InlineData("session:")]
    [InlineData("session:12a")]
    [InlineData("session:1234567890123456789")]
    [InlineData("nocolon")]
    [InlineData("3f2504e0-4f89-11d3-9a0c-0305e82c330e")]
    [InlineData("")]
    public void Ids_without_a_trailing_number_are_never_proven_new(string id)
    {
        Assert.False(RequestIdKnowledge.TryParse(id, out _, out _, out _));
        Assert.False(RequestIdKnowledge.Empty().IsCertainlyNew(id));
    }

    [Fact]
    public void Only_ids_above_everything_recorded_under_their_prefix_are_new()
    {
        var knowledge = RequestIdKnowledge.Empty();
        Assert.True(knowledge.IsCertainlyNew("s:1"));
        knowledge.Record("s:5");
        knowledge.Record("s:3");
        knowledge.Record("Caller/k:7:2");
        Assert.False(knowledge.IsCertainlyNew("s:5"));
        Assert.False(knowledge.IsCertainlyNew("s:4")); // never recorded, but below the greatest: the store decides
        Assert.True(knowledge.IsCertainlyNew("s:6"));
        Assert.False(knowledge.IsCertainlyNew("Caller/k:7:2"));
        Assert.False(knowledge.IsCertainlyNew("Caller/k:6:9"));
        Assert.True(knowledge.IsCertainlyNew("Caller/k:7:3"));
        Assert.True(knowledge.IsCertainlyNew("Caller/k:8:0"));
        Assert.True(knowledge.IsCertainlyNew("other:1"));
        Assert.False(RequestIdKnowledge.Unknown().IsCertainlyNew("s:100"));
    }

    [Fact]
    public void Prefixes_past_the_bound_are_folded_and_sent_to_the_store_never_proven_new()
    {
        var knowledge = RequestIdKnowledge.Empty();
        var sessions = Enumerable.Range(0, RequestIdKnowledge.MaxPrefixes * 3).Select(i => $"session-{i}").ToList();
        foreach (var session in sessions) knowledge.Record($"{session}:10");
        // Every recorded id stays "maybe recorded", whether its prefix is kept or folded.
        Assert.All(sessions, s => Assert.False(knowledge.IsCertainlyNew($"{s}:10")));
        Assert.All(sessions, s => Assert.False(knowledge.IsCertainlyNew($"{s}:9")));
        // Most of them are folded now: their new ids go to the store too (sound, only slower).
        Assert.True(sessions.Count(s => !knowledge.IsCertainlyNew($"{s}:11")) >= sessions.Count - RequestIdKnowledge.MaxPrefixes);
    }

    [Fact]
    public async Task New_requests_past_a_checkpoint_need_no_store_read_and_recorded_ones_still_run_once()
    {
        var (store, reads) = CountingStore.Wrap(new MemoryLogStore());
        var options = new RuntimeOptions { CheckpointEveryTurns = 10, CheckpointSpread = 0 };
        await using (var rt = new LocalRuntime(store, Registries.Default(), options))
        {
            for (var i = 1; i <= 35; i++) Assert.Equal(i, await rt.Call<ICounter>("c", $"s:{i}").Add(1));
            Assert.Equal(30, (await store.GetHeadAsync("Counter/c"))!.CheckpointSeq);

            reads.Clear();
            for (var i = 36; i <= 60; i++) Assert.Equal(i, await rt.Call<ICounter>("c", $"s:{i}").Add(1));
            Assert.Equal(0, reads.GetValueOrDefault(nameof(ILogStore.FindRequestAsync)));
            Assert.Equal(0, reads.GetValueOrDefault(nameof(ILogStore.ListRequestIdsAsync)));

            // Recorded before a checkpoint (no longer in memory): the recorded reply, nothing runs again.
            Assert.Equal(2, await rt.Call<ICounter>("c", "s:2").Add(1));
            Assert.Equal(33, await rt.Call<ICounter>("c", "s:33").Add(1));
            await Assert.ThrowsAsync<RequestIdReuseException>(() => rt.Call<ICounter>("c", "s:3").Add(7));
            Assert.Equal(60, await rt.Call<ICounter>("c", "read").Get());
        }

        // A new activation starts from the checkpoint: one listing of the recorded ids, then new ids need no read either.
        reads.Clear();
        await using var again = new LocalRuntime(store, Registries.Default(), options);
        for (var i = 61; i <= 70; i++) Assert.Equal(i, await again.Call<ICounter>("c", $"s:{i}").Add(1));
        Assert.Equal(1, reads.GetValueOrDefault(nameof(ILogStore.ListRequestIdsAsync)));
        Assert.Equal(0, reads.GetValueOrDefault(nameof(ILogStore.FindRequestAsync)));
        Assert.Equal(5, await again.Call<ICounter>("c", "s:5").Add(1));
        Assert.Equal(1, reads.GetValueOrDefault(nameof(ILogStore.FindRequestAsync)));

        // Out of order and unnumbered ids: looked up, run once when new.
        Assert.Equal(71, await again.Call<ICounter>("c", "t:9").Add(1));
        Assert.Equal(72, await again.Call<ICounter>("c", "t:4").Add(1));
        Assert.Equal(73, await again.Call<ICounter>("c", "plain").Add(1));
        Assert.Equal(73, await again.Call<ICounter>("c", "plain").Add(1));
        Assert.Equal(72, await again.Call<ICounter>("c", "t:4").Add(1));
        Assert.Equal(73, await again.Call<ICounter>("c", "read").Get());
    }

    [Fact]
    public async Task Ids_an_application_numbers_itself_need_no_store_read_past_a_checkpoint_either()
    {
        // order-1, order-2, ...: no colon, as applications (and the local benchmark) make them. Before, every such request
        // past the component's first checkpoint was a store read under its turn lock.
        var (store, reads) = CountingStore.Wrap(new MemoryLogStore());
        var options = new RuntimeOptions { CheckpointEveryTurns = 10, CheckpointSpread = 0 };
        await using var rt = new LocalRuntime(store, Registries.Default(), options);
        for (var i = 1; i <= 25; i++) Assert.Equal(i, await rt.Call<ICounter>("c", $"order-{i}").Add(1));
        Assert.Equal(20, (await store.GetHeadAsync("Counter/c"))!.CheckpointSeq);

        reads.Clear();
        for (var i = 26; i <= 50; i++) Assert.Equal(i, await rt.Call<ICounter>("c", $"order-{i}").Add(1));
        Assert.Equal(0, reads.GetValueOrDefault(nameof(ILogStore.FindRequestAsync)));

        // A retry of one the checkpoint took out of memory still gets its recorded reply, from the store.
        Assert.Equal(3, await rt.Call<ICounter>("c", "order-3").Add(1));
        Assert.Equal(1, reads.GetValueOrDefault(nameof(ILogStore.FindRequestAsync)));
        Assert.Equal(50, await rt.Call<ICounter>("c", "read").Get());
    }

    [Fact]
    public async Task A_history_longer_than_the_first_listing_is_listed_in_the_background_then_new_ids_need_no_read()
    {
        var (store, reads) = CountingStore.Wrap(new MemoryLogStore());
        var options = new RuntimeOptions { CheckpointEveryTurns = 1000 };
        var total = RequestIdKnowledge.MaxLoad + 1200; // the last checkpoint (every 1,000 turns) records more ids than MaxLoad
        await using (var rt = new LocalRuntime(store, Registries.Default(), options))
        {
            for (var i = 1; i <= total; i++) await rt.Call<ICounter>("c", $"s:{i}").Add(1);
        }

        reads.Clear();
        await using var again = new LocalRuntime(store, Registries.Default(), options);
        var next = total;
        Assert.Equal(next + 1, await again.Call<ICounter>("c", $"s:{++next}").Add(1));
        // Too many ids for the listing under the turn lock: asked per id while the background listing runs.
        await Eventually.TrueAsync(async () =>
        {
            var before = reads.GetValueOrDefault(nameof(ILogStore.FindRequestAsync));
            Assert.Equal(next + 1, await again.Call<ICounter>("c", $"s:{++next}").Add(1));
            return reads.GetValueOrDefault(nameof(ILogStore.FindRequestAsync)) == before;
        }, "the background listing to make new ids provable (a new id answered without a look-up)");

        Assert.Equal(2, reads.GetValueOrDefault(nameof(ILogStore.ListRequestIdsAsync)));
        var found = reads.GetValueOrDefault(nameof(ILogStore.FindRequestAsync));
        for (var i = 0; i < 50; i++) Assert.Equal(next + 1, await again.Call<ICounter>("c", $"s:{++next}").Add(1));
        Assert.Equal(found, reads.GetValueOrDefault(nameof(ILogStore.FindRequestAsync)));

        // Retries of ids recorded long ago, and ids out of order, still go to the store: recorded replies, nothing runs again.
        Assert.Equal(5, await again.Call<ICounter>("c", "s:5").Add(1));
        Assert.Equal(total - 3, await again.Call<ICounter>("c", $"s:{total - 3}").Add(1));
        Assert.Equal(next, await again.Call<ICounter>("c", "read").Get());
    }

    [Fact]
    public async Task A_store_that_cannot_list_its_ids_is_asked_per_request_as_before()
    {
        var (store, reads) = CountingStore.Wrap(new MemoryLogStore(), listsIds: false);
        var options = new RuntimeOptions { CheckpointEveryTurns = 10, CheckpointSpread = 0 };
        await using (var rt = new LocalRuntime(store, Registries.Default(), options))
        {
            for (var i = 1; i <= 12; i++) await rt.Call<ICounter>("c", $"s:{i}").Add(1);
        }

        reads.Clear();
        await using var again = new LocalRuntime(store, Registries.Default(), options);
        for (var i = 13; i <= 15; i++) Assert.Equal(i, await again.Call<ICounter>("c", $"s:{i}").Add(1));
        // The first may be answered by the activation read itself (it looks up the request that activated the component).
        Assert.InRange(reads.GetValueOrDefault(nameof(ILogStore.FindRequestAsync)), 2, 3);
        Assert.Equal(4, await again.Call<ICounter>("c", "s:4").Add(1));
        Assert.Equal(15, await again.Call<ICounter>("c", "read").Get());
    }

    /// <summary>An <see cref="ILogStore"/> that counts calls by method name and passes them on (or answers null to <c>ListRequestIdsAsync</c>).</summary>
    public class CountingStore : DispatchProxy
    {
        private ILogStore _inner = null!;
        private ConcurrentDictionary<string, int> _calls = null!;
        private bool _listsIds;

        public static (ILogStore Store, ConcurrentDictionary<string, int> Calls) Wrap(ILogStore inner, bool listsIds = true)
        {
            var store = Create<ILogStore, CountingStore>();
            var proxy = (CountingStore)(object)store;
            (proxy._inner, proxy._calls, proxy._listsIds) = (inner, new ConcurrentDictionary<string, int>(), listsIds);
            return (store, proxy._calls);
        }

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
        {
            _calls.AddOrUpdate(targetMethod!.Name, 1, (_, n) => n + 1);
            if (!_listsIds && targetMethod.Name == nameof(ILogStore.ListRequestIdsAsync)) return Task.FromResult<IReadOnlyList<string>?>(null);
            try
            {
                return targetMethod.Invoke(_inner, args);
            }
            catch (TargetInvocationException e) when (e.InnerException is not null)
            {
                throw e.InnerException;
            }
        }
    }
}
