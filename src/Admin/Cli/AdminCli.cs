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
    /// <summary>The environment variable that shows the details of an unexpected failure, like <c>--verbose</c>.</summary>
    public const string DebugVariable = "MIDDLEWARE_DEBUG";

    /// <summary>
    /// Parses and runs one command line; returns the exit code (see <see cref="ExitCodes"/>). Whatever happens, a failure
    /// is one <c>mw: ...</c> line on <paramref name="error"/>: exit 2 for what the user can fix (arguments, the store, an
    /// id), exit 1 for anything unexpected, whose stack trace follows only with <c>--verbose</c> or <c>MIDDLEWARE_DEBUG=1</c>.
    /// </summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(error);
        try
        {
            var cli = new CliContext(output, error);
            var root = BuildRoot(cli);
            var parsed = root.Parse(args);
            if (parsed.Errors.Count > 0)
            {
                // System.CommandLine would exit 1 on a parse error; 1 means divergence here, so usage errors are mapped to 2.
                await WriteErrorAsync(error, $"{string.Join("; ", parsed.Errors.Select(e => e.Message))} (see mw --help)").ConfigureAwait(false);
                return ExitCodes.UsageOrStore;
            }

            var config = new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false };
            return await parsed.InvokeAsync(config, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (IsUserError(e))
        {
            await WriteErrorAsync(error, e.Message).ConfigureAwait(false);
            return ExitCodes.UsageOrStore;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await WriteErrorAsync(error, "cancelled; nothing after the interruption was done").ConfigureAwait(false);
            return ExitCodes.Divergence;
        }
        catch (Exception e)
        {
            var verbose = Verbose(args);
            var hint = verbose ? "" : $" (run it again with --verbose, or {DebugVariable}=1, for the details)";
            await WriteErrorAsync(error, $"unexpected error: {e.GetType().Name}: {e.Message.Trim()}{hint}").ConfigureAwait(false);
            if (verbose) await TryWriteAsync(error, e.ToString()).ConfigureAwait(false);
            return ExitCodes.Divergence;
        }
    }

    /// <summary>The root command with every subcommand.</summary>
    internal static RootCommand BuildRoot(CliContext cli)
    {
        var root = new RootCommand("mw: administer the components, logs, schema, sessions and cluster of a middleware log store.");
        root.Options.Add(CliOptions.Store);
        root.Options.Add(CliOptions.Json);
        root.Options.Add(CliOptions.Verbose);
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
        root.Subcommands.Add(DashboardCommand.Build(cli));
        foreach (var decision in DecisionCommands.Build(cli)) root.Subcommands.Add(decision);
        root.Subcommands.Add(DevCommands.Build(cli));
        return root;
    }

    /// <summary>Writes <c>mw: MESSAGE</c> as one line, its control characters escaped (a message may quote ids and keys).</summary>
    internal static Task WriteErrorAsync(TextWriter error, string message) => TryWriteAsync(error, "mw: " + Printable.Escape(message.Trim()));

    /// <summary>Whether the details of an unexpected failure are wanted: <c>--verbose</c> anywhere, or the environment.</summary>
    private static bool Verbose(string[] args) =>
        args.Contains(CliOptions.Verbose.Name) || Environment.GetEnvironmentVariable(DebugVariable) is "1" or "true" or "TRUE" or "True";

    private static async Task TryWriteAsync(TextWriter error, string text)
    {
        try
        {
            await error.WriteLineAsync(text).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // stderr itself is gone (a closed pipe): the exit code is all that is left to say it.
        }
    }

    private static bool IsUserError(Exception e) => e is AdminException or StoreUnavailableException or SchemaVersionException
        or Middleware.Inspection.InspectionException or StoreContractException or UnknownComponentException or ComponentDefinitionException or FormatException
        or InvalidDataException // a record this build cannot decode: the decoder's message names the version
        or CorruptRecordException; // a record that fails its checksum: the message names component, seq, store and the fix

    private static string OneLine(string message) => message.ReplaceLineEndings(" ");
}
