using Microsoft.Extensions.Logging.Abstractions;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;
using Middleware.Silo;
using Middleware.Tests.Support;

namespace Middleware.Tests.Cluster;

/// <summary>
/// The first component a silo hands to another silo (one that just joined) goes alone: the receiver's first claims and
/// activations are its slowest, so no other handover to it starts before that one ended (activated there); after it, the
/// rest run several at a time as before. A real runtime and an in-memory cluster store; the destination's activation
/// (<c>$move.warm</c>) is the recorded step.
/// </summary>
public sealed class RebalancerFirstMoveTests
{
    [Fact]
    public async Task The_first_handover_to_a_new_silo_runs_alone_and_the_rest_run_several_at_a_time()
    {
        await using var giver = await Giver.StartAsync("first", 12);
        var (store, runtime, membership, options, ids, time) = (giver.Store, giver.Runtime, giver.Membership, giver.Options, giver.Ids, giver.Time);

        // The destination's activation after each handover: recorded, the first one slow.
        var calls = new List<(int Index, DateTime Start, DateTime End)>();
        var inFlight = 0;
        var maxInFlight = 0;
        async Task<bool> WarmAsync(string address, ComponentId id, CancellationToken cancellationToken)
        {
            int index;
            var start = DateTime.UtcNow;
            lock (calls)
            {
                index = calls.Count;
                calls.Add((index, start, DateTime.MaxValue));
                maxInFlight = Math.Max(maxInFlight, ++inFlight);
            }

            await Task.Delay(index == 0 ? 400 : 100, cancellationToken); // the destination's work: a slow first activation, then quick ones
            lock (calls)
            {
                calls[index] = (index, start, DateTime.UtcNow);
                inFlight--;
            }

            return true;
        }

        var move = new MoveOperation(options, new DirectoryCache(), NullLogger.Instance, WarmAsync);
        await using var rebalancer = new Rebalancer(options, runtime, store, store, move, membership, NullLogger.Instance, time);
        await membership.RefreshAsync(CancellationToken.None);
        await rebalancer.ScanAsync(CancellationToken.None); // a view seen for the first time: wait one scan
        await rebalancer.ScanAsync(CancellationToken.None);

        Assert.Equal(ids.Count, rebalancer.Moved);
        foreach (var id in ids) Assert.Equal("joined", (await store.GetHeadAsync(id.ToString()))?.Owner);
        Assert.Equal(ids.Count, calls.Count);
        var first = calls[0];
        // Nothing else was handed over while the first one ran (its destination activation took 400 ms)...
        Assert.All(calls.Skip(1), c => Assert.True(c.Start >= first.End, $"handover {c.Index} started at {c.Start:HH:mm:ss.fff}, before the first ended at {first.End:HH:mm:ss.fff}"));
        // ...and the rest ran several at a time.
        Assert.True(maxInFlight > 1, "after the first handover the rest ran one at a time");
    }

    [Fact]
    public async Task Before_the_first_handover_to_a_new_silo_the_giver_makes_one_round_trip_to_it_while_every_component_still_serves_here()
    {
        await using var giver = await Giver.StartAsync("prepare", 6);
        var (store, runtime, membership, options, ids, time) = (giver.Store, giver.Runtime, giver.Membership, giver.Options, giver.Ids, giver.Time);

        // The round trip (slow, like a process that just started) sees every component still owned and served here.
        var prepared = new List<(string Address, int OwnedHere, int ActiveHere, int WarmedBefore)>();
        var warmed = 0;
        async Task<bool> PrepareAsync(string address, CancellationToken cancellationToken)
        {
            await Task.Delay(300, cancellationToken); // the destination's work: a round trip to a process that just started
            var owned = 0;
            foreach (var id in ids) owned += (await store.GetHeadAsync(id.ToString(), cancellationToken))?.Owner == "giver" ? 1 : 0;
            lock (prepared) prepared.Add((address, owned, ids.Count(runtime.IsActive), Volatile.Read(ref warmed)));
            return true;
        }

        Task<bool> WarmAsync(string address, ComponentId id, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref warmed);
            return Task.FromResult(true);
        }

        var move = new MoveOperation(options, new DirectoryCache(), NullLogger.Instance, WarmAsync, PrepareAsync);
        await using var rebalancer = new Rebalancer(options, runtime, store, store, move, membership, NullLogger.Instance, time);
        await membership.RefreshAsync(CancellationToken.None);
        await rebalancer.ScanAsync(CancellationToken.None); // a view seen for the first time: wait one scan
        await rebalancer.ScanAsync(CancellationToken.None);
        await rebalancer.ScanAsync(CancellationToken.None); // nothing left to move: no second round trip

        Assert.Equal(ids.Count, rebalancer.Moved);
        foreach (var id in ids) Assert.Equal("joined", (await store.GetHeadAsync(id.ToString()))?.Owner);
        var only = Assert.Single(prepared);
        Assert.Equal(("joined:1", ids.Count, ids.Count, 0), only);
        Assert.Equal(ids.Count, warmed);
    }

    /// <summary>
    /// A silo "giver" (real runtime, in-memory cluster store) with <c>count</c> live components whose rendezvous owner,
    /// once the silo "joined" is live (it is), is "joined".
    /// </summary>
    private sealed record Giver(MemoryLogStore Store, LocalRuntime Runtime, ClusterMembership Membership, SiloOptions Options, List<ComponentId> Ids, TimeProvider Time) : IAsyncDisposable
    {
        public static async Task<Giver> StartAsync(string prefix, int count)
        {
            var time = TimeProvider.System;
            var store = new MemoryLogStore(time);
            var options = new SiloOptions { SiloId = "giver", DeadAfter = TimeSpan.FromSeconds(60), RebalancePerSecond = 1000 };
            options.Runtime.OwnerId = options.SiloId;
            var registry = new ComponentRegistry().Add<ICounter, Counter>();
            var runtime = new LocalRuntime(store, registry, options.Runtime, new RuntimeEnvironment { Ownership = new ClusterOwnership(store, "giver"), TimeProvider = time });
            var membership = new ClusterMembership(store, options, "giver:1", null, _ => { }, () => runtime.ActivationCount, NullLogger.Instance, time);
            await membership.StartAsync(CancellationToken.None);
            await store.JoinAsync("joined", "joined:1", null, TimeSpan.FromSeconds(60));
            var both = (await store.ListSilosAsync()).Where(s => s.IsLive).ToList();
            var ids = Enumerable.Range(0, 400).Select(i => new ComponentId("Counter", $"{prefix}-{i}"))
                .Where(id => Rendezvous.Pick(id.ToString(), both)?.SiloId == "joined").Take(count).ToList();
            Assert.Equal(count, ids.Count);
            var add = ComponentInterface.Of(typeof(ICounter)).Methods[nameof(ICounter.Add)].EncodeArgs([1L], registry.Json);
            foreach (var id in ids) await runtime.InvokeAsync(new Invocation(id, $"r-{id.Key}", nameof(ICounter.Add), add));
            return new Giver(store, runtime, membership, options, ids, time);
        }

        public async ValueTask DisposeAsync()
        {
            await Membership.DisposeAsync();
            await Runtime.DisposeAsync();
            await Store.DisposeAsync();
        }
    }
}
