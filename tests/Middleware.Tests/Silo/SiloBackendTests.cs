using System.Text;
using Microsoft.Data.Sqlite;
using Middleware.Protocol;

namespace Middleware.Tests.Silo;

/// <summary>Back ends from the silo's configuration (<c>Silo:Backends:&lt;name&gt;</c>), as the sample's Withdraw needs.</summary>
public sealed class SiloBackendTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("mw-silo-backend-").FullName;

    public void Dispose()
    {
        // Pooled SQLite connections of this process would keep the ledger file open.
        SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task A_configured_ledger_back_end_receives_each_withdrawal_once()
    {
        var ledger = Path.Combine(_directory, "ledger.db");
        // The application owns its tables; the silo only registers the data source.
        await using (var connection = new SqliteConnection($"Data Source={ledger}"))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = Bank.Ledger.CreateTableSql;
            await command.ExecuteNonQueryAsync();
        }

        await using var silo = await SiloProcess.StartAsync($"sqlite:{Path.Combine(_directory, "middleware.db")}", "--Silo:Backends:ledger", $"sqlite:{ledger}");
        await using var client = await silo.ConnectAsync();
        Assert.Equal(ReplyStatus.Ok, (await client.InvokeAsync(SiloHostTests.Deposit("a", "d1", 100))).Status);
        var withdraw = SiloHostTests.Call("Account", "a", "Withdraw", "w1", "[30]");
        var first = await client.InvokeAsync(withdraw);
        Assert.Equal("70", Encoding.UTF8.GetString(first.Result.Span));
        Assert.Equal(first, await client.InvokeAsync(withdraw));

        await using var check = new SqliteConnection($"Data Source={ledger}");
        await check.OpenAsync();
        await using var count = check.CreateCommand();
        count.CommandText = "SELECT COUNT(*), SUM(amount) FROM ledger WHERE account = 'a'";
        await using var reader = await count.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        Assert.Equal(1, reader.GetInt64(0));
        Assert.Equal(30, reader.GetInt64(1));
    }

    [Fact]
    public async Task A_silo_without_a_declared_back_end_refuses_to_start_naming_its_setting()
    {
        // Account declares [UsesBackend("ledger")]: the missing setting is found at start, not by the first withdrawal.
        await using var silo = SiloProcess.Launch(["--store", $"sqlite:{Path.Combine(_directory, "middleware.db")}", "--port", "0", "--http-port", "0", "--components", SiloProcess.BankAssembly]);
        Assert.NotEqual(0, await silo.WaitForExitAsync());
        var line = Assert.Single(silo.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Assert.Contains("--Silo:Backends:ledger", line);
        Assert.Contains("MIDDLEWARE_BACKEND_LEDGER", line);
        Assert.Contains("component Account", line);
        Assert.False(File.Exists(Path.Combine(_directory, "middleware.db")), "the store must not be created when a setting is missing");
    }
}
