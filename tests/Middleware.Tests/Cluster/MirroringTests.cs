using System.Collections.Concurrent;
using System.Diagnostics;
using Bank;
using Middleware.Client;
using Middleware.Grains;
using Middleware.Protocol;
using Middleware.Protocol.Control;
using Middleware.Recovery.Log;
using Middleware.Tests.Silo;
using Middleware.Tests.Support;
using Xunit.Abstractions;

namespace Middleware.Tests.Cluster;

/// <summary>
/// Process-level mirroring (issue 14) as a user of the cluster notices it: three silo processes on one store, the
/// bank's accounts marked [Mirrored], real SIGKILL and SIGSTOP. An owner that dies is replaced by the silo that kept a
/// warm standby of its components, long before the failure window; a dead mirror costs the owner nothing; owner and
/// mirror dying together fall back to log replay; a component whose code is not deterministic is reported divergent
/// while its owner keeps serving. Written once; each store kind is a subclass.
/// </summary>
[Collection(ClusterCollection.Name)]
public abstract class MirroringTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    /// <summary>A failure window far longer than a takeover on direct evidence takes, so the test can tell them apart.</summary>
    private const int LongWindowMs = 20_000;

    [StoreFact]
    public async Task Killing_an_owner_under_load_hands_its_accounts_over_warm_long_before_the_failure_window()
    {
        await using var cluster = await StartClusterAsync(3, "--dead-after-ms", LongWindowMs.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await using var client = await cluster.ConnectAsync();
        var keys = Enumerable.Range(0, 12).Select(i => $"mk-{Guid.NewGuid():N}"[..11] + i).ToArray();
        var load = new DepositLoad(client, keys);
        await WaitUntilAsync(() => load.Total >= 600, "600 deposits before the kill");

        var victim = await cluster.OwnerOfAsync($"Account/{keys[0]}") ?? throw new InvalidOperationException("no owner recorded");
        var victimKeys = new List<string>();
        foreach (var key in keys)
            if ((await cluster.OwnerOfAsync($"Account/{key}"))?.SiloId == victim.SiloId) victimKeys.Add(key);
        var mirror = await MirrorOfAsync(cluster, $"Account/{keys[0]}");
        await WaitUntilAsync(async () => (await StandbyAsync(mirror, $"Account/{keys[0]}"))?.AppliedSeq > 0, "the mirror to apply records");

        var killedAt = Stopwatch.GetTimestamp();
        await victim.KillAsync();
        var atKill = load.Total;
        // The first deposit acknowledged on an account the dead silo owned.
        await WaitUntilAsync(() => victimKeys.Any(k => load.LastAck(k) > killedAt) || load.Failed, "a deposit on the dead owner's accounts");
        var firstAnswer = Stopwatch.GetElapsedTime(killedAt);
        await WaitUntilAsync(() => load.Total >= atKill + 600 || load.Failed, "600 deposits after the kill");
        await load.StopAsync();

        Assert.Empty(load.Failures);
        var survivors = cluster.Silos.Where(s => s != victim).ToList();
        var warm = 0.0;
        foreach (var silo in survivors) warm += await silo.ReadMetricAsync("middleware_mirror_takeovers_total{kind=\"warm\"}");
        var declared = 0.0;
        foreach (var silo in survivors) declared += await silo.ReadMetricAsync("middleware_mirror_silos_declared_dead_total");
        output.WriteLine($"killed {victim.SiloId} owning {victimKeys.Count} of {keys.Count()} accounts; first answer for them after {firstAnswer.TotalMilliseconds:0} ms " +
                         $"(window {LongWindowMs} ms); warm takeovers {warm}; declared dead {declared}; {load.Total} deposits acknowledged");

        // The dead silo was declared dead on evidence (reset, refused port), not after its window; its accounts were
        // taken over from warm standbys; and every acknowledged deposit is in a balance exactly once.
        Assert.True(firstAnswer < TimeSpan.FromMilliseconds(LongWindowMs / 2), $"the first answer took {firstAnswer.TotalMilliseconds:0} ms, as if the failure window ({LongWindowMs} ms) had to pass");
        Assert.True(declared >= 1, "no survivor declared the killed silo dead");
        Assert.True(warm >= 1, "no account was taken over from a standby");
        Assert.Equal(victim.SiloId, (await cluster.SilosAsync()).Single(s => s.SiloId == victim.SiloId && !s.IsLive).SiloId);
        foreach (var key in keys) Assert.Equal(load.Acked(key), await client.GetComponent<IAccount>(key).Balance());
    }

    [StoreFact]
    public async Task A_frozen_owner_is_taken_over_warm_after_its_window_and_writes_nothing_when_it_resumes()
    {
        await using var cluster = await StartClusterAsync(3);
        var frozen = cluster.Silos[0];
        await using var client = await cluster.ConnectAsync(cluster.Silos.Skip(1), discover: false);
        var key = await KeyOwnedByAsync(cluster, client, frozen, "fz");
        var component = $"Account/{key}";
        for (var i = 0; i < 20; i++) await client.GetComponent<IAccount>(key).Deposit(1);
        var mirror = await MirrorOfAsync(cluster, component);
        var before = await cluster.HeadOfAsync(component);
        await WaitUntilAsync(async () => (await StandbyAsync(mirror, component))?.AppliedSeq == before!.LastSeq, "the mirror to catch up");
        var warmBefore = await mirror.ReadMetricAsync("middleware_mirror_takeovers_total{kind=\"warm\"}");

        await cluster.PauseOutsideAStoreTransactionAsync(frozen);
        // Its sockets stay open, so nothing is refused: only the window tells; then the mirror takes over, warm.
        Assert.Equal(22, await client.GetComponent<IAccount>(key).Deposit(1));
        var after = await cluster.HeadOfAsync(component);
        Assert.Equal(mirror.SiloId, after!.Owner);
        Assert.True(after.Epoch > before!.Epoch);
        Assert.Equal(warmBefore + 1, await mirror.ReadMetricAsync("middleware_mirror_takeovers_total{kind=\"warm\"}"));

        frozen.Resume();
        await WaitUntilAsync(async () => (await cluster.SilosAsync()).Any(s => s.SiloId == frozen.SiloId && s.IsLive), "the resumed silo to rejoin");
        Assert.Equal(23, await client.GetComponent<IAccount>(key).Deposit(1));
        await using var store = await cluster.OpenStoreAsync();
        var log = await store.ReadAsync(component, before.LastSeq + 1, long.MaxValue);
        Assert.All(log, r => Assert.True(r.Epoch > before.Epoch, $"seq {r.Seq} was written with the frozen owner's epoch {r.Epoch}"));
    }

    [StoreFact]
    public async Task Killing_the_mirror_leaves_the_owner_serving_and_a_new_mirror_catches_up()
    {
        await using var cluster = await StartClusterAsync(3);
        await using var client = await cluster.ConnectAsync();
        var key = $"mm-{Guid.NewGuid():N}"[..14];
        var component = $"Account/{key}";
        for (var i = 0; i < 30; i++) await client.GetComponent<IAccount>(key).Deposit(1);
        var owner = await cluster.OwnerOfAsync(component) ?? throw new InvalidOperationException("no owner");
        var mirror = await MirrorOfAsync(cluster, component);
        Assert.NotEqual(owner.SiloId, mirror.SiloId);

        await mirror.KillAsync();
        var served = Stopwatch.StartNew();
        for (var i = 0; i < 30; i++) await client.GetComponent<IAccount>(key).Deposit(1);
        output.WriteLine($"30 deposits after the mirror's death in {served.ElapsedMilliseconds} ms");
        Assert.Equal(owner.SiloId, (await cluster.OwnerOfAsync(component))?.SiloId); // the owner kept it

        // The third silo becomes the mirror and bootstraps from the store to the log's head.
        var third = cluster.Silos.Single(s => s != owner && s != mirror);
        var head = await cluster.HeadOfAsync(component);
        await WaitUntilAsync(async () => (await StandbyAsync(third, component))?.AppliedSeq >= head!.LastSeq, $"{third.SiloId} to mirror {component}");
        Assert.True(await third.ReadMetricAsync("middleware_mirror_records_from_store_total") > 0);
        Assert.Equal(60, await client.GetComponent<IAccount>(key).Balance());
    }

    [StoreFact]
    public async Task Killing_owner_and_mirror_together_loses_nothing_and_the_third_silo_takes_over()
    {
        await using var cluster = await StartClusterAsync(3);
        await using var client = await cluster.ConnectAsync();
        var key = $"om-{Guid.NewGuid():N}"[..14];
        var component = $"Account/{key}";
        for (var i = 0; i < 25; i++) await client.GetComponent<IAccount>(key).Deposit(2);
        var owner = await cluster.OwnerOfAsync(component) ?? throw new InvalidOperationException("no owner");
        var mirror = await MirrorOfAsync(cluster, component);
        var third = cluster.Silos.Single(s => s != owner && s != mirror);
        var coldBefore = await third.ReadMetricAsync("middleware_mirror_takeovers_total{kind=\"cold\"}");
        var warmBefore = await third.ReadMetricAsync("middleware_mirror_takeovers_total{kind=\"warm\"}");

        await Task.WhenAll(owner.KillAsync(), mirror.KillAsync());
        Assert.Equal(52, await client.GetComponent<IAccount>(key).Deposit(2));
        Assert.Equal(third.SiloId, (await cluster.OwnerOfAsync(component))?.SiloId);

        // Usually a cold takeover (log replay); warm when the third silo noticed the mirror's death first and had
        // already bootstrapped a standby of its own before the owner's death was known. Exactly one takeover either way.
        var cold = await third.ReadMetricAsync("middleware_mirror_takeovers_total{kind=\"cold\"}") - coldBefore;
        var warm = await third.ReadMetricAsync("middleware_mirror_takeovers_total{kind=\"warm\"}") - warmBefore;
        output.WriteLine($"owner {owner.SiloId} and mirror {mirror.SiloId} killed; {third.SiloId} took over: cold {cold}, warm {warm}");
        Assert.Equal(1, cold + warm);
        Assert.Equal(52, await client.GetComponent<IAccount>(key).Balance());
    }

    [StoreFact]
    public async Task Without_mirroring_a_killed_owners_account_is_taken_over_by_replaying_its_log()
    {
        await using var cluster = await StartClusterAsync(3, "--mirroring", "none");
        await using var client = await cluster.ConnectAsync();
        var key = $"nm-{Guid.NewGuid():N}"[..14];
        for (var i = 0; i < 25; i++) await client.GetComponent<IAccount>(key).Deposit(2);
        var owner = await cluster.OwnerOfAsync($"Account/{key}") ?? throw new InvalidOperationException("no owner");
        foreach (var silo in cluster.Silos) Assert.Equal(0, await silo.ReadMetricAsync("middleware_mirror_standbys"));

        await owner.KillAsync();
        Assert.Equal(52, await client.GetComponent<IAccount>(key).Deposit(2));
        var taker = await cluster.OwnerOfAsync($"Account/{key}") ?? throw new InvalidOperationException("no owner after the kill");
        Assert.NotEqual(owner.SiloId, taker.SiloId);
        Assert.Equal(1, await taker.ReadMetricAsync("middleware_mirror_takeovers_total{kind=\"cold\"}"));
        Assert.Equal(0, await taker.ReadMetricAsync("middleware_mirror_takeovers_total{kind=\"warm\"}"));
    }

    [StoreFact]
    public async Task A_mirror_that_cannot_keep_up_overflows_the_owners_buffer_and_catches_up_from_the_store()
    {
        // A failure window well past the time the owner needs to fill the lane: the frozen mirror must stay live (and so
        // stay the mirror) meanwhile. With the fixture's 1.5 s window a loaded box committed fewer than 64 KiB of records
        // before the others declared the frozen mirror dead; the owner then shipped to the third silo and never
        // overflowed (a stress round failed so: "the owner's shipping buffer never overflowed").
        await using var cluster = await StartClusterAsync(3, "--mirror-buffer-bytes", "65536", "--dead-after-ms", LongWindowMs.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await using var setup = await cluster.ConnectAsync();
        var key = $"ov-{Guid.NewGuid():N}"[..14];
        var component = $"Account/{key}";
        await setup.GetComponent<IAccount>(key).Deposit(1);
        var owner = await cluster.OwnerOfAsync(component) ?? throw new InvalidOperationException("no owner");
        var mirror = await MirrorOfAsync(cluster, component);
        await using var client = await cluster.ConnectAsync(cluster.Silos.Where(s => s != mirror), discover: false);

        mirror.Pause();
        try
        {
            // Far more than 64 KiB of records for the frozen mirror: the owner must not keep them in memory.
            await Task.WhenAll(Enumerable.Range(0, 8).Select(async _ =>
            {
                for (var i = 0; i < 300; i++) await client.GetComponent<IAccount>(key).Deposit(1);
            })).WaitAsync(Patience);
            Assert.True(await owner.ReadMetricAsync("middleware_mirror_overflows_total") >= 1, "the owner's shipping buffer never overflowed");
        }
        finally
        {
            mirror.Resume();
        }

        // When the mirror is back, it learns how far the log got and reads the rest from the store.
        var head = await cluster.HeadOfAsync(component);
        await WaitUntilAsync(async () => (await StandbyAsync(mirror, component))?.AppliedSeq >= head!.LastSeq, "the resumed mirror to catch up");
        Assert.True(await mirror.ReadMetricAsync("middleware_mirror_records_from_store_total") > 0);
        Assert.Equal(2401, await client.GetComponent<IAccount>(key).Balance());
    }

    [StoreFact]
    public async Task A_component_that_is_not_deterministic_is_reported_divergent_by_its_mirror_while_the_owner_serves()
    {
        var directory = Directory.CreateTempSubdirectory("mw-mirror-components-").FullName;
        var dice = ComponentAssembly.Compile(ComponentAssembly.DiceSource, directory, "Dice.dll");
        await using var cluster = await StartClusterAsync(2, "--components", $"{SiloProcess.BankAssembly};{dice}");
        await using var connection = await cluster.Silos[0].ConnectAsync();

        // Each turn's reply is a fresh Guid: a replay cannot reproduce it.
        for (var i = 0; i < 5; i++)
        {
            var reply = await connection.InvokeAsync(new InvokeMessage("Dice", "d1", "Roll", $"roll-{i}-{Guid.NewGuid():N}", null, null, "[]"u8.ToArray()));
            Assert.Equal(ReplyStatus.Ok, reply.Status);
        }

        var mirror = await MirrorOfAsync(cluster, "Dice/d1");
        await WaitUntilAsync(async () => (await StandbyAsync(mirror, "Dice/d1"))?.DivergedAtSeq > 0, "the mirror to report the divergence");
        Assert.True(await mirror.ReadMetricAsync("middleware_mirror_divergences_total") >= 1);
        var again = await connection.InvokeAsync(new InvokeMessage("Dice", "d1", "Roll", $"roll-x-{Guid.NewGuid():N}", null, null, "[]"u8.ToArray()));
        Assert.Equal(ReplyStatus.Ok, again.Status); // the owner serves on
    }

    /// <summary>Starts <paramref name="count"/> silos on a fresh store of the subclass's kind.</summary>
    internal abstract Task<ClusterFixture> StartClusterAsync(int count, params string[] extra);

    /// <summary>The silo that keeps a standby of <paramref name="component"/> (asked of every live silo), waiting for one.</summary>
    private static async Task<SiloProcess> MirrorOfAsync(ClusterFixture cluster, string component)
    {
        SiloProcess? found = null;
        await WaitUntilAsync(async () =>
        {
            foreach (var silo in cluster.Silos)
            {
                try
                {
                    if (await StandbyAsync(silo, component) is not null) found = silo;
                }
                catch (Exception e) when (e is ConnectionLostException or System.Net.Sockets.SocketException or IOException or TimeoutException)
                {
                    // A killed or frozen silo.
                }
            }

            return found is not null;
        }, $"a standby of {component}");
        return found!;
    }

    /// <summary>The standby of <paramref name="component"/> on <paramref name="silo"/> (<c>$mirror.list</c>), or null.</summary>
    private static async Task<StandbyReport?> StandbyAsync(SiloProcess silo, string component)
    {
        await using var connection = await silo.ConnectAsync(TimeSpan.FromSeconds(5));
        var reply = await connection.InvokeAsync(new InvokeMessage("$mirror", component, ProtocolConstants.MirrorList, $"$control:{Guid.NewGuid():N}", null, null,
            ReadOnlyMemory<byte>.Empty, InvokeFlags.Control));
        Assert.Equal(ReplyStatus.Ok, reply.Status);
        return ControlCodec.DecodeStandbys(reply.Result, ProtocolConstants.MirrorList).SingleOrDefault(s => s.Component == component);
    }

    /// <summary>A new account key that placement gives to <paramref name="silo"/> (rendezvous spreads keys; a few dozen suffice).</summary>
    private static async Task<string> KeyOwnedByAsync(ClusterFixture cluster, MiddlewareClient client, SiloProcess silo, string prefix)
    {
        for (var i = 0; i < 80; i++)
        {
            var candidate = $"{prefix}-{Guid.NewGuid():N}"[..14];
            await client.GetComponent<IAccount>(candidate).Deposit(1);
            if ((await cluster.OwnerOfAsync($"Account/{candidate}"))?.SiloId == silo.SiloId) return candidate;
        }

        throw new InvalidOperationException($"no key of 80 landed on {silo.SiloId}");
    }

    private static Task WaitUntilAsync(Func<bool> condition, string what) => WaitUntilAsync(() => Task.FromResult(condition()), what);

    private static Task WaitUntilAsync(Func<Task<bool>> condition, string what) => Eventually.TrueAsync(condition, what, Patience);

    /// <summary>Sixteen workers depositing 1 on the given accounts until stopped; what was acknowledged, per account and when.</summary>
    private sealed class DepositLoad
    {
        private readonly ConcurrentDictionary<string, long> _acked = new();
        private readonly ConcurrentDictionary<string, long> _lastAck = new();
        private readonly CancellationTokenSource _stop = new();
        private readonly Task[] _workers;
        private long _total;

        public DepositLoad(MiddlewareClient client, string[] keys)
        {
            _workers = Enumerable.Range(0, 16).Select(w => Task.Run(async () =>
            {
                for (var n = w; !_stop.IsCancellationRequested; n += 16)
                {
                    var key = keys[n % keys.Length];
                    try
                    {
                        await client.GetComponent<IAccount>(key).Deposit(1);
                    }
                    catch (Exception e)
                    {
                        Failures.Enqueue(e);
                        return;
                    }

                    _acked.AddOrUpdate(key, 1, (_, v) => v + 1);
                    _lastAck[key] = Stopwatch.GetTimestamp();
                    Interlocked.Increment(ref _total);
                }
            })).ToArray();
        }

        public ConcurrentQueue<Exception> Failures { get; } = new();

        public bool Failed => !Failures.IsEmpty;

        public long Total => Interlocked.Read(ref _total);

        public long Acked(string key) => _acked.GetValueOrDefault(key);

        public long LastAck(string key) => _lastAck.GetValueOrDefault(key);

        public async Task StopAsync()
        {
            await _stop.CancelAsync();
            await Task.WhenAll(_workers).WaitAsync(Patience);
        }
    }
}

/// <summary>Mirroring on one SQLite file shared by the silo processes.</summary>
public sealed class SqliteMirroringTests(ITestOutputHelper output) : MirroringTests(output)
{
    internal override Task<ClusterFixture> StartClusterAsync(int count, params string[] extra) => ClusterFixture.StartAsync(count, null, extra);
}

/// <summary>Mirroring on a fresh database of the throwaway PostgreSQL server.</summary>
[RequiresPostgres]
public sealed class PostgresMirroringTests(ITestOutputHelper output) : MirroringTests(output)
{
    internal override async Task<ClusterFixture> StartClusterAsync(int count, params string[] extra)
    {
        var server = await PostgresServer.GetAsync();
        return await ClusterFixture.StartAsync(count, "postgres:" + await server.CreateDatabaseAsync(), extra);
    }
}
