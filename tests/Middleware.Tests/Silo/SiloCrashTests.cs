using System.Collections.Concurrent;
using System.Text;
using Middleware.Protocol;

namespace Middleware.Tests.Silo;

/// <summary>
/// SIGKILL of a silo under load, restart on the same store, resend of every request id that got no reply: each
/// deposit is applied exactly once, and an acknowledged one answers the same after the restart.
/// </summary>
public sealed class SiloCrashTests : IDisposable
{
    private const int Accounts = 4;
    private const int InFlight = 16;
    private const int AcksBeforeKill = 150;
    private readonly string _directory = Directory.CreateTempSubdirectory("mw-silo-crash-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static long AmountOf(int n) => n % 7 + 1;

    [Fact]
    public async Task Acknowledged_deposits_survive_a_kill_and_resent_ones_apply_exactly_once()
    {
        var store = $"sqlite:{Path.Combine(_directory, "middleware.db")}";
        var prefix = Guid.NewGuid().ToString("N")[..8];
        string AccountOf(int n) => $"{prefix}-{n % Accounts}";
        string RequestOf(int n) => $"{prefix}:{n}";

        var acknowledged = new ConcurrentDictionary<int, ReplyMessage>();
        var sent = new ConcurrentDictionary<int, bool>();
        var enoughAcks = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        await using (var silo = await SiloProcess.StartAsync(store))
        {
            await using var connection = await silo.ConnectAsync();
            var next = -1;
            // Workers keep InFlight deposits outstanding until the connection dies under them.
            async Task WorkerAsync()
            {
                while (true)
                {
                    var n = Interlocked.Increment(ref next);
                    sent[n] = true;
                    ReplyMessage reply;
                    try
                    {
                        reply = await connection.InvokeAsync(SiloHostTests.Deposit(AccountOf(n), RequestOf(n), AmountOf(n)));
                    }
                    catch (Exception e) when (e is ConnectionLostException or IOException or ObjectDisposedException)
                    {
                        return; // not acknowledged: resent after the restart
                    }

                    Assert.Equal(ReplyStatus.Ok, reply.Status);
                    acknowledged[n] = reply;
                    if (acknowledged.Count >= AcksBeforeKill) enoughAcks.TrySetResult();
                }
            }

            var workers = Enumerable.Range(0, InFlight).Select(_ => Task.Run(WorkerAsync)).ToArray();
            await enoughAcks.Task.WaitAsync(TimeSpan.FromSeconds(60));
            await silo.KillAsync();
            await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(60));
        }

        Assert.True(acknowledged.Count >= AcksBeforeKill);
        var unacknowledged = sent.Keys.Where(n => !acknowledged.ContainsKey(n)).ToList();
        Assert.NotEmpty(unacknowledged); // the kill really happened with requests in flight

        await using (var restarted = await SiloProcess.StartAsync(store))
        {
            await using var connection = await restarted.ConnectAsync();
            // Resend every unacknowledged id (each may or may not have been made durable before the kill).
            var resent = await Task.WhenAll(unacknowledged.Select(n => connection.InvokeAsync(SiloHostTests.Deposit(AccountOf(n), RequestOf(n), AmountOf(n)))));
            Assert.All(resent, r => Assert.Equal(ReplyStatus.Ok, r.Status));

            // An acknowledged id resent after the restart answers exactly what it answered before.
            foreach (var n in acknowledged.Keys.Order().Take(20))
                Assert.Equal(acknowledged[n], await connection.InvokeAsync(SiloHostTests.Deposit(AccountOf(n), RequestOf(n), AmountOf(n))));

            for (var a = 0; a < Accounts; a++)
            {
                var expected = sent.Keys.Where(n => n % Accounts == a).Sum(AmountOf);
                var reply = await connection.InvokeAsync(SiloHostTests.Call("Account", $"{prefix}-{a}", "Balance", $"{prefix}:balance:{a}"));
                Assert.Equal(ReplyStatus.Ok, reply.Status);
                Assert.Equal(expected, long.Parse(Encoding.UTF8.GetString(reply.Result.Span), System.Globalization.CultureInfo.InvariantCulture));
            }
        }
    }

    [Fact]
    public async Task Sigterm_shuts_down_gracefully_and_the_state_is_there_after_a_restart()
    {
        var store = $"sqlite:{Path.Combine(_directory, "graceful.db")}";
        var account = Guid.NewGuid().ToString("N");
        await using (var silo = await SiloProcess.StartAsync(store))
        {
            await using (var connection = await silo.ConnectAsync())
            {
                for (var i = 1; i <= 5; i++)
                    Assert.Equal(ReplyStatus.Ok, (await connection.InvokeAsync(SiloHostTests.Deposit(account, $"{account}:{i}", 10))).Status);
            }

            silo.Terminate();
            Assert.Equal(0, await silo.WaitForExitAsync());
            Assert.Equal("", silo.Stderr);
        }

        // The shutdown checkpointed the live activation at its last turn, so the next activation replays nothing.
        await using (var log = await Middleware.Recovery.Stores.LogStores.OpenAsync(store))
        {
            var checkpoint = await log.GetCheckpointAsync($"Account/{account}");
            Assert.NotNull(checkpoint);
            Assert.Equal(5, checkpoint.Seq);
        }

        await using var restarted = await SiloProcess.StartAsync(store);
        await using var again = await restarted.ConnectAsync();
        var balance = await again.InvokeAsync(SiloHostTests.Call("Account", account, "Balance", $"{account}:balance"));
        Assert.Equal("50", Encoding.UTF8.GetString(balance.Result.Span));
    }
}
