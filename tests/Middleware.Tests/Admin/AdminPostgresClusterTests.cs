using System.Text.Json;
using Bank;
using Middleware.Grains;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;
using Middleware.Recovery.Stores;
using Middleware.Tests.Support;

namespace Middleware.Tests.Admin;

/// <summary>The cluster commands on a PostgreSQL store: the same answers as on SQLite, through <see cref="LogStores"/>.</summary>
[RequiresPostgres]
public sealed class AdminPostgresClusterTests
{
    [StoreFact]
    public async Task Cluster_status_sessions_and_outcomes_read_a_postgres_store()
    {
        var server = await PostgresServer.GetAsync();
        var store = "postgres:" + await server.CreateDatabaseAsync();
        string session;
        await using (var opened = await LogStores.OpenAsync(store))
        {
            var cluster = (IClusterStore)opened;
            await cluster.JoinAsync("pg-a", "127.0.0.1:1001", null, TimeSpan.FromMinutes(5));
            await cluster.JoinAsync("pg-b", "127.0.0.1:1002", null, TimeSpan.FromMilliseconds(300));
            session = (await cluster.OpenSessionAsync(null, 10)).Session.SessionId;
            await cluster.SetSessionItemAsync(session, "customer", "ada");
            await using (var runtime = new LocalRuntime(opened, new ComponentRegistry().Add<IAccount, Account>()))
            {
                Assert.Equal(3, await runtime.Call<IAccount>("p", $"{session}:1").Deposit(3));
                Assert.False((await runtime.GetOutcomeAsync(new ComponentId("Account", "p"), $"{session}:2", CancellationToken.None)).Committed);
            }

            await Eventually.TrueAsync(async () => !(await cluster.ListSilosAsync()).Single(s => s.SiloId == "pg-b").IsLive,
                "the store to list pg-b dead (its 300 ms window passed without a heartbeat)");
        }

        var status = await AdminFixture.Mw("cluster", "status", "--store", store, "--json");
        Assert.True(status.Code == 0, status.Err);
        var doc = JsonDocument.Parse(status.Out).RootElement;
        Assert.Equal(1, doc.GetProperty("live").GetInt32());
        Assert.Equal(["live", "dead"], doc.GetProperty("silos").EnumerateArray().Select(s => s.GetProperty("status").GetString()));

        var show = JsonDocument.Parse((await AdminFixture.Mw("sessions", "show", session, "--store", store, "--json")).Out).RootElement;
        Assert.Equal("ada", show.GetProperty("items").GetProperty("customer").GetString());
        Assert.Equal(10, show.GetProperty("reserved").GetInt64());

        var committed = JsonDocument.Parse((await AdminFixture.Mw("outcome", $"{session}:1", "--component", "Account/p", "--store", store, "--json")).Out).RootElement;
        Assert.Equal("committed", committed.GetProperty("outcome").GetString());
        Assert.Equal(3, committed.GetProperty("reply").GetInt64());
        var fenced = JsonDocument.Parse((await AdminFixture.Mw("outcome", $"{session}:2", "--component", "Account/p", "--store", store, "--json")).Out).RootElement;
        Assert.Equal("fenced", fenced.GetProperty("outcome").GetString());
    }
}
