using Bank.Demo;
using Middleware.Recovery.Sqlite;
using Xunit.Abstractions;

namespace Middleware.Tests.Crash;

/// <summary>
/// A host is SIGKILLed while a burst of deposits is in flight. After the restart, resending a request that
/// was acknowledged before the kill returns its original reply (the same balance number) and changes no
/// balance, whether the id is answered from the replayed log or from the dedup table of a checkpoint.
/// </summary>
[Collection(CrashCollection.Name)]
public sealed class RetryAfterCrashTests(ITestOutputHelper output)
{
    // 150 deposits per account: the first 100 end up behind a checkpoint (dedup table), the rest in the log tail.
    private const int Burst = 600;

    /// <param name="overlappedWalSync">The host runs its SQLite store with <see cref="SqliteStoreOptions.OverlapWalSync"/>:
    /// replies released by a WAL sync on a second thread; none acknowledged may be lost or answered differently.</param>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_retry_of_a_request_acknowledged_before_the_kill_returns_the_original_reply(bool overlappedWalSync)
    {
        await using var harness = new CrashHarness(output, overlappedWalSync ? "retry-overlap" : "retry", hostEnvironment: overlappedWalSync
            ? new Dictionary<string, string> { [SqliteStoreOptions.OverlapWalSyncVariable] = "1" }
            : null);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        var accounts = new[] { "b-0", "b-1", "b-2", "b-3" };
        var requests = Enumerable.Range(1, Burst)
            .Select(n => new HostRequest($"burst-{n}", OperationKind.Deposit, accounts[n % accounts.Length], harness.Random.Next(1, 1001)))
            .ToArray();
        await harness.Supervisor.StartAsync();

        // The burst goes out with a window of requests in flight (all at once, a fast host answers the whole
        // burst before the kill lands); the kill lands once a random part of it is acknowledged.
        var killAt = harness.Random.Next(Burst / 4, Burst / 2);
        using var window = new SemaphoreSlim(48);
        var acknowledged = new Dictionary<string, Acknowledged>(StringComparer.Ordinal);
        var enoughAcked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var sends = requests.Select(async request =>
        {
            await window.WaitAsync(timeout.Token);
            HostReply reply;
            try
            {
                reply = await harness.Supervisor.SendAsync(request, timeout.Token);
            }
            finally
            {
                window.Release();
            }

            lock (acknowledged)
            {
                acknowledged.Add(request.RequestId, new Acknowledged(request, reply));
                if (acknowledged.Count >= killAt) enoughAcked.TrySetResult();
            }
        }).ToArray();
        await enoughAcked.Task.WaitAsync(timeout.Token);
        Acknowledged[] beforeKill;
        lock (acknowledged) beforeKill = [.. acknowledged.Values];
        var restart = await harness.Supervisor.KillAndRestartAsync();
        int acksWhenReady;
        lock (acknowledged) acksWhenReady = acknowledged.Count;
        harness.LogRestart(restart, beforeKill.Length, acksWhenReady);
        Assert.True(restart.InFlightAtKill > 0, "the kill should land while part of the burst is still in flight");

        await Task.WhenAll(sends);
        Assert.Equal(Burst, acknowledged.Count);
        var balancesAfterBurst = await harness.BalancesAsync(accounts, timeout.Token);
        Assert.Equal(LogVerifier.ExpectedBalances(acknowledged.Values), balancesAfterBurst);

        // Kill the idle host too, so the retries below meet freshly recovered activations.
        harness.LogRestart(await harness.Supervisor.KillAndRestartAsync(), acknowledged.Count, acknowledged.Count);
        foreach (var original in beforeKill)
        {
            var again = await harness.Supervisor.SendAsync(original.Request, timeout.Token);
            Assert.True(again.SameOutcome(original.Reply), $"retry of {original.Request.RequestId}: first reply '{original.Reply}', after the crash '{again}'");
        }

        // The rest too (acknowledged after the first restart, some of them only after being resent).
        foreach (var original in acknowledged.Values.Except(beforeKill))
        {
            var again = await harness.Supervisor.SendAsync(original.Request, timeout.Token);
            Assert.True(again.SameOutcome(original.Reply), $"retry of {original.Request.RequestId}: first reply '{original.Reply}', after the crash '{again}'");
        }

        var balancesAfterRetries = await harness.BalancesAsync(accounts, timeout.Token);
        Assert.Equal(balancesAfterBurst, balancesAfterRetries);
        harness.Log($"{acknowledged.Count} requests ({beforeKill.Length} acknowledged before the kill) retried after two restarts: same replies, balances unchanged");

        var report = await harness.StopAndVerifyAsync(acknowledged.Values, balancesAfterRetries);
        Assert.True(report.Passed, string.Join(Environment.NewLine, report.Discrepancies.Prepend(report.Summary).Take(40)));
        Assert.Equal((Burst, 0, 0), (report.Acknowledged, report.Lost, report.Duplicated));
    }
}
