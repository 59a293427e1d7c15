using Middleware.Recovery.Sqlite;
using Middleware.Recovery.Storage;
using Middleware.Recovery.Stores;
using Middleware.Tests.Support;

namespace Middleware.Tests.Storage;

/// <summary>Store selection: the accepted forms, the errors for the others, and the --store / MIDDLEWARE_STORE precedence.</summary>
[RequiresPostgres]
public sealed class LogStoresTests
{
    [Theory]
    [InlineData("")]
    [InlineData("oracle:Data Source=x;Password=hunter2")]
    [InlineData("./data/bank.db")]
    [InlineData("sqlite:")]
    [InlineData("postgres:")]
    [InlineData("postgres:Hots=db;Password=hunter2")]
    [InlineData("memory:something")]
    public async Task An_unknown_or_malformed_setting_names_the_setting_and_the_accepted_forms_without_echoing_secrets(string setting)
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(() => LogStores.OpenAsync(setting));
        Assert.Contains("--store / MIDDLEWARE_STORE", error.Message);
        Assert.Contains("sqlite:PATH", error.Message);
        Assert.Contains("postgres:<Npgsql connection string>", error.Message);
        Assert.Contains("sqlserver:<SqlClient connection string>", error.Message);
        Assert.DoesNotContain("hunter2", error.Message);
    }

    [Fact]
    public async Task Memory_and_sqlite_open_their_stores()
    {
        await using (var memory = await LogStores.OpenAsync("memory:")) Assert.IsType<MemoryLogStore>(memory);
        var dir = Directory.CreateTempSubdirectory("mw-stores-").FullName;
        try
        {
            await using var sqlite = await LogStores.OpenAsync("sqlite:" + Path.Combine(dir, "x.db"));
            Assert.IsType<SqliteLogStore>(sqlite);
            Assert.Equal("sqlite:" + Path.Combine(dir, "x.db"), sqlite.Name);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [StoreFact]
    public async Task Postgres_opens_and_an_unreachable_one_is_unavailable_naming_the_store()
    {
        var server = await PostgresServer.GetAsync();
        await using (var store = await LogStores.OpenAsync("postgres:" + await server.CreateDatabaseAsync()))
            Assert.StartsWith("postgres:", store.Name);

        var port = PostgresServer.FreePort();
        var error = await Assert.ThrowsAsync<StoreUnavailableException>(() => LogStores.OpenAsync($"postgres:Host=127.0.0.1;Port={port};Username=u;Password=hunter2;Timeout=3"));
        Assert.Contains($"Port={port}", error.Message);
        Assert.DoesNotContain("hunter2", error.Message);
    }

    [Fact]
    public void The_cli_value_wins_over_the_environment_which_wins_over_the_default()
    {
        var saved = Environment.GetEnvironmentVariable(LogStores.EnvironmentVariable);
        try
        {
            Environment.SetEnvironmentVariable(LogStores.EnvironmentVariable, "postgres:Host=env");
            Assert.Equal("sqlite:cli.db", LogStores.FromEnvironmentOrDefault("sqlite:cli.db", "sqlite:default.db"));
            Assert.Equal("postgres:Host=env", LogStores.FromEnvironmentOrDefault(null, "sqlite:default.db"));
            Environment.SetEnvironmentVariable(LogStores.EnvironmentVariable, "");
            Assert.Equal("sqlite:default.db", LogStores.FromEnvironmentOrDefault(null, "sqlite:default.db"));
        }
        finally
        {
            Environment.SetEnvironmentVariable(LogStores.EnvironmentVariable, saved);
        }
    }
}
