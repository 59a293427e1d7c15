using System.Text;
using Bank;
using Middleware.Client;
using Middleware.Grains;
using Middleware.Protocol;
using Middleware.Tests.Cluster;
using Middleware.Tests.Support;
using Xunit.Abstractions;

namespace Middleware.Tests.Crash;

/// <summary>
/// An owner SIGSTOPped between a turn's partial record and its outbound call (the fault point), declared dead, and
/// resumed after another silo completed the turn: on SIGCONT it makes the stale call with the same id. Because the new
/// owner completed the same turn on the same state first, both calls carry the same arguments and the callee takes
/// effect once: one ledger row with the committed balance, money moved once, and the resumed owner writes nothing of its
/// old epoch. Nobody retries the frozen request: the silos' sweep completes it. Written once; each store kind is a subclass.
/// </summary>
[Collection(ClusterCollection.Name)]
public abstract class FrozenBeforeOutboundTests(ITestOutputHelper output)
{
    private const int Attempts = 3;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    [StoreFact]
    public async Task A_withdrawal_frozen_before_its_ledger_call_is_posted_once_with_the_committed_balance()
    {
        var acks = new List<ClientAck>();
        var request = "";
        await using var frozen = await FreezeAsync("Account", $"w-{Guid.NewGuid():N}"[..10], acks,
            async (client, account) => Assert.Equal("100", await SendAsync(client, acks, account, "Deposit", "[100]")),
            (client, account) => new InvokeMessage(account.Type, account.Key, "Withdraw", request = client.NextRequestId(), client.SessionId, null, "[30]"u8.ToArray()));
        var (account, key) = (frozen.Component, frozen.Component.Key);

        // Nobody retries the withdrawal. Once the owner is declared dead a deposit arrives at once, racing the silos'
        // sweep: either way the withdrawal in doubt holds its place and completes first, on the state it started from.
        await frozen.WaitDeclaredDeadAsync();
        await using var client = await frozen.ConnectToOthersAsync();
        Assert.Equal("75", await SendAsync(client, acks, account, "Deposit", "[5]"));
        var takeover = await frozen.WaitUntilCompletedElsewhereAsync();
        output.WriteLine($"{frozen.Silo.Id} froze before {frozen.OutboundId} (epoch {frozen.AtFreeze.Epoch}); {takeover.Owner} completed the withdrawal at epoch {takeover.Epoch}");
        var outcome = await client.GetOutcomeAsync(account, request);
        Assert.True(outcome.Committed, $"{request} was fenced instead of completed");
        Assert.Equal("70", Text.Of(outcome.Reply!.Result));
        acks.Add(new ClientAck(request, account.ToString(), "Withdraw", "[30]", "70", null, null));
        Assert.Equal("65", await SendAsync(client, acks, account, "Withdraw", "[10]"));

        // The owner runs on: its stale turn posts to the ledger with the same entry id and arguments, then is fenced.
        frozen.Resume();
        var stale = await frozen.StaleReply.WaitAsync(Patience);
        output.WriteLine($"the resumed {frozen.Silo.Id} answered the frozen request: {stale}");
        if (stale.Status == ReplyStatus.Ok) Assert.Equal("70", Text.Of(stale.Result));
        else Assert.Equal(ReplyStatus.Unavailable, stale.Status);
        await frozen.WaitRejoinedAsync();
        await using (var viaResumed = await frozen.Cluster.ConnectAsync([frozen.Silo.ProtocolAddress]))
            Assert.Equal("66", await SendAsync(viaResumed, acks, account, "Deposit", "[1]"));

        await using var ledger = frozen.Cluster.OpenLedger();
        var rows = (await BankSnapshot.ReadLedgerAsync(ledger)).Where(r => r.Account == key).ToList();
        var row = Assert.Single(rows, r => r.EntryId == frozen.OutboundId);
        Assert.Equal((request, 30L, 70L), (row.RequestId, row.Amount, row.BalanceAfter));
        Assert.Equal(2, rows.Count);
        await frozen.AssertNoRecordOfTheOldEpochAfterTheTakeoverAsync();
        await AuditAsync(frozen, acks, sweptWithoutClient: false);
    }

    [StoreFact]
    public async Task A_transfer_frozen_before_its_first_account_call_moves_the_money_once()
    {
        var prefix = Guid.NewGuid().ToString("N")[..6];
        var (from, to) = (new ComponentId("Account", $"{prefix}-from"), new ComponentId("Account", $"{prefix}-to"));
        var acks = new List<ClientAck>();
        var request = "";
        await using var frozen = await FreezeAsync("Teller", $"{prefix}-teller", acks,
            async (client, teller) =>
            {
                Assert.Equal("500", await SendAsync(client, acks, from, "Deposit", "[500]"));
                Assert.Equal("100", await SendAsync(client, acks, to, "Deposit", "[100]"));
                // A read-only turn activates the teller (so its owner is known) without an outbound call.
                Assert.Equal(0, (await client.GetComponent<ITeller>(teller.Key).Totals()).Transfers);
            },
            (client, teller) => new InvokeMessage(teller.Type, teller.Key, "Transfer", request = client.NextRequestId(), client.SessionId, null, Args(from.Key, to.Key, 120)));
        var teller = frozen.Component;

        // Nobody sends anything: the silos that are left declare the owner dead and their sweep completes the transfer.
        var takeover = await frozen.WaitUntilCompletedElsewhereAsync();
        output.WriteLine($"{frozen.Silo.Id} froze before {frozen.OutboundId} (epoch {frozen.AtFreeze.Epoch}); {takeover.Owner} completed the transfer at epoch {takeover.Epoch}");
        Assert.EndsWith(":1", frozen.OutboundId);
        await using var client = await frozen.ConnectToOthersAsync();
        var outcome = await client.GetOutcomeAsync(teller, request);
        Assert.True(outcome.Committed, $"{request} was fenced instead of completed");
        Assert.Equal("1", Text.Of(outcome.Reply!.Result));
        acks.Add(new ClientAck(request, teller.ToString(), "Transfer", Encoding.UTF8.GetString(Args(from.Key, to.Key, 120)), "1", null, null));
        Assert.Equal(380, await client.GetComponent<IAccount>(from.Key).Balance());
        Assert.Equal("2", await SendAsync(client, acks, teller, "Transfer", Encoding.UTF8.GetString(Args(to.Key, from.Key, 20))));

        // The resumed teller turn debits and credits again with the same ids: the accounts answer what they recorded.
        frozen.Resume();
        var stale = await frozen.StaleReply.WaitAsync(Patience);
        output.WriteLine($"the resumed {frozen.Silo.Id} answered the frozen request: {stale}");
        if (stale.Status == ReplyStatus.Ok) Assert.Equal("1", Text.Of(stale.Result));
        else Assert.Equal(ReplyStatus.Unavailable, stale.Status);
        await frozen.WaitRejoinedAsync();

        Assert.Equal(400, await client.GetComponent<IAccount>(from.Key).Balance());
        Assert.Equal(200, await client.GetComponent<IAccount>(to.Key).Balance());
        Assert.Equal(2, (await client.GetComponent<ITeller>(teller.Key).Totals()).Transfers);
        await frozen.AssertNoRecordOfTheOldEpochAfterTheTakeoverAsync();
        await AuditAsync(frozen, acks, sweptWithoutClient: true);
    }

    /// <summary>A new, empty store of the subclass's kind (null: a new SQLite file).</summary>
    internal abstract Task<string?> CreateStoreAsync();

    /// <summary>
    /// <see cref="FrozenOwner.StartAsync"/>, again with a new cluster when the owner froze holding the SQLite write lock
    /// (then nobody could declare it dead: a limit of one SQLite file shared by processes, not what is tested here).
    /// </summary>
    private async Task<FrozenOwner> FreezeAsync(string type, string keyBase, List<ClientAck> acks, Func<MiddlewareClient, ComponentId, Task> warm, Func<MiddlewareClient, ComponentId, InvokeMessage> request)
    {
        for (var attempt = 1; ; attempt++)
        {
            acks.Clear(); // what the warm-up of a discarded cluster was told is no claim on the next one
            if (await FrozenOwner.StartAsync(await CreateStoreAsync(), type, keyBase, warm, request) is { } frozen) return frozen;
            output.WriteLine($"attempt {attempt}: the owner froze inside a SQLite store transaction (every silo waits on its lock); starting over");
            if (attempt == Attempts) Assert.Fail($"The owner froze holding the SQLite write lock {Attempts} times in a row.");
        }
    }

    /// <summary>
    /// The bank audit over the whole store, with what this test's clients were told; when <paramref name="sweptWithoutClient"/>,
    /// also that a silo's sweep (not a request) completed the frozen turn.
    /// </summary>
    private async Task AuditAsync(FrozenOwner frozen, List<ClientAck> acks, bool sweptWithoutClient)
    {
        var report = await frozen.Cluster.SettleAndAuditAsync(acks, Patience);
        var completed = await frozen.Cluster.InDoubtCompletedAsync();
        output.WriteLine($"{completed:0} turn(s) in doubt completed by the silos' sweeps");
        report.WriteTo(output);
        Assert.True(report.Passed, report.Describe());
        if (sweptWithoutClient) Assert.True(completed >= 1, $"no silo's sweep completed the frozen turn ({BankCluster.InDoubtCompletedMetric} is {completed})");
    }

    /// <summary>Sends one request with a new id of the client's session and notes what the client was told.</summary>
    private static async Task<string> SendAsync(MiddlewareClient client, List<ClientAck> acks, ComponentId target, string method, string args)
    {
        var id = client.NextRequestId();
        var reply = await client.InvokeAsync(target, method, Encoding.UTF8.GetBytes(args), id);
        acks.Add(new ClientAck(id, target.ToString(), method, args, reply.IsError ? null : Text.Of(reply.Result), reply.ErrorType, reply.ErrorMessage));
        return reply.IsError ? $"error {reply.ErrorType}" : Text.Of(reply.Result);
    }

    private static byte[] Args(string from, string to, long amount) => System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new object[] { from, to, amount });
}

/// <summary>The frozen owner on one SQLite file shared by the silo processes.</summary>
public sealed class SqliteFrozenBeforeOutboundTests(ITestOutputHelper output) : FrozenBeforeOutboundTests(output)
{
    internal override Task<string?> CreateStoreAsync() => Task.FromResult<string?>(null);
}

/// <summary>The frozen owner on a fresh database of the throwaway PostgreSQL server.</summary>
[RequiresPostgres]
public sealed class PostgresFrozenBeforeOutboundTests(ITestOutputHelper output) : FrozenBeforeOutboundTests(output)
{
    internal override async Task<string?> CreateStoreAsync() => "postgres:" + await (await PostgresServer.GetAsync()).CreateDatabaseAsync();
}
