using System.Globalization;
using System.Text;
using System.Text.Json;
using Middleware.Core;
using Middleware.Protocol;
using Middleware.Tests.Cluster;
using Middleware.Tests.Silo;

namespace Middleware.Tests.Admin;

/// <summary>
/// The commands that reach the cluster (<c>move</c>, <c>outcome --fence</c>, <c>--cluster-key</c>) against real silo
/// processes on one SQLite store, the tool running in-process as an operator would run it beside them.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class AdminSiloTests
{
    [Fact]
    public async Task Move_hands_an_account_to_the_other_silo_and_deposits_carry_on_with_the_right_balance()
    {
        // Rebalancing off: it would move the account back to its rendezvous owner at its next scan (README, Rebalancing).
        await using var cluster = await ClusterFixture.StartAsync(2, null, "--rebalance-per-second", "0");
        var key = $"mv-{Guid.NewGuid():N}"[..14];
        var component = $"Account/{key}";
        await using var connection = await cluster.Silos[0].ConnectAsync();
        Assert.Equal(5, await DepositAsync(connection, key, "mv:1", 5));
        Assert.Equal(12, await DepositAsync(connection, key, "mv:2", 7));
        var owner = await cluster.OwnerOfAsync(component) ?? throw new InvalidOperationException("no owner recorded");
        var other = cluster.Silos.Single(s => s.SiloId != owner.SiloId);

        var status = JsonDocument.Parse((await AdminFixture.Mw("cluster", "status", "--store", cluster.Store, "--json")).Out).RootElement;
        Assert.Equal(2, status.GetProperty("live").GetInt32());
        Assert.Contains(status.GetProperty("silos").EnumerateArray(), s => s.GetProperty("siloId").GetString() == owner.SiloId && s.GetProperty("componentsOwned").GetInt32() >= 1);

        // A checkpoint by the tool would fence the live owner: refused, pointing at mw move.
        var checkpoint = await AdminFixture.Mw("checkpoint", component, "--components", SiloProcess.BankAssembly, "--store", cluster.Store);
        AdminClusterTests.AssertOneLineError(checkpoint, $"owned by the live silo {owner.SiloId}");
        Assert.Contains("mw move", checkpoint.Err, StringComparison.Ordinal);

        // An unknown target is refused before anything is sent, naming the live silos.
        var refused = await AdminFixture.Mw("move", component, "--to", "no-such-silo", "--store", cluster.Store);
        AdminClusterTests.AssertOneLineError(refused, "'no-such-silo' is not a live silo");
        Assert.Contains(owner.SiloId, refused.Err, StringComparison.Ordinal);
        Assert.Contains(other.SiloId, refused.Err, StringComparison.Ordinal);

        var before = await cluster.HeadOfAsync(component);
        var run = await AdminFixture.Mw("move", component, "--to", other.SiloId, "--store", cluster.Store, "--json");
        Assert.True(run.Code == 0, run.Err);
        var moved = JsonDocument.Parse(run.Out).RootElement;
        Assert.Equal(["component", "from", "to", "epoch", "owner"], moved.EnumerateObject().Select(p => p.Name));
        Assert.Equal(owner.SiloId, moved.GetProperty("from").GetString());
        Assert.Equal(other.SiloId, moved.GetProperty("to").GetString());
        Assert.Equal(other.SiloId, moved.GetProperty("owner").GetString());
        var after = await cluster.HeadOfAsync(component);
        Assert.Equal(other.SiloId, after!.Owner);
        Assert.Equal(before!.LastSeq, after.CheckpointSeq); // the owner checkpointed before it handed over

        // Deposits go on through the same gateway; a resend of an old id answers from the log.
        Assert.Equal(15, await DepositAsync(connection, key, "mv:3", 3));
        Assert.Equal(5, await DepositAsync(connection, key, "mv:1", 5));
        await using var direct = await other.ConnectAsync();
        Assert.Equal(16, await DepositAsync(direct, key, "mv:4", 1));
        var final = await cluster.HeadOfAsync(component);
        Assert.Equal(other.SiloId, final!.Owner);
        Assert.True(final.Epoch > before.Epoch, $"the new owner's claim raises the epoch ({before.Epoch} -> {final.Epoch})");

        // Moving it to where it is already is a no-op.
        var again = await AdminFixture.Mw("move", component, "--to", other.SiloId, "--store", cluster.Store);
        Assert.Equal(0, again.Code);
        Assert.Contains("already on", again.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Outcome_fence_has_the_owner_fence_a_never_sent_id_which_is_then_refused()
    {
        await using var cluster = await ClusterFixture.StartAsync(count: 2);
        var key = $"fe-{Guid.NewGuid():N}"[..14];
        var component = $"Account/{key}";
        await using var connection = await cluster.Silos[1].ConnectAsync();
        Assert.Equal(4, await DepositAsync(connection, key, "fe:1", 4));

        // Read-only first: not committed, and nothing can tell whether it might still arrive.
        var readOnly = await AdminFixture.Mw("outcome", "fe:2", "--component", component, "--store", cluster.Store);
        Assert.Contains("not committed (not fenced; only the owner can fence it: use --fence)", readOnly.Out, StringComparison.Ordinal);

        var run = await AdminFixture.Mw("outcome", "fe:2", "--component", component, "--fence", "--store", cluster.Store, "--json");
        Assert.True(run.Code == 0, run.Err);
        var fenced = JsonDocument.Parse(run.Out).RootElement;
        Assert.Equal("fenced", fenced.GetProperty("outcome").GetString());
        Assert.Equal("silo", fenced.GetProperty("source").GetString());
        Assert.Equal(2, fenced.GetProperty("seq").GetInt64()); // the owner's fence record, read back from the store

        // The fenced id never runs: a late arrival gets the fence error and the balance is untouched.
        var late = await connection.InvokeAsync(Deposit(key, "fe:2", 100));
        Assert.Equal(ReplyStatus.Error, late.Status);
        Assert.Equal(Middleware.Core.RequestOutcome.FencedErrorType, late.ErrorType);
        Assert.Equal(7, await DepositAsync(connection, key, "fe:3", 3));

        // Now the store itself knows; and a committed id is answered with its reply.
        var known = await AdminFixture.Mw("outcome", "fe:2", "--component", component, "--store", cluster.Store);
        Assert.StartsWith("fe:2 on " + component + ": not committed; fenced at seq 2", known.Out, StringComparison.Ordinal);
        var committed = JsonDocument.Parse((await AdminFixture.Mw("outcome", "fe:1", "--component", component, "--fence", "--store", cluster.Store, "--json")).Out).RootElement;
        Assert.Equal("committed", committed.GetProperty("outcome").GetString());
        Assert.Equal(4, committed.GetProperty("reply").GetInt64());

        // A component that never ran: the silo claims it and fences the id.
        var fresh = $"Account/{key}-new";
        var never = JsonDocument.Parse((await AdminFixture.Mw("outcome", "x:1", "--component", fresh, "--fence", "--store", cluster.Store, "--json")).Out).RootElement;
        Assert.Equal("fenced", never.GetProperty("outcome").GetString());

        // An unknown component type: the silo's NotFound is one line.
        AdminClusterTests.AssertOneLineError(
            await AdminFixture.Mw("outcome", "x:1", "--component", "NoSuchType/k", "--fence", "--store", cluster.Store), "NoSuchType");
    }

    [Fact]
    public async Task Silos_that_require_a_cluster_key_are_reached_with_cluster_key()
    {
        var dir = Directory.CreateTempSubdirectory("mw-admin-key-").FullName;
        try
        {
            var store = $"sqlite:{Path.Combine(dir, "middleware.db")}";
            await using var silo = await SiloProcess.StartAsync(store, "--silo-id", "keyed-1", "--cluster-key", "sesame");
            AdminClusterTests.AssertOneLineError(await AdminFixture.Mw("outcome", "k:1", "--component", "Account/k", "--fence", "--store", store), "--cluster-key");
            var run = await AdminFixture.Mw("outcome", "k:1", "--component", "Account/k", "--fence", "--cluster-key", "sesame", "--store", store);
            Assert.True(run.Code == 0, run.Err);
            Assert.StartsWith("k:1 on Account/k: not committed; fenced", run.Out, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static InvokeMessage Deposit(string key, string requestId, long amount) =>
        new("Account", key, "Deposit", requestId, null, null, Encoding.UTF8.GetBytes($"[{amount.ToString(CultureInfo.InvariantCulture)}]"));

    private static async Task<long> DepositAsync(MiddlewareConnection connection, string key, string requestId, long amount)
    {
        var reply = await connection.InvokeAsync(Deposit(key, requestId, amount));
        Assert.True(reply.Status == ReplyStatus.Ok, $"deposit {requestId}: {reply}");
        return long.Parse(Encoding.UTF8.GetString(reply.Result.Span), CultureInfo.InvariantCulture);
    }
}
