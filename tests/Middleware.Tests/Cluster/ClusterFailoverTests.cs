using System.Collections.Concurrent;
using System.Diagnostics;
using Bank;
using Middleware.Client;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Protocol;
using Middleware.Recovery.Log;
using Middleware.Tests.Support;
using Xunit.Abstractions;

namespace Middleware.Tests.Cluster;

/// <summary>
/// Three silo processes on one store, clients of the real SDK, real SIGKILL and SIGSTOP: what a user of the cluster
/// would notice when a silo dies or stalls. Written once; each store kind is a subclass.
/// </summary>
[Collection(ClusterCollection.Name)]
public abstract class ClusterFailoverTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    [StoreFact]
    public async Task Killing_the_owner_under_load_costs_a_pause_and_no_deposit()
    {
        await using var cluster = await StartClusterAsync(3);
        await using var client = await cluster.ConnectAsync();
        var keys = Enumerable.Range(0, 8).Select(i => $"kill-{Guid.NewGuid():N}"[..12] + i).ToArray();
        var acked = new ConcurrentDictionary<string, long>();
        var failures = new ConcurrentQueue<Exception>();
        var stop = new CancellationTokenSource();
        long total = 0, lastAck = Stopwatch.GetTimestamp(), longestGapTicks = 0;

        async Task WorkerAsync(int worker)
        {
            for (var n = worker; !stop.IsCancellationRequested; n += 16)
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
                var now = Stopwatch.GetTimestamp();
                var gap = now - Interlocked.Exchange(ref lastAck, now);
                if (gap > Interlocked.Read(ref longestGapTicks)) Interlocked.Exchange(ref longestGapTicks, gap);
            }
        }

        var workers = Enumerable.Range(0, 16).Select(w => Task.Run(() => WorkerAsync(w))).ToArray();
        await WaitUntilAsync(() => Interlocked.Read(ref total) >= 400, "400 deposits before the kill");
        var victim = await cluster.OwnerOfAsync($"Account/{keys[0]}") ?? throw new InvalidOperationException("no owner recorded");
        Interlocked.Exchange(ref longestGapTicks, 0);
        await victim.KillAsync();
        var atKill = Interlocked.Read(ref total);
        await WaitUntilAsync(() => Interlocked.Read(ref total) >= atKill + 400 || !failures.IsEmpty, "400 deposits after the kill");
        await stop.CancelAsync();
        await Task.WhenAll(workers).WaitAsync(Patience);

        Assert.Empty(failures);
        var gapAfterKill = Stopwatch.GetElapsedTime(0, Interlocked.Read(ref longestGapTicks));
        output.WriteLine($"killed {victim.SiloId}; {total} deposits acknowledged; longest pause after the kill {gapAfterKill.TotalMilliseconds:0} ms");

        // The component moved to a live silo, and every acknowledged deposit is in its balance exactly once.
        var owner = await cluster.OwnerOfAsync($"Account/{keys[0]}");
        Assert.NotNull(owner);
        Assert.NotEqual(victim.SiloId, owner!.SiloId);
        foreach (var key in keys)
            Assert.Equal(acked.GetValueOrDefault(key), await client.GetComponent<IAccount>(key).Balance());
    }

    [StoreFact]
    public async Task A_paused_owner_that_resumes_after_the_takeover_cannot_write()
    {
        await using var cluster = await StartClusterAsync(3);
        var paused = cluster.Silos[0];
        await using var client = await cluster.ConnectAsync(cluster.Silos.Skip(1), discover: false);

        // An account the first silo owns: rendezvous spreads keys, so some of a few dozen land there.
        string? key = null;
        for (var i = 0; i < 60 && key is null; i++)
        {
            var candidate = $"stop-{Guid.NewGuid():N}"[..14];
            await client.GetComponent<IAccount>(candidate).Deposit(10);
            if ((await cluster.OwnerOfAsync($"Account/{candidate}"))?.SiloId == paused.SiloId) key = candidate;
        }

        Assert.NotNull(key);
        var component = $"Account/{key}";
        var before = await cluster.HeadOfAsync(component);

        // A client whose only gateway is the silo about to stall sends a deposit into the stall.
        await using var stalledClient = await cluster.ConnectAsync([paused], attemptTimeout: TimeSpan.FromSeconds(3), discover: false);
        await cluster.PauseOutsideAStoreTransactionAsync(paused);
        var stalledRequest = stalledClient.NextRequestId();
        var intoTheStall = stalledClient.Call<IAccount>(key!, stalledRequest).Deposit(5);

        // Meanwhile the rest of the cluster declares it dead and takes the account over.
        Assert.Equal(30, await client.GetComponent<IAccount>(key!).Deposit(20));
        var after = await cluster.HeadOfAsync(component);
        Assert.NotEqual(paused.SiloId, after!.Owner);
        Assert.True(after.Epoch > before!.Epoch);

        // It resumes, unaware: its stale activation must not write, and the stalled request is applied once, elsewhere.
        paused.Resume();
        var balance = await intoTheStall.WaitAsync(Patience);
        Assert.Equal(35, balance);
        Assert.Equal(35, await stalledClient.Call<IAccount>(key!, stalledRequest).Deposit(5)); // a resend answers the same
        Assert.Equal(35, await client.GetComponent<IAccount>(key!).Balance());

        // No record of the old epoch after the takeover: the resumed silo wrote nothing.
        await using var store = await cluster.OpenStoreAsync();
        var log = await store.ReadAsync(component, 1, long.MaxValue);
        Assert.All(log.Where(r => r.Seq > before.LastSeq), r => Assert.True(r.Epoch > before.Epoch, $"seq {r.Seq} was written with the old epoch {r.Epoch}"));
        Assert.Equal(3, log.Count(r => r.Kind == RecordKind.Turn));

        // And it noticed it had been declared dead: it rejoined and serves again.
        await WaitUntilAsync(async () => (await cluster.SilosAsync()).Any(s => s.SiloId == paused.SiloId && s.IsLive), "the resumed silo to rejoin");
        Assert.Equal(36, await stalledClient.GetComponent<IAccount>(key!).Deposit(1));
    }

    [StoreFact]
    public async Task A_client_restart_resumes_its_session_without_reusing_a_request_id()
    {
        await using var cluster = await StartClusterAsync(2);
        var key = $"sess-{Guid.NewGuid():N}"[..14];
        string sessionId;
        string lastRequest;
        await using (var first = await cluster.ConnectAsync())
        {
            await first.SetSessionItemAsync("customer", "ada");
            for (var i = 0; i < 10; i++) await first.GetComponent<IAccount>(key).Deposit(1);
            lastRequest = first.NextRequestId();
            Assert.Equal(11, await first.Call<IAccount>(key, lastRequest).Deposit(1));
            sessionId = first.SessionId;
        }

        // The silo the first client used dies too; the resumed session goes on through the other one.
        await cluster.Silos[0].KillAsync();
        await using var resumed = await cluster.ConnectAsync(cluster.Silos.Skip(1), sessionId);
        Assert.Equal(sessionId, resumed.SessionId);
        var next = resumed.NextRequestId();
        Assert.True(long.Parse(next.Split(':')[1]) > long.Parse(lastRequest.Split(':')[1]), $"{next} must come after {lastRequest}");
        for (var i = 0; i < 10; i++) await resumed.GetComponent<IAccount>(key).Deposit(1);
        Assert.Equal(21, await resumed.GetComponent<IAccount>(key).Balance());

        // The first process's last request is known to the cluster, and its reply is the recorded one.
        var outcome = await resumed.GetOutcomeAsync(new ComponentId("Account", key), lastRequest);
        Assert.True(outcome.Committed);
        Assert.Equal("11", System.Text.Encoding.UTF8.GetString(outcome.Reply!.Result.Span));
    }

    [StoreFact]
    public async Task Outcome_queries_answer_before_and_after_a_crash_and_fence_what_never_ran()
    {
        await using var cluster = await StartClusterAsync(3);
        await using var client = await cluster.ConnectAsync();
        var key = $"out-{Guid.NewGuid():N}"[..14];
        var target = new ComponentId("Account", key);
        var committed = client.NextRequestId();
        Assert.Equal(7, await client.Call<IAccount>(key, committed).Deposit(7));
        var neverSent = client.NextRequestId();

        Assert.True((await client.GetOutcomeAsync(target, committed)).Committed);
        Assert.False((await client.GetOutcomeAsync(target, neverSent)).Committed);

        // The fenced id can never run now: a late arrival gets the "not committed" answer, and the balance is untouched.
        var late = await Assert.ThrowsAnyAsync<Exception>(() => client.Call<IAccount>(key, neverSent).Deposit(100));
        Assert.Contains("not committed", late.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(7, await client.GetComponent<IAccount>(key).Balance());

        // After the owner crashes, the new owner answers the same from the log.
        var owner = await cluster.OwnerOfAsync(target.ToString());
        await owner!.KillAsync();
        var again = await client.GetOutcomeAsync(target, committed);
        Assert.True(again.Committed);
        Assert.Equal("7", System.Text.Encoding.UTF8.GetString(again.Reply!.Result.Span));
        Assert.False((await client.GetOutcomeAsync(target, neverSent)).Committed);
        Assert.NotEqual(owner.SiloId, (await cluster.OwnerOfAsync(target.ToString()))?.SiloId);

        // Unknown components get a clear error, and other traffic carries on.
        var unknown = await Assert.ThrowsAsync<UnknownComponentException>(() => client.InvokeAsync(new ComponentId("NoSuchType", "x"), "Anything", "[]"u8.ToArray()));
        Assert.Contains("NoSuchType", unknown.Message);
        Assert.Equal(8, await client.GetComponent<IAccount>(key).Deposit(1));
    }

    [StoreFact]
    public async Task Transfers_under_a_kill_conserve_money_and_apply_once()
    {
        await using var cluster = await StartClusterAsync(3);
        await using var client = await cluster.ConnectAsync();
        var prefix = Guid.NewGuid().ToString("N")[..6];
        var accounts = Enumerable.Range(0, 6).Select(i => $"{prefix}-a{i}").ToArray();
        var tellers = Enumerable.Range(0, 4).Select(i => $"{prefix}-t{i}").ToArray();
        foreach (var account in accounts) await client.GetComponent<IAccount>(account).Deposit(1000);

        var load = TellerLoad.Start(client, tellers, accounts, maxAmount: 60);
        await WaitUntilAsync(() => load.Total >= 150, "150 transfers before the kill");
        var victim = await cluster.OwnerOfAsync($"Teller/{tellers[0]}") ?? cluster.Silos[0];
        await victim.KillAsync();
        var atKill = load.Total;
        await WaitUntilAsync(() => load.Total >= atKill + 150 || load.Failures.Count > 0, "150 transfers after the kill");
        await load.StopAsync(Patience);

        Assert.Empty(load.Failures);
        long sum = 0;
        foreach (var account in accounts) sum += await client.GetComponent<IAccount>(account).Balance();
        Assert.Equal(accounts.Length * 1000, sum);
        foreach (var teller in tellers)
            Assert.Equal(load.CompletedBy(teller), (await client.GetComponent<ITeller>(teller).Totals()).Transfers);
        output.WriteLine($"killed {victim.SiloId}; {load.Total} transfers attempted, {load.Completed} completed; money conserved");
    }

    [StoreFact]
    public async Task A_gracefully_stopped_owner_leaves_promptly_with_connected_clients_and_hands_its_components_on()
    {
        await using var cluster = await StartClusterAsync(3);
        await using var client = await cluster.ConnectAsync();
        var key = $"term-{Guid.NewGuid():N}"[..14];
        Assert.Equal(5, await client.GetComponent<IAccount>(key).Deposit(5));
        var owner = await cluster.OwnerOfAsync($"Account/{key}") ?? throw new InvalidOperationException("no owner recorded");

        // SIGTERM with the client's connections open: the silo drains what it took, closes them, and exits.
        var stopwatch = Stopwatch.StartNew();
        owner.Terminate();
        var exitCode = await owner.WaitForExitAsync();
        Assert.True(exitCode == 0, $"{owner.SiloId} exited with {exitCode} after SIGTERM:\n{owner.Stderr}\n{string.Join('\n', owner.Stdout.Split('\n').TakeLast(30))}");
        output.WriteLine($"{owner.SiloId} exited {stopwatch.ElapsedMilliseconds} ms after SIGTERM");
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(15), $"the silo took {stopwatch.Elapsed} to stop");

        // It left (not dead), its checkpoint and release let the next owner start without waiting for a window: the
        // component has no owner, or already the silo that mirrored it (accounts are [Mirrored]; it takes over at once).
        var silos = await cluster.SilosAsync();
        Assert.Equal(Middleware.Recovery.Storage.SiloStatus.Left, silos.Single(s => s.SiloId == owner.SiloId).Status);
        Assert.NotEqual(owner.SiloId, (await cluster.HeadOfAsync($"Account/{key}"))!.Owner);
        Assert.Equal(12, await client.GetComponent<IAccount>(key).Deposit(7));
        Assert.NotEqual(owner.SiloId, (await cluster.OwnerOfAsync($"Account/{key}"))?.SiloId);
    }

    [StoreFact]
    public async Task A_client_can_find_the_silos_in_the_store_instead_of_a_gateway_list()
    {
        await using var cluster = await StartClusterAsync(2);
        await using var store = await cluster.OpenStoreAsync();
        await using var client = await MiddlewareClient.ConnectAsync(new MiddlewareClientOptions
        {
            GatewayProvider = new Middleware.Recovery.Storage.StoreGatewayListProvider((Middleware.Recovery.Storage.IClusterStore)store),
        });
        var key = $"mem-{Guid.NewGuid():N}"[..14];
        Assert.Equal(4, await client.GetComponent<IAccount>(key).Deposit(4));

        // With every silo gone the store lists none, and the client says so at connect.
        foreach (var silo in cluster.Silos) await silo.KillAsync();
        await WaitUntilAsync(async () => !(await cluster.SilosAsync()).Any(s => s.IsLive), "the store to list no live silo");
        var refused = await Assert.ThrowsAsync<ClientConnectException>(() => MiddlewareClient.ConnectAsync(new MiddlewareClientOptions
        {
            GatewayProvider = new Middleware.Recovery.Storage.StoreGatewayListProvider((Middleware.Recovery.Storage.IClusterStore)store),
        }));
        Assert.Contains("no live silo", refused.Message);
    }

    /// <summary>Starts <paramref name="count"/> silos on a fresh store of the subclass's kind.</summary>
    internal abstract Task<ClusterFixture> StartClusterAsync(int count);

    private static Task WaitUntilAsync(Func<bool> condition, string what) => WaitUntilAsync(() => Task.FromResult(condition()), what);

    private static Task WaitUntilAsync(Func<Task<bool>> condition, string what) => Eventually.TrueAsync(condition, what, Patience);
}

/// <summary>The cluster on one SQLite file shared by the silo processes (one machine).</summary>
public sealed class SqliteClusterFailoverTests(ITestOutputHelper output) : ClusterFailoverTests(output)
{
    internal override Task<ClusterFixture> StartClusterAsync(int count) => ClusterFixture.StartAsync(count);
}

/// <summary>The cluster on a fresh database of the throwaway PostgreSQL server (the several-machines deployment).</summary>
[RequiresPostgres]
public sealed class PostgresClusterFailoverTests(ITestOutputHelper output) : ClusterFailoverTests(output)
{
    internal override async Task<ClusterFixture> StartClusterAsync(int count)
    {
        var server = await PostgresServer.GetAsync();
        return await ClusterFixture.StartAsync(count, "postgres:" + await server.CreateDatabaseAsync());
    }
}

/// <summary>Cluster tests start three processes each: run them one at a time on a 2-core machine.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ClusterCollection
{
    public const string Name = "cluster processes";
}
