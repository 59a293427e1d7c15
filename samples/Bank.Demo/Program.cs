namespace Bank.Demo;

/// <summary>
/// <c>dotnet run --project samples/Bank.Demo</c>: starts a cluster of three silo processes, drives deposits, withdrawals
/// and transfers through the client SDK, SIGKILLs the silo owning the busiest accounts mid-run, keeps going, and verifies
/// that nothing acknowledged was lost or applied twice.
/// </summary>
public static class Program
{
    /// <summary>Entry point: the cluster demo.</summary>
    public static async Task<int> Main(string[] args)
    {
        try
        {
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
