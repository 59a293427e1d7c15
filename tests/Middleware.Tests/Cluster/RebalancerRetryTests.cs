using System.Reflection;
using System.Runtime.ExceptionServices;
using Microsoft.Extensions.Logging.Abstractions;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;
using Middleware.Silo;
using Middleware.Tests.Support;

namespace Middleware.Tests.Cluster;

/// <summary>
/// A handover that does not finish (its ownership write fails) leaves the component here, deactivated; its next request
/// activates it here again. The rebalancer then finds it misplaced at its next scan, not only at the full comparison it
/// makes every 30 s (a join once took 40 s to settle instead of 5-7 s; bench/README.md, rebalance). A real runtime and an
/// in-memory cluster store whose first ownership write fails.
/// </summary>
public sealed class RebalancerRetryTests
{
    [Fact]
    public async Task A_component_whose_handover_failed_and_that_was_activated_here_again_moves_at_the_next_scan()
    {
        var time = TimeProvider.System;
        await using var store = new MemoryLogStore(time);
        var options = new SiloOptions { SiloId = "giver", DeadAfter = TimeSpan.FromSeconds(60), RebalancePerSecond = 1000 };
        options.Runtime.OwnerId = options.SiloId;
        var registry = new ComponentRegistry().Add<ICounter, Counter>();
        await using var runtime = new LocalRuntime(store, registry, options.Runtime, new RuntimeEnvironment { Ownership = new ClusterOwnership(store, "giver"), TimeProvider = time });
        await using var membership = new ClusterMembership(store, options, "giver:1", null, _ => { }, () => runtime.ActivationCount, NullLogger.Instance, time);
        await membership.StartAsync(CancellationToken.None);
        await store.JoinAsync("joined", "joined:1", null, TimeSpan.FromSeconds(60));
        var both = (await store.ListSilosAsync()).Where(s => s.IsLive).ToList();
        var id = Enumerable.Range(0, 100).Select(i => new ComponentId("Counter", $"retry-{i}")).First(c => Rendezvous.Pick(c.ToString(), both)?.SiloId == "joined");
        var add = ComponentInterface.Of(typeof(ICounter)).Methods[nameof(ICounter.Add)].EncodeArgs([1L], registry.Json);
        await runtime.InvokeAsync(new Invocation(id, "r-1", nameof(ICounter.Add), add));

        // The cluster store the handover writes through: its first ownership write fails.
        var cluster = DispatchProxy.Create<IClusterStore, FirstHandOverFails>();
        ((FirstHandOverFails)(object)cluster).Inner = store;
        var move = new MoveOperation(options, new DirectoryCache(), NullLogger.Instance, (_, _, _) => Task.FromResult(true));
        await using var rebalancer = new Rebalancer(options, runtime, store, cluster, move, membership, NullLogger.Instance, time);
        await membership.RefreshAsync(CancellationToken.None);
        await rebalancer.ScanAsync(CancellationToken.None); // a view seen for the first time: wait one scan
        await rebalancer.ScanAsync(CancellationToken.None); // the handover: its ownership write fails

        Assert.Equal(1, rebalancer.Failed);
        Assert.Equal(0, rebalancer.Moved);
        Assert.Equal("giver", (await store.GetHeadAsync(id.ToString()))?.Owner);
        Assert.False(runtime.IsActive(id), "the failed handover deactivated the component here");

        await rebalancer.ScanAsync(CancellationToken.None); // nothing live is misplaced now
        Assert.Equal(0, rebalancer.Misplaced);

        // Its next request activates it here again (this silo still owns it), after that scan.
        var reply = await runtime.InvokeAsync(new Invocation(id, "r-2", nameof(ICounter.Add), add));
        Assert.False(reply.IsError, reply.ErrorMessage);
        Assert.True(runtime.IsActive(id));

        // The next scan, seconds before the next full comparison, finds it and hands it over.
        await rebalancer.ScanAsync(CancellationToken.None);
        Assert.Equal(1, rebalancer.Moved);
        Assert.Equal("joined", (await store.GetHeadAsync(id.ToString()))?.Owner);
    }

    /// <summary>An <see cref="IClusterStore"/> passing every call to <see cref="Inner"/>, except that the first <c>HandOverAsync</c> fails.</summary>
    public class FirstHandOverFails : DispatchProxy
    {
        private int _handOvers;

        public IClusterStore Inner { get; set; } = null!;

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
        {
            ArgumentNullException.ThrowIfNull(targetMethod);
            if (targetMethod.Name == nameof(IClusterStore.HandOverAsync) && Interlocked.Increment(ref _handOvers) == 1)
                return Task.FromException<bool>(new TimeoutException("injected: the ownership write failed"));
            try
            {
                return targetMethod.Invoke(Inner, args);
            }
            catch (TargetInvocationException e) when (e.InnerException is not null)
            {
                ExceptionDispatchInfo.Throw(e.InnerException);
                throw;
            }
        }
    }
}
