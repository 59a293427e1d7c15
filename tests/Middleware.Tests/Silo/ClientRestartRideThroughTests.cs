using System.Collections.Concurrent;
using System.Diagnostics;
using Bank;
using Middleware.Client;
using Xunit.Abstractions;

namespace Middleware.Tests.Silo;

/// <summary>
/// A client with default options and calls in flight while its only silo is killed and, about 5 s later, started again on
/// the same port and store: every call completes, exactly once.
/// </summary>
public sealed class ClientRestartRideThroughTests(ITestOutputHelper output) : IDisposable
{
    private const int Workers = 8;
    private static readonly TimeSpan Downtime = TimeSpan.FromSeconds(5);
    private readonly string _directory = Directory.CreateTempSubdirectory("mw-ride-through-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static SiloProcess Launch(string store, int port) =>
        SiloProcess.Launch(["--store", store, "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--http-port", "0",
            "--components", SiloProcess.BankAssembly, "--Silo:Backends:ledger", SiloProcess.DefaultLedger, "--silo-id", "ride-through"]);

    [Fact]
    public async Task Calls_in_flight_ride_through_a_five_second_silo_restart_with_default_options_and_apply_once()
    {
        var store = $"sqlite:{Path.Combine(_directory, "middleware.db")}";
        await using var first = Launch(store, 0);
        await first.WaitListeningAsync();
        var port = first.Protocol.Port;
        await using var client = await MiddlewareClient.ConnectAsync(new MiddlewareClientOptions { Gateways = [first.Address] });

        // Each worker deposits 1 on its own account, one call at a time, until told to stop: some calls are always in flight.
        var completed = new ConcurrentDictionary<int, int>();
        using var stop = new CancellationTokenSource();
        var warm = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var recovered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var firstAfterRestart = new TaskCompletionSource<TimeSpan>(TaskCreationOptions.RunContinuationsAsynchronously);
        var clock = Stopwatch.StartNew();
        var total = 0;
        var afterRestart = 0;
        var restarted = 0;
        async Task WorkAsync(int worker)
        {
            var account = client.GetComponent<IAccount>($"ride-{worker}");
            while (!stop.IsCancellationRequested)
            {
                var balance = await account.Deposit(1);
                // The balance after each acknowledged deposit is the count so far: a duplicate or a loss would show here.
                Assert.Equal(completed.AddOrUpdate(worker, 1, (_, n) => n + 1), balance);
                if (Interlocked.Increment(ref total) >= 200) warm.TrySetResult();
                if (Volatile.Read(ref restarted) == 0) continue;
                firstAfterRestart.TrySetResult(clock.Elapsed);
                if (Interlocked.Increment(ref afterRestart) >= 100) recovered.TrySetResult();
            }
        }

        var workers = Enumerable.Range(0, Workers).Select(w => Task.Run(() => WorkAsync(w))).ToArray();
        await warm.Task.WaitAsync(TimeSpan.FromSeconds(60));

        await first.KillAsync();
        var killedAt = clock.Elapsed;
        await Task.Delay(Downtime); // the outage being simulated, not a wait for something to happen
        await using var second = Launch(store, port);
        await second.WaitListeningAsync();
        var listeningAt = clock.Elapsed;
        Volatile.Write(ref restarted, 1);
        var back = await firstAfterRestart.Task.WaitAsync(TimeSpan.FromSeconds(60));
        await recovered.Task.WaitAsync(TimeSpan.FromSeconds(60));
        await stop.CancelAsync();
        await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(60));

        output.WriteLine($"silo down {(listeningAt - killedAt).TotalSeconds:0.0} s; first reply after the restart {(back - killedAt).TotalSeconds:0.0} s after the kill " +
                         $"({(back - listeningAt).TotalSeconds:0.0} s after it listened); {client.Attempts} attempts for {Volatile.Read(ref total)} calls");
        // Every call a worker made completed (no exception) and the balances prove each applied exactly once.
        var check = await MiddlewareClient.ConnectAsync(new MiddlewareClientOptions { Gateways = [second.Address] });
        await using (check)
        {
            for (var w = 0; w < Workers; w++)
                Assert.Equal(completed.GetValueOrDefault(w), await check.GetComponent<IAccount>($"ride-{w}").Balance());
        }
    }
}
