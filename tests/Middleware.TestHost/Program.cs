namespace Middleware.TestHost;

/// <summary>
/// Child processes for the crash tests, which SIGKILL them like any other process of the cluster: <c>client</c>, a bank
/// client of the real SDK (see <see cref="ClientMode"/>), and <c>host</c>, the bank on a <c>LocalRuntime</c> behind a line
/// protocol on stdin/stdout (see <see cref="HostMode"/>).
/// </summary>
public static class Program
{
    /// <summary>The usage line printed on a wrong command line.</summary>
    public const string Usage =
        "usage: Middleware.TestHost host --store STORE | host --db PATH\n" +
        "  Serves the bank's accounts on a LocalRuntime over the line protocol on stdin/stdout until stdin ends.\n" +
        "usage: Middleware.TestHost client --gateways HOST:PORT[,...] --accounts KEY,KEY[,...] --tellers KEY[,...] [--workers 16] [--seed N] [--session ID]\n" +
        "  Drives deposits, withdrawals and teller transfers until stdin ends or reads 'stop'; prints one 'ack {json}' line per acknowledged request.";

    /// <summary>Runs the mode named by the first argument; 2 on a wrong command line.</summary>
    public static async Task<int> Main(string[] args)
    {
        if (args is ["host", "--db", var db]) return await HostMode.RunAsync("sqlite:" + db);
        if (args is ["host", "--store", var store]) return await HostMode.RunAsync(store);
        if (args is not ["client", .. var rest])
        {
            await Console.Error.WriteLineAsync(Usage);
            return 2;
        }

        ClientSettings settings;
        try
        {
            settings = ClientSettings.Parse(rest);
        }
        catch (ArgumentException e)
        {
            await Console.Error.WriteLineAsync($"error: {e.Message}\n{Usage}");
            return 2;
        }

        return await ClientMode.RunAsync(settings);
    }
}
