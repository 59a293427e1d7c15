namespace Bank.Demo;

/// <summary>
/// <c>dotnet run --project samples/Bank.Demo</c>: starts a cluster of three silo processes, drives deposits, withdrawals
/// and transfers through the client SDK, SIGKILLs the silo owning the busiest accounts mid-run, keeps going, and verifies
/// that nothing acknowledged was lost or applied twice. <c>host --store STORE</c> (or <c>host --db PATH</c>) is the
/// single-host child process of the crash tests (a LocalRuntime behind a line protocol on stdin/stdout).
/// </summary>
public static class Program
{
    /// <summary>Entry point: the cluster demo by default, host mode with <c>host --store STORE</c> or <c>host --db PATH</c>.</summary>
    public static async Task<int> Main(string[] args)
    {
        try
        {
            if (args is ["host", "--db", var db]) return await HostMode.RunAsync("sqlite:" + db).ConfigureAwait(false);
            if (args is ["host", "--store", var store]) return await HostMode.RunAsync(store).ConfigureAwait(false);
            if (args is ["host", ..])
            {
                await Console.Error.WriteLineAsync("usage: Bank.Demo host --store STORE | host --db PATH").ConfigureAwait(false);
                return 2;
            }

            if (args is ["--help" or "-h"])
            {
                Console.WriteLine("usage: dotnet run --project samples/Bank.Demo -- [options]\n" + DemoOptions.Help);
                return 0;
            }

            return await DemoRunner.RunAsync(DemoOptions.Parse(args)).ConfigureAwait(false);
        }
        catch (ArgumentException e)
        {
            await Console.Error.WriteLineAsync("error: " + e.Message).ConfigureAwait(false);
            return 2;
        }
    }
}
