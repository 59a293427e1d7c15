using System.Diagnostics;

namespace Bank.Cluster;

/// <summary>
/// Starts a cluster of silo processes on one store and keeps hold of them: the first silo alone (it creates or migrates
/// the store's schema), then the others at once; each is ready when it printed its listening line. Disposing kills every
/// silo still running. Used by the Bank demo and the cluster benchmark.
/// </summary>
/// <example>
/// <code>
/// await using var cluster = await SiloLauncher.StartAsync(new SiloLaunchOptions
/// {
///     Store = "sqlite:/tmp/bank.db",
///     Count = 3,
///     Components = [SiloBuild.LocateBankComponents()],
///     Environment = new Dictionary&lt;string, string&gt; { ["MIDDLEWARE_BACKEND_LEDGER"] = "sqlite:/tmp/ledger.db" },
/// });
/// await cluster.WaitForMembershipAsync(TimeSpan.FromSeconds(10));
/// // cluster.Gateways: ["127.0.0.1:40123", ...];  cluster["silo-2"].Kill();
/// </code>
/// </example>
public sealed class SiloLauncher : IAsyncDisposable
{
    private readonly SiloLaunchOptions _options;
    private readonly string _dotnet;
    private readonly string _dll;
    private readonly List<LaunchedSilo> _silos = [];

    private SiloLauncher(SiloLaunchOptions options, string dotnet, string dll)
    {
        _options = options;
        _dotnet = dotnet;
        _dll = dll;
    }

    /// <summary>Every silo started, in id order (killed and stopped ones included).</summary>
    public IReadOnlyList<LaunchedSilo> Silos
    {
        get
        {
            lock (_silos) return [.. _silos];
        }
    }

    /// <summary>The silos whose process still runs.</summary>
    public IReadOnlyList<LaunchedSilo> Running => [.. Silos.Where(s => !s.HasExited)];

    /// <summary>The protocol addresses (<c>host:port</c>) of every silo started, for <c>MiddlewareClientOptions.Gateways</c>.</summary>
    public IReadOnlyList<string> Gateways => [.. Silos.Select(s => s.ProtocolAddress)];

    /// <summary>The silo dll that runs.</summary>
    public string SiloDll => _dll;

    /// <summary>The silo with id <paramref name="siloId"/>; throws <see cref="KeyNotFoundException"/> naming the ids there are.</summary>
    public LaunchedSilo this[string siloId] =>
        Silos.FirstOrDefault(s => s.Id == siloId)
        ?? throw new KeyNotFoundException($"No silo '{siloId}' was started here; the silos are {string.Join(", ", Silos.Select(s => s.Id))}.");

    /// <summary>
    /// Starts <see cref="SiloLaunchOptions.Count"/> silos and waits until each printed its listening line. On any failure
    /// the silos already started are killed and <see cref="SiloStartException"/> carries the failing silo's output.
    /// </summary>
    public static async Task<SiloLauncher> StartAsync(SiloLaunchOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var launcher = new SiloLauncher(options, SiloBuild.LocateDotnet(), options.SiloDll ?? SiloBuild.LocateDll());
        try
        {
            // The first silo alone: opening a new store creates its schema, which concurrent first opens would race on.
            await launcher.StartSiloAsync(options.IdPrefix + "1", cancellationToken).ConfigureAwait(false);
            await Task.WhenAll(Enumerable.Range(2, options.Count - 1)
                .Select(n => launcher.StartSiloAsync(options.IdPrefix + n, cancellationToken))).ConfigureAwait(false);
            return launcher;
        }
        catch
        {
            await launcher.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Starts one more silo (a new id, or the id of one that was killed, to restart it) and waits until it listens.</summary>
    public async Task<LaunchedSilo> StartSiloAsync(string siloId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(siloId);
        lock (_silos)
        {
            if (_silos.Any(s => s.Id == siloId && !s.HasExited))
                throw new InvalidOperationException($"Silo {siloId} is already running; kill or stop it before starting it again.");
        }

        var silo = LaunchedSilo.Start(siloId, _dotnet, _dll, _options.ArgumentsFor(siloId), _options.EnvironmentFor(siloId), _options.OnOutput);
        lock (_silos)
        {
            _silos.RemoveAll(s => s.Id == siloId);
            _silos.Add(silo);
            _silos.Sort((a, b) => CompareIds(a.Id, b.Id));
        }

        await silo.WaitListeningAsync(_options.StartTimeout, cancellationToken).ConfigureAwait(false);
        return silo;
    }

    /// <summary>
    /// Waits until every running silo counts every running silo as live (each one's <c>/health</c>), so placement spreads
    /// components over all of them from the first request. Throws <see cref="TimeoutException"/> with each silo's view.
    /// </summary>
    public async Task WaitForMembershipAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            var running = Running;
            var expected = running.Select(s => s.Id).ToHashSet(StringComparer.Ordinal);
            var views = await Task.WhenAll(running.Select(s => s.LiveSilosAsync(cancellationToken))).ConfigureAwait(false);
            if (views.All(v => expected.IsSubsetOf(v))) return;
            if (watch.Elapsed > timeout)
            {
                var detail = string.Join("; ", running.Zip(views, (s, v) => $"{s.Id} sees [{string.Join(", ", v)}]"));
                throw new TimeoutException($"The silos did not all see each other as live within {timeout.TotalSeconds:0} s: {detail}.");
            }

            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Stops every running silo gracefully (SIGTERM, in parallel) and waits up to <paramref name="timeout"/> (default 20 s)
    /// for each; one that does not exit in time is killed and reported with <see cref="SiloStopResult.Graceful"/> false.
    /// </summary>
    public async Task<IReadOnlyList<SiloStopResult>> StopAllAsync(TimeSpan? timeout = null)
    {
        return await Task.WhenAll(Running.Select(async silo =>
        {
            var watch = Stopwatch.StartNew();
            try
            {
                var code = await silo.StopAsync(timeout).ConfigureAwait(false);
                return new SiloStopResult(silo.Id, code, true, watch.Elapsed, null);
            }
            catch (TimeoutException e)
            {
                return new SiloStopResult(silo.Id, -1, false, watch.Elapsed, e.Message);
            }
        })).ConfigureAwait(false);
    }

    /// <summary>Kills every silo still running (SIGKILL) and releases them.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var silo in Silos) await silo.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>silo-2 before silo-10: compares the numeric suffix when both ids have one.</summary>
    private static int CompareIds(string a, string b)
    {
        static (string Stem, long Number) Split(string id)
        {
            var i = id.Length;
            while (i > 0 && char.IsAsciiDigit(id[i - 1])) i--;
            return i < id.Length && id.Length - i < 18 ? (id[..i], long.Parse(id[i..], System.Globalization.CultureInfo.InvariantCulture)) : (id, -1);
        }

        var (stemA, numberA) = Split(a);
        var (stemB, numberB) = Split(b);
        var byStem = string.CompareOrdinal(stemA, stemB);
        return byStem != 0 ? byStem : numberA != numberB ? numberA.CompareTo(numberB) : string.CompareOrdinal(a, b);
    }
}

/// <summary>How a silo ended after SIGTERM.</summary>
/// <param name="SiloId">The silo.</param>
/// <param name="ExitCode">Its exit code (-1 when it had to be killed).</param>
/// <param name="Graceful">False when it did not exit within the timeout and was killed.</param>
/// <param name="Took">From SIGTERM to exit.</param>
/// <param name="Problem">Why it was not graceful (with the silo's output), or null.</param>
public sealed record SiloStopResult(string SiloId, int ExitCode, bool Graceful, TimeSpan Took, string? Problem);
