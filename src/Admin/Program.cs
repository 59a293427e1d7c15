using Middleware.Admin.Cli;

namespace Middleware.Admin;

/// <summary>The <c>mw</c> admin tool: see docs/admin.md.</summary>
public static class Program
{
    /// <summary>Runs one command on the process's console and returns its exit code (0 ok, 1 divergence, 2 usage or store error).</summary>
    public static Task<int> Main(string[] args) => AdminCli.RunAsync(args, Console.Out, Console.Error);
}
