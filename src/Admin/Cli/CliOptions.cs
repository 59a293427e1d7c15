using System.CommandLine;

namespace Middleware.Admin.Cli;

/// <summary>Options shared by several commands, defined once so their names and help never drift apart.</summary>
internal static class CliOptions
{
    /// <summary>The environment variable read when <c>--store</c> is not given.</summary>
    public const string StoreVariable = "MIDDLEWARE_STORE";

    /// <summary><c>--store sqlite:PATH</c>, on every command.</summary>
    public static readonly Option<string?> Store = new("--store")
    {
        Description = $"The log store, e.g. sqlite:./data/bank.db (default: ${StoreVariable}).",
        Recursive = true,
    };

    /// <summary><c>--json</c>: machine-readable output with the shapes documented in docs/admin.md.</summary>
    public static readonly Option<bool> Json = new("--json")
    {
        Description = "Write JSON to stdout instead of tables (shapes documented in docs/admin.md).",
        Recursive = true,
    };

    /// <summary><c>--verbose</c>: after the one-line error of an unexpected failure, its stack trace.</summary>
    public static readonly Option<bool> Verbose = new("--verbose")
    {
        Description = "On an unexpected failure, print its details (stack trace) after the one-line error (also: MIDDLEWARE_DEBUG=1).",
        Recursive = true,
    };

    /// <summary><c>--components PATH</c>: the application's component assembly.</summary>
    public static Option<string> Components() => new("--components")
    {
        Description = "Path of the application's component assembly (e.g. samples/Bank/bin/Debug/net10.0/Bank.dll).",
        Required = true,
    };

    /// <summary>The environment variable read when <c>--cluster-key</c> is not given.</summary>
    public const string ClusterKeyVariable = "MIDDLEWARE_CLUSTER_KEY";

    /// <summary><c>--cluster-key KEY</c>: on commands that contact a silo (the key its handshake requires, if any).</summary>
    public static Option<string?> ClusterKey() => new("--cluster-key")
    {
        Description = $"The cluster key the silos require in the handshake (default: ${ClusterKeyVariable}; none when unset).",
    };

    /// <summary>The component id argument, <c>Type/key</c>.</summary>
    public static Argument<string> ComponentId() => new("id") { Description = "The component id, Type/key (e.g. Account/acct-07)." };
}
