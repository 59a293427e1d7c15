using Bank;
using Middleware.Client;
using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;
using Middleware.Recovery.Stores;
using Middleware.Tests.Silo;

namespace Middleware.Tests.Cluster;

/// <summary>
/// Three real silo processes on one store (SQLite unless told otherwise), with short failure windows so takeovers
/// happen within a test's patience, and clients of the real SDK. Disposing kills whatever is left and deletes the files.
/// </summary>
internal sealed class ClusterFixture : IAsyncDisposable
{
    /// <summary>The failure window the silos run with.</summary>
    public const int DeadAfterMs = 1500;

    private readonly string? _directory;
    private readonly List<SiloProcess> _silos = [];

    private ClusterFixture(string store, string? directory)
    {
        Store = store;
        _directory = directory;
    }

    public string Store { get; }

    public IReadOnlyList<SiloProcess> Silos => _silos;

    /// <summary>Starts <paramref name="count"/> silos (ids <c>PREFIX-1..N</c>) on a new SQLite file or on <paramref name="store"/>.</summary>
    public static async Task<ClusterFixture> StartAsync(int count = 3, string? store = null, params string[] extra)
    {
        string? directory = null;
        if (store is null)
        {
            directory = Directory.CreateTempSubdirectory("mw-cluster-").FullName;
            store = $"sqlite:{Path.Combine(directory, "middleware.db")}";
        }

        var fixture = new ClusterFixture(store, directory);
        var prefix = "s" + Guid.NewGuid().ToString("N")[..6];
        try
        {
            // One at a time: the first creates the schema, the others find it.
            for (var i = 1; i <= count; i++)
                await fixture.StartSiloAsync($"{prefix}-{i}", extra);

            // Every silo sees every other before the test places anything: a silo that has not seen a later one yet
            // places new components on itself, and its rebalancer then moves them to their rendezvous owner while the test
            // looks (two CI runs failed on such a move).
            if (count > 1) await fixture.WaitAllSeeEachOtherAsync();
        }
        catch
        {
            await fixture.DisposeAsync();
            throw;
        }

        return fixture;
    }

    /// <summary>Starts one more silo of this cluster (or a restart under an old id) with the fixture's settings and <paramref name="extra"/>.</summary>
    public Task<SiloProcess> StartSiloAsync(string siloId, params string[] extra) => StartSiloAsync(siloId, null, extra);

    /// <summary>As <see cref="StartSiloAsync(string, string[])"/>, with environment variables for the child (a fault point, say).</summary>
    public async Task<SiloProcess> StartSiloAsync(string siloId, IDictionary<string, string>? environment, params string[] extra)
    {
        string[] deadAfter = extra.Contains("--dead-after-ms") ? [] : ["--dead-after-ms", DeadAfterMs.ToString(System.Globalization.CultureInfo.InvariantCulture)];
        var silo = await SiloProcess.StartAsync(Store, environment, ["--silo-id", siloId, .. deadAfter, .. extra]);
        if (!_silos.Contains(silo)) _silos.Add(silo);
        return silo;
    }

    /// <summary>Waits until every silo of the fixture counts all of them live (<c>middleware_silo_live_silos</c>).</summary>
    public async Task WaitAllSeeEachOtherAsync()
    {
        foreach (var silo in _silos)
            await silo.WaitForMetricAsync("middleware_silo_live_silos", _silos.Count, TimeSpan.FromSeconds(30));
    }

    /// <summary>A client of the real SDK on the given silos (all by default), with retries generous enough for a takeover.</summary>
    public Task<MiddlewareClient> ConnectAsync(IEnumerable<SiloProcess>? gateways = null, string? sessionId = null, TimeSpan? attemptTimeout = null, bool discover = true) =>
        MiddlewareClient.ConnectAsync(new MiddlewareClientOptions
        {
            Gateways = (gateways ?? _silos).Select(s => s.Address).ToList(),
            SessionId = sessionId,
            DiscoverGateways = discover,
            AttemptTimeout = attemptTimeout ?? TimeSpan.FromSeconds(10),
            RequestTimeout = TimeSpan.FromSeconds(60),
            MaxAttempts = 40,
            RetryMaxDelay = TimeSpan.FromMilliseconds(500),
        });

    /// <summary>Opens the store as the admin tool would, for reading heads and logs.</summary>
    public Task<ILogStore> OpenStoreAsync() => LogStores.OpenAsync(Store);

    /// <summary>The silo that owns <paramref name="component"/> according to the store, or null.</summary>
    public async Task<SiloProcess?> OwnerOfAsync(string component)
    {
        await using var store = await OpenStoreAsync();
        var head = await store.GetHeadAsync(component);
        return _silos.FirstOrDefault(s => s.SiloId == head?.Owner);
    }

    /// <summary>The head of <paramref name="component"/>.</summary>
    public async Task<ComponentHead?> HeadOfAsync(string component)
    {
        await using var store = await OpenStoreAsync();
        return await store.GetHeadAsync(component);
    }

    /// <summary>
    /// SIGSTOPs <paramref name="silo"/> at a moment it holds no store lock. A process frozen inside a store transaction
    /// keeps the lock for the whole pause: on SQLite the file's write lock, so no other silo can heartbeat, declare it
    /// dead or claim anything until it resumes (a limit of sharing one SQLite file; PostgreSQL ends such a transaction
    /// after 5 s, see PostgresLogStore). The probe is a store write (listing marks expired silos dead); if it does
    /// not succeed within a second the silo is resumed and paused again.
    /// </summary>
    public async Task PauseOutsideAStoreTransactionAsync(SiloProcess silo)
    {
        await using var store = await OpenStoreAsync();
        for (var attempt = 1; ; attempt++)
        {
            silo.Pause();
            // kill(SIGSTOP) returns before every thread has stopped: a thread could still take the lock after the probe.
            await WaitUntilStoppedAsync(silo);
            // On its own thread: the SQLite store writes on the caller's thread, so ListSilosAsync returned only after its
            // whole busy timeout (5 s) with the silo frozen holding the lock, and the second given here never applied; its
            // "database is locked" then escaped with the silo left frozen (two tests failed so in one stress round at load 30-60).
            var probe = Task.Run(() => ((IClusterStore)store).ListSilosAsync());
            if (await Task.WhenAny(probe, Task.Delay(1000)) == probe && probe.IsCompletedSuccessfully) return;

            silo.Resume();
            try
            {
                await probe;
            }
            catch (StoreUnavailableException)
            {
                // The frozen silo held the lock (or the probe lost the race to the running silos' writers) for the
                // probe's whole busy timeout: try again.
            }

            // A loaded box can make the probe miss its second without any lock held by the frozen silo: a few more tries.
            if (attempt >= 20) throw new TimeoutException($"{silo.SiloId} held a store lock at each of {attempt} pauses.");
            await Task.Delay(20 * Math.Min(attempt, 10));
        }
    }

    /// <summary>Waits (up to a second) until the kernel reports <paramref name="silo"/>'s process stopped (state T in /proc).</summary>
    private static async Task WaitUntilStoppedAsync(SiloProcess silo)
    {
        for (var i = 0; i < 100; i++)
        {
            try
            {
                var stat = await File.ReadAllTextAsync($"/proc/{silo.Pid}/stat");
                var state = stat[(stat.LastIndexOf(')') + 2)..].FirstOrDefault();
                if (state is 'T' or 't') return;
            }
            catch (IOException)
            {
                return; // gone
            }

            await Task.Delay(10);
        }
    }

    /// <summary>
    /// SIGSTOPs <paramref name="silo"/> at a moment it holds the SQLite file's write lock (inside a write transaction),
    /// so every other silo's heartbeats, claims and appends block for the whole pause. Works only on a SQLite store and
    /// needs the silo to be writing (put it under load first). The probe tries to start a write transaction with a
    /// short busy timeout, twice: with the silo frozen, only it can hold the lock that long, since the others' write
    /// transactions last milliseconds. If the probe gets the lock, the silo is resumed and paused again.
    /// </summary>
    public async Task PauseHoldingTheWriteLockAsync(SiloProcess silo)
    {
        if (!Store.StartsWith("sqlite:", StringComparison.Ordinal)) throw new InvalidOperationException($"Only a SQLite store has a file write lock to hold; this cluster runs on {Store}.");
        var path = Store["sqlite:".Length..];
        for (var attempt = 1; ; attempt++)
        {
            silo.Pause();
            if (await Task.Run(() => WriteLockBusy(path)) && await Task.Run(() => WriteLockBusy(path))) return;
            silo.Resume();
            if (attempt >= 100) throw new TimeoutException($"{silo.SiloId} was outside a write transaction at each of {attempt} pauses; is it under write load?");
            await Task.Delay(Random.Shared.Next(1, 25)); // let it run on to another point of its work before the next try
        }
    }

    /// <summary>True when a write transaction on <paramref name="path"/> could not start within 250 ms.</summary>
    private static bool WriteLockBusy(string path)
    {
        try
        {
            using var db = Middleware.Recovery.Sqlite.SqliteDb.Open(path, create: false, TimeSpan.FromMilliseconds(250));
            db.Exec("BEGIN IMMEDIATE");
            db.Exec("ROLLBACK");
            return false;
        }
        catch (Middleware.Recovery.Sqlite.SqliteCallException e) when ((e.ResultCode & 0xff) == 5)
        {
            return true; // SQLITE_BUSY
        }
    }

    /// <summary>The store's view of the silos.</summary>
    public async Task<IReadOnlyList<SiloEntry>> SilosAsync()
    {
        await using var store = await OpenStoreAsync();
        return await ((IClusterStore)store).ListSilosAsync();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var silo in _silos)
        {
            try
            {
                silo.Resume(); // a paused process cannot be killed cleanly by WaitForExit otherwise
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }

            await silo.DisposeAsync();
        }

        if (_directory is not null)
        {
            try
            {
                Directory.Delete(_directory, recursive: true);
            }
            catch (IOException)
            {
                // A file still held by a dying process; the temp directory is cleaned by the OS eventually.
            }
        }
    }
}
