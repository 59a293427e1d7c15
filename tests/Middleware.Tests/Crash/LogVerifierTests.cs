using Bank;
using Bank.Demo;
using Middleware.Recovery.Log;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;

namespace Middleware.Tests.Crash;

/// <summary>
/// The crash tests and the demo rest on <see cref="LogVerifier"/> reporting "0 lost, 0 duplicated"; these
/// tests show it does report a lost, a duplicated and a misreported request when there is one.
/// </summary>
public sealed class LogVerifierTests
{
    private static readonly HostRequest First = new("v-1", OperationKind.Deposit, "a", 100);
    private static readonly HostRequest Second = new("v-2", OperationKind.Deposit, "a", 200);
    private static readonly HostRequest Overdraft = new("v-3", OperationKind.Withdraw, "a", 1000);

    [Fact]
    public async Task A_truthful_run_passes()
    {
        var (store, acked) = await RunAsync();
        var report = await LogVerifier.VerifyAsync(store, acked, Balances(300));
        Assert.True(report.Passed, string.Join(Environment.NewLine, report.Discrepancies));
        Assert.Equal("verified: 3 acknowledged, 0 lost, 0 duplicated", report.Summary);
    }

    [Fact]
    public async Task An_acknowledged_request_missing_from_the_log_is_lost()
    {
        var (store, acked) = await RunAsync();
        var ghost = new Acknowledged(new HostRequest("v-ghost", OperationKind.Deposit, "a", 50), new HostReply("v-ghost", ReplyKind.Ok, 350));
        var report = await LogVerifier.VerifyAsync(store, [.. acked, ghost], Balances(300));
        Assert.Equal((4, 1, 0), (report.Acknowledged, report.Lost, report.Duplicated));
        Assert.Contains(report.Discrepancies, d => d.Contains("v-ghost", StringComparison.Ordinal) && d.Contains("lost", StringComparison.Ordinal));
        Assert.Contains(report.Discrepancies, d => d.Contains("expected balance 350", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_request_logged_twice_is_duplicated()
    {
        var (store, acked) = await RunAsync();
        var head = (await store.GetHeadAsync(LogVerifier.Component("a")))!;
        var first = (await store.ReadAsync(head.ComponentId, 1, 1))[0];
        var again = new LogRecord(head.LastSeq + 1, head.Epoch, RecordKind.Turn, first.Payload);
        Assert.Equal([AppendStatus.Ok], await store.AppendAsync([new AppendGroup(head.ComponentId, head.Epoch, [again])]));

        var report = await LogVerifier.VerifyAsync(store, acked, Balances(400));
        Assert.Equal((3, 0, 1), (report.Acknowledged, report.Lost, report.Duplicated));
        Assert.Contains(report.Discrepancies, d => d.Contains("v-1: in the log 2 times", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_reply_that_differs_from_the_logged_one_is_reported()
    {
        var (store, acked) = await RunAsync();
        var wrong = acked.Select(a => a.Request == First ? a with { Reply = a.Reply with { Balance = 999 } } : a).ToList();
        var report = await LogVerifier.VerifyAsync(store, wrong, Balances(300));
        Assert.False(report.Passed);
        Assert.Contains(report.Discrepancies, d => d.Contains("v-1: acknowledged with 'OK v-1 999'", StringComparison.Ordinal));
    }

    private static Dictionary<string, long> Balances(long a) => new(StringComparer.Ordinal) { ["a"] = a };

    /// <summary>Two deposits and a refused overdraft on account "a", run for real on an in-memory log.</summary>
    private static async Task<(MemoryLogStore Store, List<Acknowledged> Acked)> RunAsync()
    {
        var store = new MemoryLogStore();
        await using var runtime = new LocalRuntime(store, new ComponentRegistry().Add<IAccount, Account>());
        Assert.Equal(100, await runtime.Call<IAccount>("a", First.RequestId).Deposit(First.Amount));
        Assert.Equal(300, await runtime.Call<IAccount>("a", Second.RequestId).Deposit(Second.Amount));
        var refused = await Assert.ThrowsAsync<InsufficientFundsException>(() => runtime.Call<IAccount>("a", Overdraft.RequestId).Withdraw(Overdraft.Amount));
        return (store,
        [
            new Acknowledged(First, new HostReply(First.RequestId, ReplyKind.Ok, 100)),
            new Acknowledged(Second, new HostReply(Second.RequestId, ReplyKind.Ok, 300)),
            new Acknowledged(Overdraft, new HostReply(Overdraft.RequestId, ReplyKind.Error, 0, typeof(InsufficientFundsException).FullName, refused.Message)),
        ]);
    }
}
