namespace Bank.Demo;

/// <summary>
/// <c>dotnet run --project samples/Bank.Demo</c>: runs a bank workload against a child host process,
/// SIGKILLs the host mid-run, restarts it, retries and verifies that nothing acknowledged was lost or
/// applied twice. <c>host --store STORE</c> (or <c>host --db PATH</c>, short for <c>--store sqlite:PATH</c>) is the child process itself.
/// </summary>
public static class Program
{
    /// <summary>Entry point: parent (demo) mode by default, host mode with <c>host --store STORE</c> or <c>host --db PATH</c>.</summary>
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

            return await DemoRunner.RunAsync(DemoOptions.Parse(args)).ConfigureAwait(false);
        }
        catch (ArgumentException e)
        {
            await Console.Error.WriteLineAsync("error: " + e.Message).ConfigureAwait(false);
            return 2;
        }
    }
}
