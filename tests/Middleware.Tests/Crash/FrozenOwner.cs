using System.Runtime.InteropServices;
using Bank.Cluster;
using Middleware.Client;
using Middleware.Grains;
using Middleware.Protocol;
using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;

namespace Middleware.Tests.Crash;

/// <summary>
/// A component's owner frozen by the fault point <c>MIDDLEWARE_FAULT_FREEZE_BEFORE_OUTBOUND=&lt;component&gt;:</c> (armed in
/// the owner only): it stops itself (SIGSTOP) right after the partial record of a turn is durable and before the turn's
/// outbound call leaves, the moment a paused owner is most dangerous. The request is sent on a connection of its own
/// straight to the owner, and nobody retries it: the rest of the cluster must declare the owner dead and complete the
/// turn in doubt by itself. <see cref="StaleReply"/> completes once the resumed owner's stale turn has finished.
/// </summary>
internal sealed class FrozenOwner : IAsyncDisposable
{
    /// <summary>The fault point's environment variable.</summary>
    public const string Variable = "MIDDLEWARE_FAULT_FREEZE_BEFORE_OUTBOUND";

    private const string FrozenLine = "fault point: frozen before outbound call ";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);
    private readonly MiddlewareConnection _connection;
    private bool _resumed;

    private FrozenOwner(BankCluster cluster, LaunchedSilo silo, MiddlewareConnection connection, Task<ReplyMessage> staleReply, string outboundId, ComponentHead atFreeze)
    {
        Cluster = cluster;
        Silo = silo;
        _connection = connection;
        StaleReply = staleReply;
        OutboundId = outboundId;
        AtFreeze = atFreeze;
    }

    /// <summary>The component whose owner froze.</summary>
    public ComponentId Component { get; private init; }

    /// <summary>The cluster (disposed with this).</summary>
    public BankCluster Cluster { get; }

    /// <summary>The frozen owner.</summary>
    public LaunchedSilo Silo { get; }

    /// <summary>The reply the frozen owner gives to the request once it runs again (its stale turn has ended by then).</summary>
    public Task<ReplyMessage> StaleReply { get; }

    /// <summary>The request id of the outbound call the owner froze before (<c>component:seq:ordinal</c>).</summary>
    public string OutboundId { get; }

    /// <summary>The component's head when the owner froze (its epoch is the frozen owner's).</summary>
    public ComponentHead AtFreeze { get; }

    /// <summary>
    /// Starts a cluster whose first silo has the fault point armed for a component of <paramref name="type"/> that
    /// rendezvous hashing places on that silo (a key <c>KEYBASE-n</c>; only the owner is armed, or the silo completing
    /// the turn would freeze before the same call too), activates it with <paramref name="warm"/> (turns without
    /// outbound calls: nothing freezes yet), and sends <paramref name="request"/> straight to its owner; returns once the
    /// owner froze. Null when it froze holding the SQLite store's write lock: the caller tries again with a new cluster.
    /// </summary>
    public static async Task<FrozenOwner?> StartAsync(string? store, string type, string keyBase, Func<MiddlewareClient, ComponentId, Task> warm, Func<MiddlewareClient, ComponentId, InvokeMessage> request)
    {
        var prefix = "s" + Guid.NewGuid().ToString("N")[..6] + "-";
        var ids = BankCluster.SiloIds(prefix);
        var component = PlacedOn(type, keyBase, ids[0], ids);
        // Without mirroring: these tests hold the in-doubt sweep to completing the frozen turn with no client asking. With
        // mirroring, the frozen owner's mirror takes the component over warm (and completes the turn as any activation
        // does) before a sweep looks; MirroringTests cover that path.
        var armed = ids.ToDictionary(id => id, id => (IReadOnlyDictionary<string, string>)(id == ids[0]
            ? new Dictionary<string, string> { [Variable] = component + ":", ["MIDDLEWARE_MIRRORING"] = "none" }
            : new Dictionary<string, string> { ["MIDDLEWARE_MIRRORING"] = "none" }));
        var frozen = new TaskCompletionSource<(string Silo, string Outbound)>(TaskCreationOptions.RunContinuationsAsynchronously);
        var cluster = await BankCluster.StartAsync(store, prefix, armed, (silo, line) =>
        {
            if (line.StartsWith(FrozenLine, StringComparison.Ordinal)) frozen.TrySetResult((silo, line[FrozenLine.Length..].Trim()));
        });
        try
        {
            // Every silo must see all three before the first request, or placement would pick among fewer.
            await cluster.Launcher.WaitForMembershipAsync(Patience);
            await using (var client = await cluster.ConnectAsync()) await warm(client, component);
            var owner = await cluster.OwnerOfAsync(component.ToString());
            if (owner?.Id != ids[0]) throw new InvalidOperationException($"{component} is owned by {owner?.Id ?? "nobody"} after the warm-up, not by {ids[0]}, where rendezvous placed it and the fault point is armed.");
            await using (var client = await cluster.ConnectAsync())
            {
                var message = request(client, component);
                var connection = await MiddlewareConnection.ConnectAsync(owner.Protocol, new ConnectionOptions { SenderId = "frozen-owner-test", RequestTimeout = TimeSpan.FromMinutes(3) });
                var staleReply = connection.InvokeAsync(message);
                var (siloId, outbound) = await frozen.Task.WaitAsync(Patience);
                if (siloId != owner.Id) throw new InvalidOperationException($"{siloId} froze, but {owner.Id} owns {component}.");
                await using var logStore = await cluster.OpenStoreAsync();
                // A process stopped inside a store transaction (its heartbeat, most likely) holds the SQLite file's write
                // lock, and nobody could declare it dead. A PostgreSQL server ends such a transaction after 5 s by itself.
                // The probe on its own thread: the SQLite store writes on the caller's thread, so the two seconds below never
                // applied and the probe's "database is locked" after its 5 s busy timeout escaped (a full-suite run failed so).
                var probe = Task.Run(() => ((IClusterStore)logStore).ListSilosAsync());
                if (cluster.Store.StartsWith("sqlite:", StringComparison.Ordinal)
                    && (await Task.WhenAny(probe, Task.Delay(TimeSpan.FromSeconds(2))) != probe || !probe.IsCompletedSuccessfully))
                {
                    Continue(owner.Pid);
                    try
                    {
                        await probe;
                    }
                    catch (StoreUnavailableException)
                    {
                        // The frozen owner held the lock for the probe's whole busy timeout.
                    }

                    await connection.DisposeAsync();
                    await cluster.DisposeAsync();
                    return null;
                }

                await probe;

                var head = await logStore.GetHeadAsync(component.ToString()) ?? throw new InvalidOperationException($"{component} has no head.");
                return new FrozenOwner(cluster, owner, connection, staleReply, outbound, head) { Component = component };
            }
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>A client of the silos that are not frozen (it never waits on the frozen one).</summary>
    public Task<MiddlewareClient> ConnectToOthersAsync() =>
        Cluster.ConnectAsync(Cluster.Launcher.Running.Where(s => s != Silo).Select(s => s.ProtocolAddress), discover: false);

    /// <summary>
    /// Waits, without sending anything, until another silo took the component over and completed the turn in doubt:
    /// its owner is another silo and the store lists it in doubt no more. Returns the head then.
    /// </summary>
    public async Task<ComponentHead> WaitUntilCompletedElsewhereAsync()
    {
        await using var store = await Cluster.OpenStoreAsync();
        var id = AtFreeze.ComponentId;
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            var head = await store.GetHeadAsync(id);
            var inDoubt = (await store.ListInDoubtAsync()).Any(h => h.ComponentId == id);
            if (!inDoubt && head is not null && head.Owner != Silo.Id && head.LastSeq > AtFreeze.LastSeq) return head;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"{id} was not completed by another silo within {Patience.TotalSeconds:0} s of {Silo.Id} freezing: owner {head?.Owner}, epoch {head?.Epoch}, last seq {head?.LastSeq}, in doubt {inDoubt}.");
            await Task.Delay(100);
        }
    }

    /// <summary>Waits until the store no longer counts the frozen owner as a live silo (its window passed and another silo said so).</summary>
    public async Task WaitDeclaredDeadAsync()
    {
        await using var store = await Cluster.OpenStoreAsync();
        var deadline = DateTime.UtcNow + Patience;
        while ((await ((IClusterStore)store).ListSilosAsync()).Any(s => s.SiloId == Silo.Id && s.IsLive))
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{Silo.Id} was still live in the store {Patience.TotalSeconds:0} s after it froze.");
            await Task.Delay(50);
        }
    }

    /// <summary>SIGCONT: the frozen owner runs on, unaware, and makes the call its stale turn was about to make.</summary>
    public void Resume()
    {
        _resumed = true;
        Continue(Silo.Pid);
    }

    /// <summary>Every record of the component appended after the frozen owner's partial record carries a newer epoch.</summary>
    public async Task<IReadOnlyList<LogRecord>> AssertNoRecordOfTheOldEpochAfterTheTakeoverAsync()
    {
        await using var store = await Cluster.OpenStoreAsync();
        var log = await store.ReadAsync(AtFreeze.ComponentId, 1, long.MaxValue);
        Assert.All(log.Where(r => r.Seq > AtFreeze.LastSeq), r => Assert.True(r.Epoch > AtFreeze.Epoch,
            $"{AtFreeze.ComponentId} seq {r.Seq} ({r.Kind}) was written with epoch {r.Epoch}, the frozen owner's epoch was {AtFreeze.Epoch}"));
        return log;
    }

    /// <summary>Waits until the resumed silo noticed it was declared dead and is a live member again.</summary>
    public async Task WaitRejoinedAsync()
    {
        await using var store = await Cluster.OpenStoreAsync();
        var deadline = DateTime.UtcNow + Patience;
        while (!(await ((IClusterStore)store).ListSilosAsync()).Any(s => s.SiloId == Silo.Id && s.IsLive))
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{Silo.Id} did not rejoin within {Patience.TotalSeconds:0} s of resuming:\n{Silo.Stdout}");
            await Task.Delay(100);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_resumed) Continue(Silo.Pid);
        await _connection.DisposeAsync();
        await Cluster.DisposeAsync();
    }

    /// <summary>The first component <c>TYPE/KEYBASEn</c> that rendezvous hashing over <paramref name="silos"/> places on <paramref name="silo"/>.</summary>
    private static ComponentId PlacedOn(string type, string keyBase, string silo, IReadOnlyList<string> silos)
    {
        var entries = silos.Select(id => new SiloEntry(id, id, null, SiloStatus.Active, TimeSpan.Zero, TimeSpan.FromSeconds(1), 0, DateTimeOffset.UnixEpoch)).ToList();
        for (var n = 0; ; n++)
        {
            var candidate = new ComponentId(type, keyBase + n.ToString(System.Globalization.CultureInfo.InvariantCulture));
            if (Middleware.Recovery.Storage.Rendezvous.Pick(candidate.ToString(), entries)?.SiloId == silo) return candidate;
        }
    }

    private static void Continue(int pid)
    {
        const int sigCont = 18;
        _ = kill(pid, sigCont);
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);
}
