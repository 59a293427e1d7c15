using System.Text;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Middleware.Protocol;
using Middleware.Tests.Admin;
using Middleware.Tests.Cluster;
using Middleware.Tests.Support;

namespace Middleware.Tests.Silo;

/// <summary>
/// Issue 12's "failure with no cause anywhere", on a real silo: the ledger back end is configured but its table is
/// missing (an environment failure, not an outcome of the component). The client gets a retryable refusal naming the
/// cause (not a recorded exception, not a bare timeout), the silo counts it by cause in /metrics, and once the table
/// exists the same request completes, once: one ledger row, one turn in the log.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class SiloMissingTableTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    private readonly string _directory = Directory.CreateTempSubdirectory("mw-silo-missing-table-").FullName;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task A_withdrawal_whose_ledger_table_is_missing_is_refused_retryably_with_the_cause_and_runs_once_after_the_table_is_created()
    {
        var ledger = Path.Combine(_directory, "ledger.db");
        var store = $"sqlite:{Path.Combine(_directory, "middleware.db")}";
        await using var silo = await SiloProcess.StartAsync(store, "--Silo:Backends:ledger", $"sqlite:{ledger}");
        await using var client = await silo.ConnectAsync();
        Assert.Equal(ReplyStatus.Ok, (await client.InvokeAsync(SiloHostTests.Deposit("a", "d1", 100))).Status);

        var withdraw = SiloHostTests.Call("Account", "a", "Withdraw", "w1", "[30]");
        var refused = await client.InvokeAsync(withdraw);
        Assert.True(refused.Status == ReplyStatus.Unavailable, $"{refused.Status}: {refused.Detail} {refused.ErrorType}: {refused.ErrorMessage}");
        Assert.Contains("no such table: ledger", refused.Detail);
        Assert.Contains("w1", refused.Detail);
        var metrics = await new HttpClient().GetStringAsync(new Uri($"http://{silo.Http}/metrics"));
        Assert.Matches("middleware_turn_failures_total\\{cause=\"backend\"\\} [1-9]", metrics);
        // Not recorded as the turn's outcome: the log holds the deposit and the withdrawal's partial record, no reply.
        Assert.DoesNotContain(await TurnsAsync(store, "w1"), r => r.GetProperty("kind").GetString() == "turn");

        await using (var connection = new SqliteConnection($"Data Source={ledger}"))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = Bank.Ledger.CreateTableSql;
            await command.ExecuteNonQueryAsync();
        }

        // The silo retries the turn in doubt in the background; the client's retry with the same id gets its reply.
        ReplyMessage reply = null!;
        await Eventually.TrueAsync(async () =>
        {
            reply = await client.InvokeAsync(withdraw);
            Assert.True(reply.Status is ReplyStatus.Ok or ReplyStatus.Unavailable, $"{reply.Status}: {reply.Detail} {reply.ErrorType}: {reply.ErrorMessage}");
            return reply.Status == ReplyStatus.Ok;
        }, "the withdrawal to complete once the ledger table exists", Patience);

        Assert.Equal("70", Encoding.UTF8.GetString(reply.Result.Span));
        Assert.Equal(reply, await client.InvokeAsync(withdraw));
        Assert.Equal("70", Encoding.UTF8.GetString((await client.InvokeAsync(SiloHostTests.Call("Account", "a", "Balance", "b1"))).Result.Span));

        await using var check = new SqliteConnection($"Data Source={ledger}");
        await check.OpenAsync();
        await using var count = check.CreateCommand();
        count.CommandText = "SELECT COUNT(*), SUM(amount), MIN(balance_after) FROM ledger WHERE request_id = 'w1'";
        await using var reader = await count.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        Assert.Equal((1L, 30L, 70L), (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2)));
        Assert.Single(await TurnsAsync(store, "w1"), r => r.GetProperty("kind").GetString() == "turn");
    }

    /// <summary>The records of Account/a for <paramref name="requestId"/>, as <c>mw log --json</c> shows them.</summary>
    private static async Task<List<JsonElement>> TurnsAsync(string store, string requestId)
    {
        var log = await AdminFixture.Mw("log", "Account/a", "--store", store, "--json");
        Assert.True(log.Code == 0, log.Err);
        return JsonDocument.Parse(log.Out).RootElement.GetProperty("records").EnumerateArray()
            .Where(r => r.TryGetProperty("requestId", out var id) && id.GetString() == requestId).ToList();
    }
}
