using System.Collections.Concurrent;
using Bank;
using Middleware.Client;
using Xunit.Abstractions;
using Middleware.Tests.Support;

namespace Middleware.Tests.Cluster;

/// <summary>
/// The claim in the first write with real silo processes on one SQLite file: two silos, each with a client hammering the
/// same accounts past a small activation limit (so most deposits are cold activations whose claim rides in their turn's
/// commit), one silo SIGKILLed and started again, the two racing for the same cold components throughout. Every
/// acknowledged deposit is in its account exactly once, and none is lost.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ClaimInFirstWriteTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task Cold_activations_racing_on_two_silos_through_a_kill_and_a_restart_count_every_acknowledged_deposit_once()
    {
        string[] limits = ["--max-activations", "16"];
        await using var cluster = await ClusterFixture.StartAsync(2, null, limits);
        var (first, second) = (cluster.Silos[0], cluster.Silos[1]);
        await using var clientA = await cluster.ConnectAsync([first]);
        await using var clientB = await cluster.ConnectAsync([second]);
        var keys = Enumerable.Range(0, 120).Select(i => $"cold-{Guid.NewGuid():N}"[..12] + i).ToArray();
        var acked = new ConcurrentDictionary<string, long>();
        var failures = new ConcurrentQueue<Exception>();
        using var stop = new CancellationTokenSource();
        long total = 0;

        async Task WorkerAsync(MiddlewareClient client, int worker)
        {
            var random = new Random(worker);
            while (!stop.IsCancellationRequested)
            {
                var key = keys[random.Next(keys.Length)];
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

        var workers = Enumerable.Range(0, 24).Select(w => Task.Run(() => WorkerAsync(w % 2 == 0 ? clientA : clientB, w))).ToArray();
        await WaitUntilAsync(() => Interlocked.Read(ref total) >= 600 || !failures.IsEmpty, "600 deposits before the kill");
        var activationsBefore = await first.ReadMetricAsync("middleware_engine_activations_total");
        await first.KillAsync();
        var atKill = Interlocked.Read(ref total);
        await WaitUntilAsync(() => Interlocked.Read(ref total) >= atKill + 600 || !failures.IsEmpty, "600 deposits after the kill");
        var restarted = await cluster.StartSiloAsync(first.SiloId, limits);
        var atRestart = Interlocked.Read(ref total);
        await WaitUntilAsync(() => Interlocked.Read(ref total) >= atRestart + 600 || !failures.IsEmpty, "600 deposits after the restart");
        await stop.CancelAsync();
        await Task.WhenAll(workers).WaitAsync(Patience);

        Assert.Empty(failures);
        output.WriteLine($"{total} deposits acknowledged over {keys.Length} accounts (kill at {atKill}, restart at {atRestart}); activations on {first.SiloId} before the kill: {activationsBefore}");
        Assert.True(activationsBefore > keys.Length / 2, $"{first.SiloId} activated {activationsBefore} times: the limit did not make deposits cold");
        await using var checker = await cluster.ConnectAsync([restarted, second]);
        foreach (var key in keys)
            Assert.Equal(acked.GetValueOrDefault(key), await checker.GetComponent<IAccount>(key).Balance());
    }

    private static Task WaitUntilAsync(Func<bool> condition, string what) => Eventually.TrueAsync(condition, what, Patience);
}
