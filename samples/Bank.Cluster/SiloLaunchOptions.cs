namespace Bank.Cluster;

/// <summary>
/// What <see cref="SiloLauncher"/> starts: <see cref="Count"/> silo processes on one store, with ids
/// <c>{IdPrefix}1..N</c>, free ports (<c>--port 0 --http-port 0</c>), the component assemblies, and any extra
/// command-line options and environment variables.
/// </summary>
public sealed record SiloLaunchOptions
{
    /// <summary>The store every silo joins (<c>sqlite:/abs/path.db</c> or <c>postgres:&lt;connection string&gt;</c>); silos on one store form a cluster.</summary>
    public required string Store { get; init; }

    /// <summary>How many silos to start (ids <c>silo-1</c>.. <c>silo-N</c> by default).</summary>
    public int Count { get; init; } = 3;

    /// <summary>Paths of the component assemblies the silos load (<c>--components</c>).</summary>
    public required IReadOnlyList<string> Components { get; init; }

    /// <summary>More silo options for every silo, e.g. <c>["--dead-after-ms", "2000", "--checkpoint-every", "100"]</c>.</summary>
    public IReadOnlyList<string> ExtraArgs { get; init; } = [];

    /// <summary>
    /// Environment variables for every silo, e.g. <c>MIDDLEWARE_BACKEND_LEDGER=sqlite:/abs/ledger.db</c>. Variables named
    /// <c>MIDDLEWARE_*</c> that this process has are NOT inherited: a silo sees only the settings given here and in the options.
    /// </summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// More environment variables for single silos, by silo id, on top of <see cref="Environment"/> (e.g. a test's fault
    /// point armed in one silo only). They apply to every start of that id, restarts included.
    /// </summary>
    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> SiloEnvironment { get; init; } = new Dictionary<string, IReadOnlyDictionary<string, string>>();

    /// <summary>The prefix of the silo ids; the n-th silo (from 1) is <c>{IdPrefix}{n}</c>.</summary>
    public string IdPrefix { get; init; } = "silo-";

    /// <summary>How long one silo may take to print its listening line before the start fails (with its output in the error).</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// The silo's <c>Middleware.Silo.dll</c>; null finds the build output of this configuration from the repository root
    /// (or the environment variable <see cref="SiloBuild.DllVariable"/>).
    /// </summary>
    public string? SiloDll { get; init; }

    /// <summary>Called with (silo id, line) for every stdout and stderr line of every silo (e.g. to show them with <c>--verbose</c>); null keeps them quiet.</summary>
    public Action<string, string>? OnOutput { get; init; }

    /// <summary>The environment variables of silo <paramref name="siloId"/>: <see cref="Environment"/> plus its <see cref="SiloEnvironment"/>.</summary>
    public IReadOnlyDictionary<string, string> EnvironmentFor(string siloId)
    {
        if (!SiloEnvironment.TryGetValue(siloId, out var own)) return Environment;
        var merged = new Dictionary<string, string>(Environment);
        foreach (var (name, value) in own) merged[name] = value;
        return merged;
    }

    /// <summary>The command-line arguments of silo <paramref name="siloId"/> (after the dll path).</summary>
    public IReadOnlyList<string> ArgumentsFor(string siloId)
    {
        var args = new List<string> { "--store", Store, "--port", "0", "--http-port", "0", "--silo-id", siloId };
        if (Components.Count > 0)
        {
            args.Add("--components");
            args.Add(string.Join(';', Components));
        }

        args.AddRange(ExtraArgs);
        return args;
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first setting that cannot work.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Store))
            throw new ArgumentException("SiloLaunchOptions.Store is empty; give the store every silo joins, e.g. sqlite:/tmp/cluster.db.", nameof(Store));
        if (Count is < 1 or > 64)
            throw new ArgumentException($"SiloLaunchOptions.Count is {Count}; start from 1 to 64 silos.", nameof(Count));
        if (Components is null || Components.Count == 0)
            throw new ArgumentException("SiloLaunchOptions.Components is empty; give the path of the assembly holding the components (e.g. Bank.dll).", nameof(Components));
        foreach (var path in Components)
        {
            if (!File.Exists(path))
                throw new ArgumentException($"SiloLaunchOptions.Components names {path}, which does not exist; build the component project first.", nameof(Components));
        }

        if (string.IsNullOrWhiteSpace(IdPrefix) || IdPrefix.Any(char.IsWhiteSpace))
            throw new ArgumentException($"SiloLaunchOptions.IdPrefix '{IdPrefix}' is not usable; give a prefix without spaces, e.g. silo-.", nameof(IdPrefix));
        if (StartTimeout <= TimeSpan.Zero)
            throw new ArgumentException($"SiloLaunchOptions.StartTimeout is {StartTimeout}; it must be positive.", nameof(StartTimeout));
    }
}
