using System.Text;
using System.Text.Json;
using Bank;
using Middleware.Grains;
using Middleware.Protocol;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Stores;
using Middleware.Tests.Cluster;
using Middleware.Tests.Silo;

namespace Middleware.Tests.Admin;

/// <summary>
/// <c>mw quarantine</c>, <c>mw release</c> and <c>mw accept</c> as docs/admin.md shows them: through the owner when a silo
/// is live (<c>via: silo</c>), and on the store itself with <c>--components</c> when none is (<c>via: store</c>); the
/// <c>--json</c> shape is pinned. <c>mw reset</c> through a live silo is <see cref="AdminDecisionTests"/>.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class AdminDecisionCommandTests : IDisposable
{
    private static readonly string[] ShapeNames = ["component", "action", "recordSeq", "fromSeq", "turns", "changedReplies", "by", "reason", "via"];

    private readonly string _dir = Directory.CreateTempSubdirectory("mw-decision-cmd-").FullName;

    private string Store => $"sqlite:{Path.Combine(_dir, "middleware.db")}";

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>An older release of Account that paid a bonus of 1 on every deposit: the current code diverges from its log.</summary>
    private sealed class BonusAccount : RecoverableGrain<AccountState>, IAccount
    {
        public Task<long> Deposit(long amount)
        {
            // Like the current Account but for the bonus: same recorded values (the clock), so only the replies differ.
            State.Balance += amount + 1;
            State.Operations++;
            State.LastChangeUtc = Context.UtcNow;
            return Task.FromResult(State.Balance);
        }

        public Task<long> Withdraw(long amount) => Task.FromResult(State.Balance -= amount);

        public Task<long> Debit(long amount) => Task.FromResult(State.Balance -= amount);

        public Task<long> Balance() => Task.FromResult(State.Balance);
    }

    private async Task WriteBonusHistoryAsync(string key)
    {
        await using var old = await LogStores.OpenAsync(Store);
        await using var runtime = new LocalRuntime(old, new ComponentRegistry().Add<IAccount, BonusAccount>());
        Assert.Equal(11, await runtime.Call<IAccount>(key, "old:1").Deposit(10));
        Assert.Equal(22, await runtime.Call<IAccount>(key, "old:2").Deposit(10));
    }

    private static JsonElement Decision((int Code, string Out, string Err) run, string action, string via)
    {
        Assert.True(run.Code == 0, $"exit {run.Code}: {run.Err}{run.Out}");
        var doc = JsonDocument.Parse(run.Out).RootElement;
        Assert.Equal(ShapeNames, doc.EnumerateObject().Select(p => p.Name));
        Assert.Equal(action, doc.GetProperty("action").GetString());
        Assert.Equal(via, doc.GetProperty("via").GetString());
        Assert.StartsWith("mw:", doc.GetProperty("by").GetString());
        return doc;
    }

    private static string Text(ReplyMessage reply) => Encoding.UTF8.GetString(reply.Result.Span);

    [Fact]
    public async Task Through_a_live_silo_quarantine_refuses_requests_release_serves_them_again_and_accept_adopts_the_new_code()
    {
        await WriteBonusHistoryAsync("q1");
        await using var silo = await SiloProcess.StartAsync(Store);
        await using var connection = await silo.ConnectAsync();
        Assert.Equal("10", Text(await connection.InvokeAsync(SiloHostTests.Deposit("c1", "c1:1", 10))));

        // quarantine: recorded by the owner; the component's requests are refused (retryable, with the reason) until released.
        var quarantine = Decision(await AdminFixture.Mw("quarantine", "Account/c1", "--reason", "checking a complaint", "--store", Store, "--json"), "quarantine", "silo");
        Assert.Equal(("Account/c1", "checking a complaint", 0L), (quarantine.GetProperty("component").GetString(), quarantine.GetProperty("reason").GetString(), quarantine.GetProperty("recordSeq").GetInt64()));
        var held = SiloHostTests.Deposit("c1", "c1:2", 5);
        var refused = await connection.InvokeAsync(held);
        Assert.Equal(ReplyStatus.Unavailable, refused.Status);
        Assert.Contains("quarantined (checking a complaint", refused.Detail);
        Assert.Contains("mw release Account/c1", refused.Detail);

        // release: the same request, retried, now runs (once).
        var release = await AdminFixture.Mw("release", "Account/c1", "--reason", "complaint settled", "--store", Store);
        Assert.True(release.Code == 0, release.Err);
        Assert.Equal("Account/c1: released; it replayed its log with the current code and serves again", release.Out.Trim());
        Assert.Equal("15", Text(await connection.InvokeAsync(held)));
        Assert.Equal("15", Text(await connection.InvokeAsync(held)));

        // accept: q1's log was written by a release that paid a bonus; the silo quarantined it for the divergence.
        var deposit = SiloHostTests.Deposit("q1", "new:1", 5);
        Assert.Equal(ReplyStatus.Unavailable, (await connection.InvokeAsync(deposit)).Status);
        var accept = Decision(await AdminFixture.Mw("accept", "Account/q1", "--from", "1", "--reason", "the bonus was a bug; balances follow the new code", "--store", Store, "--json"), "accept", "silo");
        Assert.Equal((1L, 2, 2), (accept.GetProperty("fromSeq").GetInt64(), accept.GetProperty("turns").GetInt32(), accept.GetProperty("changedReplies").GetInt32()));
        Assert.True(accept.GetProperty("recordSeq").GetInt64() > 2, accept.ToString());
        // The two accepted deposits count 10 each now (20), then the new one.
        Assert.Equal("25", Text(await connection.InvokeAsync(deposit)));

        var log = JsonDocument.Parse((await AdminFixture.Mw("log", "Account/c1", "--store", Store, "--json")).Out).RootElement;
        Assert.Equal(["turn", "control", "control", "turn"], log.GetProperty("records").EnumerateArray().Select(r => r.GetProperty("kind").GetString()));
    }

    [Fact]
    public async Task With_no_live_silo_the_tool_decides_on_the_store_with_the_components_and_the_next_runtime_obeys()
    {
        var fixture = new AdminFixtureOn(_dir);
        await fixture.WriteAsync(new ComponentRegistry().Add<IAccount, Account>(), async rt => Assert.Equal(10, await rt.Call<IAccount>("s1", "s1:1").Deposit(10)));

        var without = await AdminFixture.Mw("quarantine", "Account/s1", "--reason", "hold", "--store", Store);
        Assert.Equal(2, without.Code);
        Assert.Contains("No silo is live", without.Err);
        Assert.Contains("--components PATH", without.Err);

        var quarantine = Decision(await AdminFixture.Mw("quarantine", "Account/s1", "--reason", "hold", "--components", AdminFixture.BankDll, "--store", Store, "--json"), "quarantine", "store");
        Assert.Equal(("Account/s1", "hold"), (quarantine.GetProperty("component").GetString(), quarantine.GetProperty("reason").GetString()));
        await fixture.WriteAsync(new ComponentRegistry().Add<IAccount, Account>(), async rt =>
        {
            var e = await Assert.ThrowsAsync<ComponentQuarantinedException>(() => rt.Call<IAccount>("s1", "s1:2").Deposit(5));
            Assert.Contains("hold", e.Message);
        });

        Decision(await AdminFixture.Mw("release", "Account/s1", "--reason", "done", "--components", AdminFixture.BankDll, "--store", Store, "--json"), "release", "store");
        await fixture.WriteAsync(new ComponentRegistry().Add<IAccount, Account>(), async rt => Assert.Equal(15, await rt.Call<IAccount>("s1", "s1:2").Deposit(5)));

        // accept on the store: a log of the bonus release replayed with the current code from seq 1.
        await WriteBonusHistoryAsync("q2");
        var accept = Decision(await AdminFixture.Mw("accept", "Account/q2", "--from", "1", "--reason", "no bonus", "--components", AdminFixture.BankDll, "--store", Store, "--json"), "accept", "store");
        Assert.Equal((1L, 2, 2), (accept.GetProperty("fromSeq").GetInt64(), accept.GetProperty("turns").GetInt32(), accept.GetProperty("changedReplies").GetInt32()));
        var state = JsonDocument.Parse((await AdminFixture.Mw("state", "Account/q2", "--components", AdminFixture.BankDll, "--store", Store, "--json")).Out).RootElement;
        Assert.Equal(20, state.GetProperty("state").GetProperty("Balance").GetInt64());
        // The tool released what it claimed: the store names no owner, so the next runtime or silo places it at once.
        var show = JsonDocument.Parse((await AdminFixture.Mw("components", "show", "Account/q2", "--store", Store, "--json")).Out).RootElement;
        Assert.Equal(JsonValueKind.Null, show.GetProperty("owner").ValueKind);
        var audit = await AdminFixture.Mw("audit", "Account/q2", "--from-genesis", "--components", AdminFixture.BankDll, "--store", Store);
        Assert.True(audit.Code == 0, audit.Out + audit.Err);
    }

    /// <summary>Writes through a LocalRuntime on this test's store, then closes it.</summary>
    private sealed class AdminFixtureOn(string dir)
    {
        public async Task WriteAsync(ComponentRegistry registry, Func<LocalRuntime, Task> work)
        {
            await using var store = await LogStores.OpenAsync($"sqlite:{Path.Combine(dir, "middleware.db")}");
            await using var runtime = new LocalRuntime(store, registry);
            await work(runtime);
        }
    }
}
