using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace Middleware.Tests.Support;

/// <summary>
/// A throwaway PostgreSQL cluster for the tests, started once per test process on first use: a temp directory
/// owned by the <c>postgres</c> user (initdb refuses to run as root), a free loopback port, <c>fsync=on</c> and
/// <c>synchronous_commit=on</c> as in production, trust authentication (it listens on 127.0.0.1 only, with its
/// unix socket inside the temp directory). It is stopped (<c>pg_ctl stop -m immediate</c>) and deleted when the
/// test process exits. Each test gets its own database from <see cref="CreateDatabaseAsync"/>; a test that stops and
/// restarts the server gets a cluster of its own (<see cref="StartPrivateAsync"/>).
/// </summary>
public sealed class PostgresServer
{
    /// <summary>Set to 1 to skip the PostgreSQL tests (printed as the skip reason) instead of failing them.</summary>
    public const string SkipVariable = "MIDDLEWARE_SKIP_POSTGRES";

    private const string InstallHint =
        "Install it with 'apt-get update && apt-get install -y postgresql' (the tests start their own throwaway cluster; no service is needed), " +
        $"or set {SkipVariable}=1 to skip the PostgreSQL tests.";

    private static readonly Lazy<Task<PostgresServer>> Shared = new(StartAsync, LazyThreadSafetyMode.ExecutionAndPublication);
    private readonly string _directory;
    private readonly string _binDirectory;

    private PostgresServer(string directory, string binDirectory, int port)
    {
        _directory = directory;
        _binDirectory = binDirectory;
        Port = port;
    }

    /// <summary>The skip reason when <see cref="SkipVariable"/> is 1, else null (then a missing PostgreSQL fails the tests).</summary>
    public static string? SkipReason => Environment.GetEnvironmentVariable(SkipVariable) == "1"
        ? $"{SkipVariable}=1: the PostgreSQL tests are skipped. Unset it to run them (they need 'apt-get install -y postgresql')."
        : null;

    /// <summary>The loopback port the cluster listens on.</summary>
    public int Port { get; }

    /// <summary>The shared cluster, started on the first call; throws naming the fix when PostgreSQL is not installed.</summary>
    public static Task<PostgresServer> GetAsync() => Shared.Value;

    /// <summary>
    /// A cluster of the calling test's own, for tests that stop and restart the server (the shared one must never stop
    /// under the other tests). Same settings, its own directory, port and clean-up watchdog; disposing deletes it.
    /// </summary>
    public static async Task<PrivatePostgresServer> StartPrivateAsync() => new(await StartAsync());

    /// <summary>The connection string of <paramref name="database"/> on this cluster.</summary>
    public string ConnectionString(string database) =>
        new NpgsqlConnectionStringBuilder { Host = "127.0.0.1", Port = Port, Username = "postgres", Database = database, Timeout = 30 }.ConnectionString;

    /// <summary>Creates a new, empty database and returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync()
    {
        var name = "t_" + Guid.NewGuid().ToString("N");
        await using var connection = new NpgsqlConnection(ConnectionString("postgres"));
        await connection.OpenAsync();
        await using var create = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
        await create.ExecuteNonQueryAsync();
        return ConnectionString(name);
    }

    /// <summary>Runs one statement on the database of <paramref name="connectionString"/> (test set-up and inspection).</summary>
    public static async Task<object?> ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync();
    }

    /// <summary>A loopback port nothing listens on right now (for "unreachable server" tests and for the cluster).</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task<PostgresServer> StartAsync()
    {
        var bin = FindBinDirectory();
        var directory = Path.Combine(Path.GetTempPath(), "mw-pg-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var server = new PostgresServer(directory, bin, FreePort());
        try
        {
            if (RunningAsRoot) await RunAsync("chown", ["-R", "postgres:postgres", directory], asPostgres: false);
            var data = Path.Combine(directory, "data");
            // --no-sync only skips syncing initdb's own files (a throwaway cluster); the server itself runs with fsync=on.
            await server.RunPgAsync("initdb", ["-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"]);
            await File.AppendAllTextAsync(Path.Combine(data, "postgresql.conf"),
                $"""

                listen_addresses = '127.0.0.1'
                port = {server.Port}
                unix_socket_directories = '{directory}'
                fsync = on
                synchronous_commit = on
                max_connections = 300
                """);
            await server.RunPgAsync("pg_ctl", ["-D", data, "-l", Path.Combine(directory, "server.log"), "-w", "-t", "60", "start"]);
            server.StartWatchdog();
            AppDomain.CurrentDomain.ProcessExit += (_, _) => server.StopAndDelete();
            return server;
        }
        catch
        {
            server.StopAndDelete();
            throw;
        }
    }

    /// <summary>
    /// Starts a detached shell that waits for this test process to end, however it ends (the test host may be
    /// killed before ProcessExit handlers finish), then stops the cluster and deletes its directory.
    /// </summary>
    private void StartWatchdog()
    {
        const string script =
            "while kill -0 \"$1\" 2>/dev/null; do sleep 0.5; done; " +
            "if [ \"$5\" = root ]; then runuser -u postgres -- \"$2\" -D \"$3\" -m immediate -w stop; else \"$2\" -D \"$3\" -m immediate -w stop; fi >/dev/null 2>&1; " +
            "rm -rf \"$4\"";
        var info = new ProcessStartInfo("setsid") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "sh", "-c", script, "mw-pg-watchdog", Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture),
                     Path.Combine(_binDirectory, "pg_ctl"), Path.Combine(_directory, "data"), _directory, RunningAsRoot ? "root" : "user" })
        {
            info.ArgumentList.Add(a);
        }

        using var watchdog = Process.Start(info) ?? throw new InvalidOperationException("Could not start the PostgreSQL clean-up watchdog (setsid sh).");
    }

    /// <summary><c>pg_ctl stop -m immediate</c>: the server processes quit without a checkpoint, as in a crash; the data stays.</summary>
    internal Task StopImmediateAsync() => RunPgAsync("pg_ctl", ["-D", Path.Combine(_directory, "data"), "-m", "immediate", "-w", "stop"]);

    /// <summary>Starts the stopped server again on the same data and port (it runs crash recovery first) and waits until it accepts connections.</summary>
    internal Task StartAgainAsync() =>
        RunPgAsync("pg_ctl", ["-D", Path.Combine(_directory, "data"), "-l", Path.Combine(_directory, "server.log"), "-w", "-t", "60", "start"]);

    /// <summary>Stops the cluster at once (its data is thrown away) and deletes the directory.</summary>
    internal void StopAndDelete()
    {
        var data = Path.Combine(_directory, "data");
        if (File.Exists(Path.Combine(data, "postmaster.pid")))
        {
            using var stop = Process.Start(StartInfo(Path.Combine(_binDirectory, "pg_ctl"), ["-D", data, "-m", "immediate", "-w", "stop"], RunningAsRoot));
            stop?.WaitForExit(30_000);
        }

        // The server's last child processes may still be closing files right after pg_ctl returns: retry briefly.
        for (var attempt = 1; Directory.Exists(_directory); attempt++)
        {
            try
            {
                Directory.Delete(_directory, recursive: true);
            }
            catch (IOException e) when (attempt < 10)
            {
                Thread.Sleep(100 * attempt);
                if (attempt == 9) Console.Error.WriteLine($"still deleting the test PostgreSQL directory {_directory}: {e.Message}");
            }
            catch (IOException e)
            {
                // Exiting must not fail over a leftover temp directory; say where it is.
                Console.Error.WriteLine($"could not delete the test PostgreSQL directory {_directory}: {e.Message}");
                return;
            }
        }
    }

    private Task RunPgAsync(string program, string[] args) => RunAsync(Path.Combine(_binDirectory, program), args, RunningAsRoot);

    private static async Task RunAsync(string program, string[] args, bool asPostgres)
    {
        using var process = Process.Start(StartInfo(program, args, asPostgres))
            ?? throw new InvalidOperationException($"Could not start {program}.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{program} {string.Join(' ', args)} failed with exit code {process.ExitCode}: {await stderr}{await stdout}");
    }

    private static ProcessStartInfo StartInfo(string program, string[] args, bool asPostgres)
    {
        var info = new ProcessStartInfo(asPostgres ? "runuser" : program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (asPostgres)
        {
            foreach (var a in new[] { "-u", "postgres", "--", program }) info.ArgumentList.Add(a);
        }

        foreach (var a in args) info.ArgumentList.Add(a);
        return info;
    }

    private static bool RunningAsRoot => Environment.UserName == "root";

    /// <summary>The newest /usr/lib/postgresql/N/bin with initdb and pg_ctl; throws the install hint when there is none.</summary>
    private static string FindBinDirectory()
    {
        const string root = "/usr/lib/postgresql";
        var found = Directory.Exists(root)
            ? Directory.GetDirectories(root)
                .Select(d => (Version: int.TryParse(Path.GetFileName(d), out var v) ? v : 0, Bin: Path.Combine(d, "bin")))
                .Where(x => File.Exists(Path.Combine(x.Bin, "initdb")) && File.Exists(Path.Combine(x.Bin, "pg_ctl")))
                .OrderByDescending(x => x.Version)
                .Select(x => x.Bin)
                .FirstOrDefault()
            : null;
        return found ?? throw new InvalidOperationException($"PostgreSQL server binaries (initdb, pg_ctl) were not found under {root}/*/bin. {InstallHint}");
    }
}

/// <summary>
/// A PostgreSQL cluster that belongs to one test (<see cref="PostgresServer.StartPrivateAsync"/>): it can be stopped the
/// hard way and started again under load. Disposing stops it and deletes its directory.
/// </summary>
public sealed class PrivatePostgresServer(PostgresServer server) : IAsyncDisposable
{
    /// <summary>The server, for connection strings and databases.</summary>
    public PostgresServer Server { get; } = server;

    /// <summary><c>pg_ctl stop -m immediate</c>: every connection drops and nothing is checkpointed, like a crash of the database.</summary>
    public Task StopImmediateAsync() => Server.StopImmediateAsync();

    /// <summary>Starts it again on the same data directory and port; returns once it accepts connections.</summary>
    public Task StartAgainAsync() => Server.StartAgainAsync();

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        Server.StopAndDelete();
        return ValueTask.CompletedTask;
    }
}
