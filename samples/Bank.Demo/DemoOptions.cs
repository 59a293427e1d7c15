using System.Globalization;
using Middleware.Recovery.Stores;

namespace Bank.Demo;

/// <summary>Settings of the demo (parent mode). Every one has a default, so the demo runs with no arguments.</summary>
public sealed record DemoOptions
{
    /// <summary>The store when neither --store, --db nor MIDDLEWARE_STORE is given; a SQLite file is wiped at the start of every run.</summary>
    public const string DefaultStore = "sqlite:./data/bank.db";

    /// <summary>The <c>--store</c> value (<c>--db PATH</c> is short for <c>--store sqlite:PATH</c>), or null when not given.</summary>
    public string? Store { get; init; }

    /// <summary>The store setting in effect: --store (or --db) &gt; MIDDLEWARE_STORE &gt; <see cref="DefaultStore"/>.</summary>
    public string StoreSetting => LogStores.FromEnvironmentOrDefault(Store, DefaultStore);

    /// <summary>Silo processes in the cluster.</summary>
    public int Silos { get; init; } = 3;

    /// <summary>Number of accounts; the first quarter of them (at least one) are hot and get half of the traffic.</summary>
    public int Accounts { get; init; } = 24;

    /// <summary>Number of tellers that carry out transfers.</summary>
    public int Tellers { get; init; } = 8;

    /// <summary>Workers, each with one request in flight at a time.</summary>
    public int Concurrency { get; init; } = 32;

    /// <summary>How long the workload runs.</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(12);

    /// <summary>When the (first) silo is SIGKILLed, counted from the start of the workload.</summary>
    public TimeSpan KillAt { get; init; } = TimeSpan.FromSeconds(4);

    /// <summary>How many silos are SIGKILLed, one after the other (each the owner of the busiest accounts then), 5 s apart; 0 runs without a kill.</summary>
    public int Kills { get; init; } = 1;

    /// <summary>Between two kills.</summary>
    public static TimeSpan KillSpacing => TimeSpan.FromSeconds(5);

    /// <summary>The silos' <c>--dead-after-ms</c>: how long a silo may miss heartbeats before the others take over its components.</summary>
    public int DeadAfterMs { get; init; } = 2000;

    /// <summary>The silos' <c>--checkpoint-every</c>: small, so a take-over runs checkpoint + replay + dedup.</summary>
    public int CheckpointEvery { get; init; } = 100;

    /// <summary>Seed of the workload (printed, so a run's mix can be repeated; timing still varies).</summary>
    public int Seed { get; init; } = Environment.TickCount & 0x7FFF;

    /// <summary>The whole run is abandoned (non-zero exit) after this long.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(180);

    /// <summary>A silo must print its listening line within this long.</summary>
    public TimeSpan SiloStartTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// How long one request may take, retries included, before the client gives up on it (default 30 s, so requests ride
    /// out a kill). A short value (e.g. 1000) makes requests give up during the pause, so the outcome queries that
    /// resolve them (committed, or fenced as not committed) get exercised.
    /// </summary>
    public int GiveUpAfterMs { get; init; } = 30_000;

    /// <summary>
    /// The silos' <c>--mirroring</c>: <c>attributed</c> (the default: Account and Teller are marked [Mirrored], so each has a
    /// warm standby on a second silo that takes over when its owner dies), <c>all</c>, or <c>none</c> (takeover by log replay).
    /// </summary>
    public string Mirroring { get; init; } = "attributed";

    /// <summary>Echo every line the silos print (prefixed with the silo id).</summary>
    public bool Verbose { get; init; }

    /// <summary>The workload's length: at least 4 s after the last kill, so the run sees the cluster recover.</summary>
    public TimeSpan EffectiveDuration
    {
        get
        {
            var lastKill = KillAt + (KillSpacing * Math.Max(0, Kills - 1));
            var minimum = Kills == 0 ? TimeSpan.FromSeconds(1) : lastKill + TimeSpan.FromSeconds(4);
            return Duration > minimum ? Duration : minimum;
        }
    }

    /// <summary>Parses the command line (see <see cref="Help"/>).</summary>
    public static DemoOptions Parse(IReadOnlyList<string> args)
    {
        var options = new DemoOptions();
        for (var i = 0; i < args.Count; i++)
        {
            if (args[i] == "--verbose")
            {
                options = options with { Verbose = true };
                continue;
            }

            var value = i + 1 < args.Count ? args[++i] : throw new ArgumentException($"Option {args[i]} needs a value.");
            var name = args[i - 1];
            options = name switch
            {
                "--store" => options with { Store = value },
                "--db" => options with { Store = "sqlite:" + value },
                "--silos" => options with { Silos = Positive(name, value) },
                "--accounts" => options with { Accounts = Positive(name, value) },
                "--tellers" => options with { Tellers = Positive(name, value) },
                "--concurrency" => options with { Concurrency = Positive(name, value) },
                "--duration" => options with { Duration = TimeSpan.FromSeconds(Positive(name, value)) },
                "--kill-at" => options with { KillAt = TimeSpan.FromSeconds(Positive(name, value)) },
                "--kills" => options with { Kills = Positive(name, value, allowZero: true) },
                "--dead-after-ms" => options with { DeadAfterMs = Positive(name, value) },
                "--checkpoint-every" => options with { CheckpointEvery = Positive(name, value) },
                "--seed" => options with { Seed = Positive(name, value, allowZero: true) },
                "--give-up-after-ms" => options with { GiveUpAfterMs = Positive(name, value) },
                "--mirroring" => value is "none" or "attributed" or "all"
                    ? options with { Mirroring = value }
                    : throw new ArgumentException($"--mirroring is '{value}'; use none, attributed (the default) or all."),
                "--timeout" => options with { Timeout = TimeSpan.FromSeconds(Positive(name, value)) },
                _ => throw new ArgumentException($"Unknown option '{name}'. {Help}"),
            };
        }

        if (options.Accounts < 2) throw new ArgumentException("--accounts must be at least 2: transfers need two accounts.");
        if (options.Kills >= options.Silos)
            throw new ArgumentException($"--kills is {options.Kills} with {options.Silos} silo(s); at least one silo must survive, so kill at most {options.Silos - 1}.");
        return options;
    }

    /// <summary>The options, for error messages.</summary>
    public const string Help =
        "Options: --store STORE (or --db PATH) --silos N (3) --accounts N (24) --tellers N (8) --concurrency N (32) --duration SECONDS (12) " +
        "--kill-at SECONDS (4) --kills N (1; 0 = no kill) --dead-after-ms MS (2000) --checkpoint-every N (100) --mirroring none|attributed|all (attributed) --seed N --timeout SECONDS (180) --give-up-after-ms MS (30000; small values exercise outcome queries) --verbose; " +
        "or 'host --store STORE' for the single-host child process the crash tests run. STORE: " + LogStores.AcceptedForms + ".";

    private static int Positive(string name, string value, bool allowZero = false) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && (n > 0 || (allowZero && n == 0))
            ? n
            : throw new ArgumentException($"Option {name} needs a {(allowZero ? "non-negative" : "positive")} integer, got '{value}'.");
}
