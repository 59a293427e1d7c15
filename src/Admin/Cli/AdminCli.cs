using System.CommandLine;
using Middleware.Admin.Commands;
using Middleware.Core;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;

namespace Middleware.Admin.Cli;

/// <summary>
/// The command tree of <c>mw</c> and its one entry point. Tests call <see cref="RunAsync"/> in-process with
/// their own writers; <see cref="Program.Main"/> passes the console.
/// </summary>
public static class AdminCli
{
    /// <summary>Parses and runs one command line; returns the exit code (see <see cref="ExitCodes"/>).</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(args);
        var cli = new CliContext(output, error);
        var root = BuildRoot(cli);
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            // System.CommandLine would exit 1 on a parse error; 1 means divergence here, so usage errors are mapped to 2.
            await error.WriteLineAsync($"mw: {string.Join("; ", parsed.Errors.Select(e => e.Message))} (see mw --help)").ConfigureAwait(false);
            return ExitCodes.UsageOrStore;
        }

        try
        {
            var config = new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false };
            return await parsed.InvokeAsync(config, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (IsUserError(e))
        {
            await error.WriteLineAsync("mw: " + OneLine(e.Message)).ConfigureAwait(false);
            return ExitCodes.UsageOrStore;
        }
    }

    /// <summary>The root command with every subcommand.</summary>
    internal static RootCommand BuildRoot(CliContext cli)
    {
        var root = new RootCommand("mw: administer the components, logs, schema, sessions and cluster of a middleware log store.");
        root.Options.Add(CliOptions.Store);
        root.Options.Add(CliOptions.Json);
        root.Subcommands.Add(ComponentsCommands.Build(cli));
        root.Subcommands.Add(LogCommand.Build(cli));
        root.Subcommands.Add(StateCommand.Build(cli));
        root.Subcommands.Add(AuditCommand.Build(cli));
        root.Subcommands.Add(CheckpointCommand.Build(cli));
        root.Subcommands.Add(TruncateCommand.Build(cli));
        root.Subcommands.Add(DbCommands.Build(cli));
        root.Subcommands.Add(ClusterCommands.Build(cli));
        root.Subcommands.Add(SessionsCommands.Build(cli));
        root.Subcommands.Add(OutcomeCommand.Build(cli));
        root.Subcommands.Add(MoveCommand.Build(cli));
        root.Subcommands.Add(MirrorsCommand.Build(cli));
        foreach (var decision in DecisionCommands.Build(cli)) root.Subcommands.Add(decision);
        root.Subcommands.Add(DevCommands.Build(cli));
        return root;
    }

    private static bool IsUserError(Exception e) => e is AdminException or StoreUnavailableException or SchemaVersionException
        or StoreContractException or UnknownComponentException or ComponentDefinitionException or FormatException
        or InvalidDataException; // a record this build cannot decode: the decoder's message names the version

    private static string OneLine(string message) => message.ReplaceLineEndings(" ");
}
