using System.Collections.Concurrent;
using Bank;
using Middleware.Recovery.Storage;
using Middleware.Tests.Silo;
using Xunit.Abstractions;
using Middleware.Tests.Support;

namespace Middleware.Tests.Cluster;

/// <summary>
/// A silo frozen inside a SQLite write transaction holds the file's write lock, so no other silo can heartbeat for the
/// whole pause. When it resumes, nobody may be judged by that window: the healthy silos keep their place and their
/// activations (no rejoin), and deposits go on, each applied once.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class WriteLockPauseTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task A_silo_paused_holding_the_sqlite_write_lock_gets_no_healthy_silo_declared_dead()
    {
        await using var cluster = await ClusterFixture.StartAsync(3);
        await using var client = await cluster.ConnectAsync();
        var keys = Enumerable.Range(0, 9).Select(i => $"lock-{Guid.NewGuid():N}"[..12] + i).ToArray();
        var acked = new ConcurrentDictionary<string, long>();
        var failures = new ConcurrentQueue<Exception>();
        using var stop = new CancellationTokenSource();
        long total = 0;

        async Task WorkerAsync(int worker)
        {
            for (var n = worker; !stop.IsCancellationRequested; n += 12)
            {
                var key = keys[n % keys.Length];
                try
                {
                    await client.GetComponent<IAccount>(key).Deposit(1);
                }
                catch (Exception e)
                {
                    failures.Enqueue(e);
                    return;
                }

                acked.AddOrUpdate(key, 1, (_, v) => v + 1);
                Interlocked.Increment(ref total);
            }
        }

        var workers = Enumerable.Range(0, 12).Select(w => Task.Run(() => WorkerAsync(w))).ToArray();
        SiloProcess holder;
        Dictionary<string, DateTimeOffset> joined;
        try
        {
            await WaitUntilAsync(() => Task.FromResult(Interlocked.Read(ref total) >= 300), "300 deposits before the pause");
            holder = await cluster.OwnerOfAsync($"Account/{keys[0]}") ?? throw new InvalidOperationException("no owner recorded");
            joined = (await cluster.SilosAsync()).ToDictionary(s => s.SiloId, s => s.JoinedAt);

            // Frozen with the file's write lock: every heartbeat, claim and append of the other silos waits or fails.
            await cluster.PauseHoldingTheWriteLockAsync(holder);
            var atPause = Interlocked.Read(ref total);
            await Task.Delay(3 * ClusterFixture.DeadAfterMs); // the length of the pause is the point: three windows
            holder.Resume();
            var atResume = Interlocked.Read(ref total);
            output.WriteLine($"{holder.SiloId} held the write lock for {3 * ClusterFixture.DeadAfterMs} ms; {atResume - atPause} deposits acknowledged meanwhile");

            // Any silo wrongly declared dead would notice at its next heartbeat and rejoin: wait until all are live again
            // and the load went well past the resume, then look at what happened to them.
            await WaitUntilAsync(async () => !failures.IsEmpty
                || (Interlocked.Read(ref total) >= atResume + 300 && (await cluster.SilosAsync()).Count(s => s.IsLive) == 3), "300 deposits after the resume with every silo live");
        }
        finally
        {
            // The workers stop before the client goes, whatever failed above.
            await stop.CancelAsync();
            await Task.WhenAll(workers).WaitAsync(Patience);
        }

        Assert.Empty(failures);
        var silos = await cluster.SilosAsync();
        foreach (var silo in cluster.Silos.Where(s => s != holder))
        {
            var row = silos.Single(s => s.SiloId == silo.SiloId);
            Assert.True(row.Status == SiloStatus.Active && row.JoinedAt == joined[silo.SiloId],
                $"{silo.SiloId} was declared dead through the pause of {holder.SiloId} and rejoined: status {row.Status}, joined {row.JoinedAt:O} (before: {joined[silo.SiloId]:O})");
            Assert.Equal(0, await silo.ReadMetricAsync("middleware_cluster_rejoins_total"));
        }

        foreach (var key in keys)
            Assert.Equal(acked.GetValueOrDefault(key), await client.GetComponent<IAccount>(key).Balance());
    }

    private static Task WaitUntilAsync(Func<Task<bool>> condition, string what) => Eventually.TrueAsync(condition, what, Patience);
}
