using System.Diagnostics;
using Middleware.Tests.Cluster;
using Middleware.Tests.Support;
using Xunit.Abstractions;

namespace Middleware.Tests.Crash;

/// <summary>
/// The database itself crashes: PostgreSQL (store and ledger) is stopped with <c>pg_ctl stop -m immediate</c> under load
/// and started again a few seconds later, with three silos and a client process running and no process killed. Turns
/// caught between their partial record and their back-end call or final record must be completed, once, with the state
/// they started from; the bank audit then finds every acknowledged request once, the ledger equal to the committed
/// withdrawals, and the money conserved. The server is this test's own, so the shared one keeps serving other tests.
/// </summary>
[Collection(ClusterCollection.Name)]
[RequiresPostgres]
public sealed class PostgresRestartUnderLoadTests(ITestOutputHelper output)
{
    private const int Acks = 300;
    private static readonly TimeSpan Outage = TimeSpan.FromMilliseconds(2500);
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    [StoreFact]
    public async Task PostgreSQL_stopped_immediate_and_restarted_under_load_loses_and_doubles_nothing()
    {
        var clock = Stopwatch.StartNew();
        await using var postgres = await PostgresServer.StartPrivateAsync();
        await using var cluster = await BankCluster.StartAsync("postgres:" + await postgres.Server.CreateDatabaseAsync());
        var accounts = Enumerable.Range(0, 8).Select(i => $"acct-{i}").ToArray();
        var tellers = Enumerable.Range(0, 3).Select(i => $"teller-{i}").ToArray();
        await using var client = ClientProcess.Start(cluster.Gateways, accounts, tellers, workers: 16, seed: 7);
        await client.WaitForAcksAsync(Acks, Patience);

        var beforeStop = client.AckCount;
        var stopping = DateTime.UtcNow;
        await postgres.StopImmediateAsync();
        // The length of the outage is what is tested (longer than the silos' failure window), not a synchronization.
        await Task.Delay(Outage);
        var duringOutage = client.AckCount - beforeStop;
        await postgres.StartAgainAsync();
        var started = DateTime.UtcNow;
        var restarted = Stopwatch.StartNew();
        var afterStart = client.AckCount;
        await client.WaitForAcksAsync(afterStart + Acks, Patience);
        output.WriteLine($"PostgreSQL stopped (immediate) after {beforeStop} acks for {Outage.TotalSeconds:0.0} s ({duringOutage} acks arrived meanwhile); " +
                         $"{Acks} more acks {restarted.Elapsed.TotalSeconds:0.0} s after it was started again");

        Assert.Equal(0, await client.StopAsync(Patience));
        Assert.All(cluster.Launcher.Silos, s => Assert.False(s.HasExited, $"silo {s.Id} exited:\n{s.Stderr}"));
        var report = await cluster.SettleAndAuditAsync(client.Acks, Patience);
        var acks = client.Acks;
        output.WriteLine($"{clock.Elapsed.TotalSeconds:0} s: {acks.Count} acks ({acks.Count(a => a.Method == "Transfer")} transfers, {acks.Count(a => a.Method == "Withdraw")} withdrawals), " +
                         $"{client.OtherLines.Count(l => l.StartsWith("unresolved", StringComparison.Ordinal))} calls gave up; " +
                         $"{await cluster.InDoubtCompletedAsync():0} turns in doubt completed by the silos' sweeps");
        // Turns in doubt through the outage: their partial record committed before the stop, their final record after the
        // restart (the server's clock, on this machine). With 16 workers doing teller transfers (a partial record, then two
        // component calls that need the store) the stop catches some every run; that they completed once is the audit above.
        var throughOutage = report.PartialToFinal.Count(t => t.Started < stopping && t.Finished > started);
        output.WriteLine($"{throughOutage} turn(s) in doubt through the outage (partial record before the stop, final record after the restart); " +
                         $"{report.CompletedByLaterEpoch} completed by a newer activation");
        report.WriteTo(output);
        Assert.True(report.Passed, report.Describe());
        // Either a turn's partial record crossed the outage, or the outage broke activations with turns in doubt that a
        // newer activation completed: each is the in-doubt path under a store failure. (Which one a run catches depends
        // on where the stop lands in the workers' turns; requiring the first alone failed about one run in three.)
        Assert.True(throughOutage >= 1 || report.CompletedByLaterEpoch >= 1,
            $"no turn was in doubt through the outage (partial record before {stopping:O}, final record after {started:O}), so the test did not test what it exists for; {report.Stats}");
    }
}
