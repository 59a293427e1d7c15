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

    /// <summary>The environment variable of the cluster's shared key, read when no admin key is given.</summary>
    public const string ClusterKeyVariable = "MIDDLEWARE_CLUSTER_KEY";

    /// <summary>The environment variable naming a file that holds the cluster's shared key.</summary>
    public const string ClusterKeyFileVariable = "MIDDLEWARE_CLUSTER_KEY_FILE";

    /// <summary>The environment variable of the admin key.</summary>
    public const string AdminKeyVariable = "MIDDLEWARE_ADMIN_KEY";

    /// <summary>The environment variable naming a file that holds the admin key (the form to prefer).</summary>
    public const string AdminKeyFileVariable = "MIDDLEWARE_ADMIN_KEY_FILE";

    /// <summary>
    /// <c>--cluster-key KEY</c>: on commands that contact a silo, the cluster's shared key (legacy form; a key on the
    /// command line is readable by every user of the machine: prefer <c>--admin-key-file</c>).
    /// </summary>
    public static Option<string?> ClusterKey() => new("--cluster-key")
    {
        Description = $"The cluster's shared key, when the silos use one key for every role (prefer --admin-key-file or ${AdminKeyFileVariable}: a command line is visible to other users).",
    };

    /// <summary><c>--admin-key-file PATH</c>: on commands that contact a silo, a file holding the admin key the silos require.</summary>
    public static Option<string?> AdminKeyFile() => new("--admin-key-file")
    {
        Description = $"A file holding the admin key the silos require (default: ${AdminKeyFileVariable}, ${AdminKeyVariable}, then the cluster key from ${ClusterKeyFileVariable} or ${ClusterKeyVariable}; none when unset).",
    };

    /// <summary>The component id argument, <c>Type/key</c>.</summary>
    public static Argument<string> ComponentId() => new("id") { Description = "The component id, Type/key (e.g. Account/acct-07)." };
}
