using System.Collections.Concurrent;
using System.Text;
using Middleware.Protocol;
using Middleware.Tests.Support;

namespace Middleware.Tests.Silo;

/// <summary>
/// A real silo with a small activation limit and idle age (<c>--max-activations</c>, <c>--deactivate-idle-after-ms</c>):
/// many more accounts than the limit are deposited to under load, the silo's live activations stay bounded, and every
/// deposit, including one resent after its account was deactivated, is applied exactly once; then a SIGKILL and restart
/// on the same store give the same balances.
/// </summary>
public sealed class SiloActivationLimitTests : IDisposable
{
    private const int Limit = 20, Accounts = 300, Rounds = 3;
    private readonly string _directory = Directory.CreateTempSubdirectory("mw-silo-limit-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static long Number(ReplyMessage reply)
    {
        Assert.True(reply.Status == ReplyStatus.Ok, reply.ToString());
        return long.Parse(Encoding.UTF8.GetString(reply.Result.Span), System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task A_silo_at_its_activation_limit_keeps_serving_and_applies_every_deposit_once()
    {
        var store = $"sqlite:{Path.Combine(_directory, "middleware.db")}";
        var prefix = Guid.NewGuid().ToString("N")[..8];
        var replies = new ConcurrentDictionary<string, long>();
        await using (var silo = await SiloProcess.StartAsync(store, "--max-activations", $"{Limit}", "--deactivate-idle-after-ms", "500"))
        {
            await using var connection = await silo.ConnectAsync();
            for (var round = 0; round < Rounds; round++)
            {
                await Parallel.ForAsync(0, Accounts, new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (a, _) =>
                {
                    var request = $"{prefix}:{round}:{a}";
                    replies[request] = Number(await connection.InvokeAsync(SiloHostTests.Deposit($"{prefix}-{a}", request, a + 1)));
                });
            }

            // Resent after the collector took most accounts away: answered from the log, not run again.
            for (var a = 0; a < Accounts; a += 7)
            {
                var request = $"{prefix}:0:{a}";
                Assert.Equal(replies[request], Number(await connection.InvokeAsync(SiloHostTests.Deposit($"{prefix}-{a}", request, a + 1))));
            }

            await Eventually.TrueAsync(async () => await silo.ReadMetricAsync("middleware_activations") <= Limit, "live activations to come back within --max-activations");
            var metrics = await new HttpClient().GetStringAsync(new Uri($"http://{silo.Http}/metrics"));
            Assert.Contains("middleware_deactivations_total{cause=\"capacity\"}", metrics);
            Assert.True(await silo.ReadMetricAsync("middleware_activations_started_total") > Accounts, "deactivated accounts were activated again");

            for (var a = 0; a < Accounts; a++)
                Assert.Equal(Rounds * (a + 1L), Number(await connection.InvokeAsync(SiloHostTests.Call("Account", $"{prefix}-{a}", "Balance", $"{prefix}:read:{a}"))));
            await silo.KillAsync();
        }

        await using var restarted = await SiloProcess.StartAsync(store, "--max-activations", $"{Limit}");
        await using var again = await restarted.ConnectAsync();
        for (var a = 0; a < Accounts; a += 3)
            Assert.Equal(Rounds * (a + 1L), Number(await again.InvokeAsync(SiloHostTests.Call("Account", $"{prefix}-{a}", "Balance", $"{prefix}:read2:{a}"))));
    }

    [Fact]
    public async Task Evicted_with_a_log_tail_then_SIGKILLed_a_silo_restarts_with_every_deposit_applied_once()
    {
        // No idle age: only capacity evictions, which leave up to 8 records after the last checkpoint (--eviction-tail 8)
        // instead of writing one. The silo is killed after most accounts were evicted that way; the
        // restarted silo replays those tails: balances exact, old request ids answered with their first reply.
        var path = Path.Combine(_directory, "tail.db");
        var store = $"sqlite:{path}";
        var prefix = Guid.NewGuid().ToString("N")[..8];
        var replies = new ConcurrentDictionary<string, long>();
        await using (var silo = await SiloProcess.StartAsync(store, "--max-activations", $"{Limit}", "--checkpoint-spread", "0", "--eviction-tail", "8"))
        {
            await using var connection = await silo.ConnectAsync();
            for (var round = 0; round < Rounds; round++)
            {
                await Parallel.ForAsync(0, Accounts, new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (a, _) =>
                {
                    var request = $"{prefix}:{round}:{a}";
                    replies[request] = Number(await connection.InvokeAsync(SiloHostTests.Deposit($"{prefix}-{a}", request, a + 1)));
                });
            }

            // No idle age: the collector's next scan may be a minute away, so the kill comes without waiting for it.
            await silo.KillAsync();
        }

        // Evicted with a tail: far more accounts than could still have been live end past their last checkpoint.
        await using (var log = Middleware.Recovery.Sqlite.SqliteLogStore.Open(path))
        {
            var withTail = 0;
            for (var a = 0; a < Accounts; a++)
            {
                var head = (await log.GetHeadAsync($"Account/{prefix}-{a}"))!;
                Assert.Equal(Rounds, head.LastSeq);
                if (head.LastSeq > head.CheckpointSeq) withTail++;
            }

            Assert.True(withTail > Limit * 4, $"{withTail} of {Accounts} accounts end past their last checkpoint");
        }

        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        await using var restarted = await SiloProcess.StartAsync(store, "--max-activations", $"{Limit}");
        await using var again = await restarted.ConnectAsync();
        for (var a = 0; a < Accounts; a++)
        {
            var round = a % Rounds;
            var request = $"{prefix}:{round}:{a}";
            Assert.Equal(replies[request], Number(await again.InvokeAsync(SiloHostTests.Deposit($"{prefix}-{a}", request, a + 1))));
            Assert.Equal(Rounds * (a + 1L), Number(await again.InvokeAsync(SiloHostTests.Call("Account", $"{prefix}-{a}", "Balance", $"{prefix}:read:{a}"))));
        }
    }

    [Fact]
    public async Task With_eviction_tail_0_every_capacity_eviction_checkpoints_first()
    {
        var path = Path.Combine(_directory, "tail0.db");
        var prefix = Guid.NewGuid().ToString("N")[..8];
        const int Few = 120;
        var live = 0.0;
        await using (var silo = await SiloProcess.StartAsync($"sqlite:{path}", "--max-activations", $"{Limit}", "--checkpoint-spread", "0", "--eviction-tail", "0"))
        {
            await using var connection = await silo.ConnectAsync();
            await Parallel.ForAsync(0, Few, new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (a, _) =>
                Number(await connection.InvokeAsync(SiloHostTests.Deposit($"{prefix}-{a}", $"{prefix}:{a}", a + 1))));
            live = await silo.ReadMetricAsync("middleware_activations");
            await silo.KillAsync();
        }

        await using var log = Middleware.Recovery.Sqlite.SqliteLogStore.Open(path);
        var withTail = 0;
        for (var a = 0; a < Few; a++)
        {
            var head = (await log.GetHeadAsync($"Account/{prefix}-{a}"))!;
            if (head.LastSeq > head.CheckpointSeq) withTail++;
        }

        // Only the ones still live at the kill end past their last checkpoint (evicting one after the count was read only
        // checkpoints it); 120 accounts through a limit of 20 evicted most of them.
        Assert.True(live < Few / 2, $"{live} live activations at the kill");
        Assert.InRange(withTail, 0, (int)live);
    }
}
