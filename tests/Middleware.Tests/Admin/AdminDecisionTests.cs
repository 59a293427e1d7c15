using System.Net.Http;
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
/// A divergent component on a real silo: quarantined once with its reason (visible in /health, /metrics and the log),
/// refused without replaying, then reset by an operator with mw through the owner, and serving again with a clean audit.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class AdminDecisionTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mw-decision-").FullName;

    private string Store => $"sqlite:{Path.Combine(_dir, "middleware.db")}";

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>An older release of Account that paid a bonus of 1 on every deposit: the current code diverges from its log.</summary>
    private sealed class BonusAccount : RecoverableGrain<AccountState>, IAccount
    {
        public Task<long> Deposit(long amount) => Task.FromResult(State.Balance += amount + 1);

        public Task<long> Withdraw(long amount) => Task.FromResult(State.Balance -= amount);

        public Task<long> Debit(long amount) => Task.FromResult(State.Balance -= amount);

        public Task<long> Balance() => Task.FromResult(State.Balance);
    }

    [Fact]
    public async Task A_divergent_component_is_quarantined_with_its_cause_then_reset_by_mw_and_serves_again()
    {
        await using (var old = await LogStores.OpenAsync(Store))
        await using (var runtime = new LocalRuntime(old, new ComponentRegistry().Add<IAccount, BonusAccount>()))
        {
            Assert.Equal(11, await runtime.Call<IAccount>("q1", "old:1").Deposit(10));
            Assert.Equal(22, await runtime.Call<IAccount>("q1", "old:2").Deposit(10));
        }

        await using var silo = await SiloProcess.StartAsync(Store);
        await using var connection = await silo.ConnectAsync();
        var deposit = new InvokeMessage("Account", "q1", "Deposit", "new:1", null, null, "[5]"u8.ToArray());
        var refused = await connection.InvokeAsync(deposit);
        Assert.Equal(ReplyStatus.Unavailable, refused.Status);
        Assert.Contains("quarantined", refused.Detail);
        Assert.Contains("divergence", refused.Detail);
        Assert.Contains("mw reset Account/q1", refused.Detail);
        // Refused again at once: the component is not replayed on every request.
        Assert.Equal(ReplyStatus.Unavailable, (await connection.InvokeAsync(deposit)).Status);

        using var http = new HttpClient { BaseAddress = new Uri($"http://{silo.Http}") };
        var health = JsonDocument.Parse(await http.GetStringAsync("/health")).RootElement;
        Assert.Equal("degraded", health.GetProperty("status").GetString());
        Assert.Equal("Account/q1", health.GetProperty("quarantined")[0].GetProperty("component").GetString());
        var metrics = await http.GetStringAsync("/metrics");
        Assert.Contains("middleware_quarantines_total{cause=\"divergence\"} 1", metrics);
        Assert.Contains("middleware_activation_failures_total{cause=\"divergence\"} 1", metrics);

        // The operator resets it to the beginning (the old bonus was a bug): through the owner, recorded in the log.
        var reset = await AdminFixture.Mw("reset", "Account/q1", "--to", "0", "--reason", "the bonus was a bug", "--store", Store, "--json");
        Assert.True(reset.Code == 0, reset.Err);
        var decision = JsonDocument.Parse(reset.Out).RootElement;
        Assert.Equal(("reset", "silo", 2), (decision.GetProperty("action").GetString(), decision.GetProperty("via").GetString(), decision.GetProperty("turns").GetInt32()));

        var served = await connection.InvokeAsync(deposit);
        Assert.Equal(ReplyStatus.Ok, served.Status);
        Assert.Equal("5", System.Text.Encoding.UTF8.GetString(served.Result.Span));
        health = JsonDocument.Parse(await http.GetStringAsync("/health")).RootElement;
        Assert.Equal("ok", health.GetProperty("status").GetString());

        // mw log shows the decisions; the audit with the current code explains the history and is clean.
        var log = JsonDocument.Parse((await AdminFixture.Mw("log", "Account/q1", "--store", Store, "--json")).Out).RootElement;
        Assert.Equal(["turn", "turn", "control", "control", "turn"], log.GetProperty("records").EnumerateArray().Select(r => r.GetProperty("kind").GetString()));
        var audit = await AdminFixture.Mw("audit", "Account/q1", "--from-genesis", "--components", SiloProcess.BankAssembly, "--store", Store, "--json");
        Assert.True(audit.Code == 0, audit.Out + audit.Err);
    }
}
