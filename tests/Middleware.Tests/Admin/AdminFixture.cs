using Middleware.Tests.Support;
using Bank;
using Middleware.Admin.Cli;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Sqlite;

namespace Middleware.Tests.Admin;

/// <summary>A temporary SQLite store for one test, and the tool run in-process on it.</summary>
public sealed class AdminFixture : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mw-admin-").FullName;

    public string Db => Path.Combine(_dir, "log.db");

    public string Store => "sqlite:" + Db;

    /// <summary>The sample's component assembly, as a user would pass it.</summary>
    public static string BankDll => typeof(Account).Assembly.Location;

    /// <summary>Runs mw with the arguments and returns the exit code and what it wrote.</summary>
    public static async Task<(int Code, string Out, string Err)> Mw(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await AdminCli.RunAsync(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    /// <summary>Runs mw on this fixture's store.</summary>
    public Task<(int Code, string Out, string Err)> MwOnStore(params string[] args) => Mw([.. args, "--store", Store]);

    /// <summary>Writes turns through a LocalRuntime with the given code, then closes the store.</summary>
    public async Task WriteAsync(ComponentRegistry registry, int checkpointEvery, Func<LocalRuntime, Task> work)
    {
        await using var store = SqliteLogStore.Open(Db);
        await using var runtime = new LocalRuntime(store, registry, new RuntimeOptions { CheckpointEveryTurns = checkpointEvery, CheckpointSpread = 0 }, TestLedger.Register(new RuntimeEnvironment(), _dir));
        await work(runtime);
    }

    /// <summary>A realistic clean Bank log: deposits, withdrawals and refused overdrafts over a few accounts.</summary>
    public Task WriteBankAsync(int checkpointEvery = 7) => WriteAsync(new ComponentRegistry().Add<IAccount, Account>(), checkpointEvery, async rt =>
    {
        var refused = 0;
        for (var i = 0; i < 60; i++)
        {
            var account = rt.Call<IAccount>($"a{i % 3}", $"r{i}");
            if (i % 4 == 3)
            {
                try
                {
                    await account.Withdraw(50 + i);
                }
                catch (InsufficientFundsException)
                {
                    refused++; // recorded as the turn's reply: the audit must reproduce it too
                }
            }
            else
            {
                await account.Deposit(10 + i);
            }
        }

        Assert.True(refused > 0, "the workload should include refused withdrawals");
    });

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
