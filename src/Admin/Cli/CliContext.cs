using System.CommandLine;
using System.Text.Json;
using Middleware.Admin.Output;
using Middleware.Admin.Stores;
using Middleware.Recovery.Storage;
using Spectre.Console;

namespace Middleware.Admin.Cli;

/// <summary>What every command needs from the invocation: its writers, the store, and the output mode.</summary>
internal sealed class CliContext(TextWriter output, TextWriter error)
{
    /// <summary>stdout: tables for people, or one JSON document.</summary>
    public TextWriter Output { get; } = output;

    /// <summary>stderr: error lines and the audit progress bar.</summary>
    public TextWriter Error { get; } = error;

    /// <summary>True when the output goes to a real terminal (colours, progress bar), not a pipe or a test's writer.</summary>
    public bool ErrorIsTerminal => ReferenceEquals(Error, Console.Error) && !Console.IsErrorRedirected;

    /// <summary>Whether <c>--json</c> was given.</summary>
    public static bool Json(ParseResult parse) => parse.GetValue(CliOptions.Json);

    /// <summary>A Spectre console on <see cref="Output"/>; plain text and a wide fixed width unless it is a terminal.</summary>
    public IAnsiConsole Tables()
    {
        var terminal = ReferenceEquals(Output, Console.Out) && !Console.IsOutputRedirected;
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(Output),
            Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = terminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        if (!terminal) console.Profile.Width = 160;
        return console;
    }

    /// <summary>A Spectre console on stderr for the progress bar, or null when stderr is not an interactive terminal.</summary>
    public IAnsiConsole? Progress() => ErrorIsTerminal
        ? AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Error), Interactive = InteractionSupport.Yes })
        : null;

    /// <summary>Writes one JSON document (indented, camelCase as declared on the shapes) to stdout.</summary>
    public void WriteJson<T>(T document)
    {
        Output.WriteLine(JsonSerializer.Serialize(document, JsonShapes.Options));
    }

    /// <summary>
    /// Opens the store named by <c>--store</c> or <c>MIDDLEWARE_STORE</c>, read-only unless <paramref name="write"/> (a
    /// command that claims, checkpoints, truncates or records) or <paramref name="create"/>; see <see cref="StoreConnection"/>.
    /// </summary>
    public Task<ILogStore> OpenStoreAsync(ParseResult parse, bool create = false, int readers = 4, bool write = false) =>
        StoreConnection.OpenAsync(StoreText(parse), write || create ? StoreAccess.ReadWrite : StoreAccess.ReadOnly, create, readers);

    /// <summary>
    /// Opens the store and checks that it keeps the cluster tables (silos, ownership by silo, sessions): the object
    /// returned implements <see cref="IClusterStore"/> (see <see cref="Cluster"/>). A store that does not is refused
    /// with one line.
    /// </summary>
    public async Task<ILogStore> OpenClusterStoreAsync(ParseResult parse, bool write = false)
    {
        var store = await OpenStoreAsync(parse, write: write).ConfigureAwait(false);
        if (store is IClusterStore) return store;
        await store.DisposeAsync().ConfigureAwait(false);
        throw new AdminException(new ClusterNotSupportedException(store.Name).Message);
    }

    /// <summary>The cluster tables of a store opened with <see cref="OpenClusterStoreAsync"/>.</summary>
    public static IClusterStore Cluster(ILogStore store) =>
        store as IClusterStore ?? throw new AdminException(new ClusterNotSupportedException(store.Name).Message);

    /// <summary>
    /// The key the tool proves as the admin: <c>--admin-key-file</c>, <c>--cluster-key</c>, then the environment
    /// (admin key file, admin key, cluster key file, cluster key); null when none is set.
    /// </summary>
    public static string? AdminKey(ParseResult parse, Option<string?> clusterKey, Option<string?> adminKeyFile)
    {
        if (parse.GetValue(adminKeyFile) is { Length: > 0 } file) return ReadKeyFile(file, "--admin-key-file");
        if (parse.GetValue(clusterKey) is { Length: > 0 } key) return key;
        if (Environment.GetEnvironmentVariable(CliOptions.AdminKeyFileVariable) is { Length: > 0 } adminFile) return ReadKeyFile(adminFile, CliOptions.AdminKeyFileVariable);
        if (Environment.GetEnvironmentVariable(CliOptions.AdminKeyVariable) is { Length: > 0 } admin) return admin;
        if (Environment.GetEnvironmentVariable(CliOptions.ClusterKeyFileVariable) is { Length: > 0 } clusterFile) return ReadKeyFile(clusterFile, CliOptions.ClusterKeyFileVariable);
        return Environment.GetEnvironmentVariable(CliOptions.ClusterKeyVariable) is { Length: > 0 } cluster ? cluster : null;
    }

    /// <summary>How the tool asks silos over the protocol: as the admin, with <see cref="AdminKey"/> and the TLS options.</summary>
    public static Middleware.Inspection.SiloAsking Asking(ParseResult parse, Option<string?> clusterKey, Option<string?> adminKeyFile, TlsCliOptions tls) =>
        new("mw", Protocol.PeerRole.Admin, AdminKey(parse, clusterKey, adminKeyFile), tls.Read(parse),
            $"give the admin key with --admin-key-file FILE or {CliOptions.AdminKeyFileVariable}");

    private static string ReadKeyFile(string path, string setting)
    {
        string text;
        try
        {
            text = File.ReadAllText(path).TrimEnd('\n', '\r');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new AdminException($"{setting} names '{path}', which cannot be read ({e.Message}); give the path of a file holding the admin key.");
        }

        return text.Length > 0 ? text : throw new AdminException($"{setting} names '{path}', which is empty; write the admin key into it.");
    }

    /// <summary>The store string given, or the environment's.</summary>
    public static string? StoreText(ParseResult parse) =>
        parse.GetValue(CliOptions.Store) ?? Environment.GetEnvironmentVariable(CliOptions.StoreVariable);
}
