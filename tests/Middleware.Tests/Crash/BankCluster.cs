using System.Data.Common;
using System.Globalization;
using Bank;
using Bank.Cluster;
using Bank.Demo;
using Microsoft.Data.Sqlite;
using Middleware.Client;
using Middleware.Recovery.Storage;
using Middleware.Recovery.Stores;
using Middleware.Tests.Silo;

namespace Middleware.Tests.Crash;

/// <summary>
/// Three silo processes of the Bank sample on one store (a new SQLite file, or the given PostgreSQL database) with the
/// sample's ledger back end (a <c>ledger.db</c> beside the SQLite file, or a table in the PostgreSQL database), a short
/// failure window, and what the crash tests need around them: kill several processes at once, restart silos under
/// the same ids, count the turns in doubt the silos completed (also those counted by silos that were killed since),
/// and read the store and the ledger. Disposing kills every silo and deletes the files.
/// </summary>
internal sealed class BankCluster : IAsyncDisposable
{
    /// <summary>The failure window of the silos.</summary>
    public const int DeadAfterMs = 1500;

    /// <summary>The silo metric that counts turns in doubt found by the sweep and completed.</summary>
    public const string InDoubtCompletedMetric = "middleware_in_doubt_completed_total";

    private readonly string? _directory;
    private double _completedByKilledSilos;

    private BankCluster(SiloLauncher launcher, string store, string? directory)
    {
        Launcher = launcher;
        Store = store;
        _directory = directory;
    }

    /// <summary>The silo processes.</summary>
    public SiloLauncher Launcher { get; }

    /// <summary>The store setting the silos share.</summary>
    public string Store { get; }

    /// <summary>The protocol addresses of the silos running now.</summary>
    public IReadOnlyList<string> Gateways => [.. Launcher.Running.Select(s => s.ProtocolAddress)];

    /// <summary>The silo ids <see cref="StartAsync"/> uses for <paramref name="idPrefix"/>: <c>PREFIX1..3</c>.</summary>
    public static IReadOnlyList<string> SiloIds(string idPrefix) => [.. Enumerable.Range(1, 3).Select(n => idPrefix + n.ToString(CultureInfo.InvariantCulture))];

    /// <summary>
    /// Creates the store's schema and the ledger table, then starts three silos (<see cref="SiloIds"/> of
    /// <paramref name="idPrefix"/>, a random one by default) with the ledger setting; <paramref name="siloEnvironment"/>
    /// adds variables to single silos by id, <paramref name="environment"/> to all of them; <paramref name="onOutput"/> sees
    /// every line they print.
    /// </summary>
    public static async Task<BankCluster> StartAsync(string? store = null, string? idPrefix = null,
        IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>>? siloEnvironment = null, Action<string, string>? onOutput = null,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        string? directory = null;
        if (store is null)
        {
            directory = Directory.CreateTempSubdirectory("mw-bank-").FullName;
            store = $"sqlite:{Path.Combine(directory, "middleware.db")}";
        }

        try
        {
            // The middleware's schema first: a new PostgreSQL database must get it before the ledger adds a table.
            await (await LogStores.OpenAsync(store)).DisposeAsync();
            var (ledger, _, _) = LedgerBackend.For(store);
            await using (ledger) await LedgerBackend.EnsureTableAsync(ledger);
            var ledgerSetting = directory is null ? store : "sqlite:" + LedgerBackend.SqlitePathFor(Path.Combine(directory, "middleware.db"));
            var launcher = await SiloLauncher.StartAsync(new SiloLaunchOptions
            {
                Store = store,
                Components = [SiloProcess.BankAssembly],
                ExtraArgs = ["--dead-after-ms", DeadAfterMs.ToString(CultureInfo.InvariantCulture)],
                Environment = new Dictionary<string, string>(environment ?? new Dictionary<string, string>()) { ["MIDDLEWARE_BACKEND_LEDGER"] = ledgerSetting },
                SiloEnvironment = siloEnvironment ?? new Dictionary<string, IReadOnlyDictionary<string, string>>(),
                IdPrefix = idPrefix ?? "s" + Guid.NewGuid().ToString("N")[..6] + "-",
                OnOutput = onOutput,
            });
            return new BankCluster(launcher, store, directory);
        }
        catch
        {
            DeleteDirectory(directory);
            throw;
        }
    }

    /// <summary>
    /// A client of the real SDK on <paramref name="gateways"/> (the running silos by default; with <paramref name="discover"/>
    /// false it never uses others), with retries generous enough for a takeover.
    /// </summary>
    public Task<MiddlewareClient> ConnectAsync(IEnumerable<string>? gateways = null, TimeSpan? attemptTimeout = null, bool discover = true) =>
        MiddlewareClient.ConnectAsync(new MiddlewareClientOptions
        {
            Gateways = [.. gateways ?? Gateways],
            DiscoverGateways = discover,
            AttemptTimeout = attemptTimeout ?? TimeSpan.FromSeconds(10),
            RequestTimeout = TimeSpan.FromSeconds(60),
            MaxAttempts = 40,
            RetryMaxDelay = TimeSpan.FromMilliseconds(500),
        });

    /// <summary>Opens the store as the admin tool would.</summary>
    public Task<ILogStore> OpenStoreAsync() => LogStores.OpenAsync(Store);

    /// <summary>The ledger's data source (dispose it).</summary>
    public DbDataSource OpenLedger() => LedgerBackend.For(Store).Source;

    /// <summary>The running silo that owns <paramref name="component"/> according to the store, or null.</summary>
    public async Task<LaunchedSilo?> OwnerOfAsync(string component)
    {
        await using var store = await OpenStoreAsync();
        var owner = (await store.GetHeadAsync(component))?.Owner;
        return Launcher.Running.FirstOrDefault(s => s.Id == owner);
    }

    /// <summary>The component of type <paramref name="type"/> with the longest log, and its owner (store owner column).</summary>
    public async Task<(string Component, LaunchedSilo? Owner)> BusiestAsync(string type)
    {
        await using var store = await OpenStoreAsync();
        var busiest = (await store.ListComponentsAsync())
            .Where(h => h.ComponentId.StartsWith(type + "/", StringComparison.Ordinal))
            .MaxBy(h => h.LastSeq) ?? throw new InvalidOperationException($"No {type} component in the store yet.");
        return (busiest.ComponentId, Launcher.Running.FirstOrDefault(s => s.Id == busiest.Owner));
    }

    /// <summary>
    /// SIGKILLs <paramref name="silos"/> and <paramref name="client"/> back to back (no await in between), then waits until
    /// the silos are gone. Their metrics are read first: a killed silo's count of completed turns in doubt dies with it.
    /// </summary>
    public async Task KillTogetherAsync(IReadOnlyList<LaunchedSilo> silos, ClientProcess? client)
    {
        foreach (var silo in silos) _completedByKilledSilos += Metric(await silo.ReadMetricsAsync(), InDoubtCompletedMetric);
        client?.Kill();
        foreach (var silo in silos) silo.Kill();
        await Task.WhenAll(silos.Select(s => s.WaitForExitAsync()));
    }

    /// <summary>Starts the silos with these ids again (same ids, new ports) and waits until they listen.</summary>
    public Task RestartAsync(IEnumerable<string> siloIds) => Task.WhenAll(siloIds.Select(id => Launcher.StartSiloAsync(id)));

    /// <summary>Turns in doubt the silos' sweeps completed so far: the running silos' counters plus those of the silos killed before.</summary>
    public async Task<double> InDoubtCompletedAsync()
    {
        var running = await Task.WhenAll(Launcher.Running.Select(s => s.ReadMetricsAsync()));
        return _completedByKilledSilos + running.Sum(m => Metric(m, InDoubtCompletedMetric));
    }

    /// <summary>Each account's balance and each teller's transfer count, as the cluster reports them to a new client.</summary>
    public async Task<ClusterReport> ReportAsync(IReadOnlyList<string> accounts, IReadOnlyList<string> tellers)
    {
        await using var client = await ConnectAsync();
        var balances = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var account in accounts) balances[account] = await client.GetComponent<IAccount>(account).Balance();
        var transfers = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var teller in tellers) transfers[teller] = (await client.GetComponent<ITeller>(teller).Totals()).Transfers;
        return new ClusterReport(balances, transfers);
    }

    /// <summary>Waits until the cluster settled and audits it (see <see cref="BankSnapshot"/> and <see cref="BankAudit"/>).</summary>
    public async Task<BankAuditReport> SettleAndAuditAsync(IReadOnlyCollection<ClientAck> acks, TimeSpan patience)
    {
        await using var store = await OpenStoreAsync();
        await using var ledger = OpenLedger();
        var snapshot = await BankSnapshot.SettleAndTakeAsync(store, ledger, ReportAsync, patience);
        return BankAudit.Run(snapshot, acks);
    }

    public async ValueTask DisposeAsync()
    {
        await Launcher.DisposeAsync();
        DeleteDirectory(_directory);
    }

    private static double Metric(IReadOnlyDictionary<string, double> metrics, string name) => metrics.GetValueOrDefault(name);

    private static void DeleteDirectory(string? directory)
    {
        if (directory is null) return;
        // This process's pooled connections would keep the ledger file open.
        SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
            // A file still held by a dying process; the temp directory is cleaned by the OS eventually.
        }
    }
}
