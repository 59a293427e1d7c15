using System.Collections.Concurrent;
using Bank.Cluster;
using Middleware.Tests.Admin;
using Middleware.Tests.Crash;
using Middleware.Tests.Support;

namespace Middleware.Tests.Cluster;

/// <summary>
/// The start the held-warm-up kill tests share: a bank cluster whose silos hold the warm-up of their first teller handover
/// (<c>MIDDLEWARE_FAULT_HOLD_MOVE_WARM</c>), a client with 16 workers past its first 300 acks, and <c>mw move</c> of the
/// busiest teller (it makes account calls all the time) to another silo, returned once its old owner holds the warm-up:
/// the handover is answered and the new owner has not been asked to warm the teller yet. Disposes the client, then the cluster.
/// </summary>
internal sealed class HeldTellerMove : IAsyncDisposable
{
    public const string Holding = "fault point: holding the warm-up of ";
    public const string Sending = "fault point: sending the warm-up of ";
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    private HeldTellerMove(BankCluster cluster, ClientProcess client, ConcurrentQueue<(string Silo, string Line)> lines)
    {
        Cluster = cluster;
        Client = client;
        Lines = lines;
    }

    public BankCluster Cluster { get; }

    public ClientProcess Client { get; }

    /// <summary>Every line the silos printed, with the silo's id.</summary>
    public ConcurrentQueue<(string Silo, string Line)> Lines { get; }

    public string Teller { get; private set; } = "";

    public LaunchedSilo Owner { get; private set; } = null!;

    public LaunchedSilo Destination { get; private set; } = null!;

    /// <summary>The <c>mw move</c> process: it ends once the held warm-up was sent (or gave up).</summary>
    public Task<(int Code, string Out, string Err)> Move { get; private set; } = null!;

    public static async Task<HeldTellerMove> StartAsync(int seed)
    {
        var lines = new ConcurrentQueue<(string Silo, string Line)>();
        var accounts = Enumerable.Range(0, 8).Select(i => $"acct-{i}").ToArray();
        var tellers = Enumerable.Range(0, 3).Select(i => $"teller-{i}").ToArray();
        var cluster = await BankCluster.StartAsync(siloEnvironment: null, onOutput: (silo, line) => lines.Enqueue((silo, line)),
            idPrefix: null, store: null, environment: new Dictionary<string, string> { ["MIDDLEWARE_FAULT_HOLD_MOVE_WARM"] = "Teller/:8000" });
        var held = new HeldTellerMove(cluster, ClientProcess.Start(cluster.Gateways, accounts, tellers, workers: 16, seed: seed), lines);
        try
        {
            await held.Client.WaitForAcksAsync(300, Patience);
            var (teller, owner) = await cluster.BusiestAsync("Teller");
            Assert.NotNull(owner);
            held.Teller = teller;
            held.Owner = owner;
            held.Destination = cluster.Launcher.Running.First(s => s != owner);
            held.Move = AdminFixture.Mw("move", teller, "--to", held.Destination.Id, "--store", cluster.Store);
            await held.WaitForLineAsync(owner, Holding + teller, $"{owner.Id} to hold the warm-up of {teller}");
            return held;
        }
        catch
        {
            await held.DisposeAsync();
            throw;
        }
    }

    /// <summary>True once <paramref name="silo"/> printed a line containing <paramref name="text"/>.</summary>
    public bool Printed(LaunchedSilo silo, string text) => Lines.Any(l => l.Silo == silo.Id && l.Line.Contains(text, StringComparison.Ordinal));

    public Task WaitForLineAsync(LaunchedSilo silo, string text, string what) => WaitUntilAsync(() => Printed(silo, text), what);

    public static Task WaitUntilAsync(Func<bool> condition, string what) => Eventually.TrueAsync(condition, what, Patience);

    public async ValueTask DisposeAsync()
    {
        await Client.DisposeAsync();
        await Cluster.DisposeAsync();
    }
}
