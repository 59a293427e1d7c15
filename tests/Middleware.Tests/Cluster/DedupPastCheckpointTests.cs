using System.Text;
using Middleware.Core;
using Middleware.Grains;
using Xunit.Abstractions;

namespace Middleware.Tests.Cluster;

/// <summary>
/// Exactly-once past checkpoints, with a real silo process killed between: a client's retries of deposits its account
/// recorded before the latest checkpoint (so only the store's dedup table has them) get their recorded replies and move
/// no money, in the activation that wrote them and in the one that recovered from the checkpoint after a SIGKILL, while
/// new requests of the same session (ids above every recorded one, which the activation proves new without a store
/// read) run once each. Ids out of order and an old id with other arguments behave as before.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class DedupPastCheckpointTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Retries_of_requests_recorded_before_the_checkpoint_move_no_money_before_and_after_a_kill()
    {
        await using var cluster = await ClusterFixture.StartAsync(1, null, "--checkpoint-every", "5", "--checkpoint-spread", "0");
        var silo = cluster.Silos[0];
        var account = new ComponentId("Account", $"ck-{Guid.NewGuid():N}"[..12]);
        var sent = new List<(string Id, string Reply)>();
        string? session;
        await using (var client = await cluster.ConnectAsync())
        {
            session = client.SessionId;
            for (var i = 1; i <= 23; i++)
            {
                var id = client.NextRequestId();
                sent.Add((id, await DepositAsync(client, account, id, 10)));
            }

            Assert.Equal("230", sent[^1].Reply);
            // Recorded before the latest checkpoint (seq 20): only the store has these now; the live activation answers them.
            Assert.Equal(sent[2].Reply, await DepositAsync(client, account, sent[2].Id, 10));
            Assert.Equal(sent[16].Reply, await DepositAsync(client, account, sent[16].Id, 10));
            Assert.Equal("230", await BalanceAsync(client, account));
        }

        var head = await cluster.HeadOfAsync(account.ToString());
        Assert.True(head!.CheckpointSeq >= 20, $"the account's latest checkpoint is at {head.CheckpointSeq}, not past seq 20");
        await silo.KillAsync();
        var restarted = await cluster.StartSiloAsync(silo.SiloId, "--checkpoint-every", "5", "--checkpoint-spread", "0");

        // The same session, resumed: its new ids lie above every recorded one.
        await using var resumed = await cluster.ConnectAsync([restarted], sessionId: session);
        var next = resumed.NextRequestId();
        Assert.Equal("240", await DepositAsync(resumed, account, next, 10));
        foreach (var (id, reply) in new[] { sent[0], sent[9], sent[19], sent[22] })
            Assert.Equal(reply, await DepositAsync(resumed, account, id, 10));
        Assert.Equal("240", await DepositAsync(resumed, account, next, 10));
        for (var i = 0; i < 12; i++) await DepositAsync(resumed, account, resumed.NextRequestId(), 1);
        Assert.Equal("252", await BalanceAsync(resumed, account));

        // Out of order: an id of this session below the greatest recorded, never used, runs once.
        var skipped = $"{session}:{long.Parse(next[(next.LastIndexOf(':') + 1)..], System.Globalization.CultureInfo.InvariantCulture) - 1}";
        Assert.DoesNotContain(skipped, sent.Select(s => s.Id));
        Assert.Equal("253", await DepositAsync(resumed, account, skipped, 1));
        Assert.Equal("253", await DepositAsync(resumed, account, skipped, 1));
        var reuse = await Assert.ThrowsAsync<RequestIdReuseException>(() => resumed.InvokeAsync(account, "Deposit", Encoding.UTF8.GetBytes("[99]"), sent[4].Id));
        output.WriteLine($"an old id with other arguments: {reuse.Message}");
        Assert.Equal("253", await BalanceAsync(resumed, account));
    }

    private static async Task<string> DepositAsync(Middleware.Client.MiddlewareClient client, ComponentId account, string id, long amount)
    {
        var reply = await client.InvokeAsync(account, "Deposit", Encoding.UTF8.GetBytes($"[{amount}]"), id);
        Assert.False(reply.IsError, $"{id}: {reply.ErrorType}: {reply.ErrorMessage}");
        return Encoding.UTF8.GetString(reply.Result.Span);
    }

    private static async Task<string> BalanceAsync(Middleware.Client.MiddlewareClient client, ComponentId account)
    {
        var reply = await client.InvokeAsync(account, "Balance", Encoding.UTF8.GetBytes("[]"));
        return Encoding.UTF8.GetString(reply.Result.Span);
    }
}
