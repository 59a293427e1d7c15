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

    /// <summary>Number of accounts.</summary>
    public int Accounts { get; init; } = 20;

    /// <summary>Number of deposits and withdrawals.</summary>
    public int Operations { get; init; } = 4000;

    /// <summary>Requests in flight at once.</summary>
    public int Concurrency { get; init; } = 48;

    /// <summary>How many times the host is SIGKILLed during the run.</summary>
    public int Kills { get; init; } = 1;

    /// <summary>Seed of the workload and of the kill points (printed, so a run can be repeated).</summary>
    public int Seed { get; init; } = Environment.TickCount & 0x7FFF;

    /// <summary>The whole run is abandoned (non-zero exit) after this long.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>A host must print READY within this long.</summary>
    public TimeSpan HostStartTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Parses <c>--store STORE | --db PATH --accounts N --ops N --concurrency N --kills N --seed N --timeout SECONDS</c>.</summary>
    public static DemoOptions Parse(IReadOnlyList<string> args)
    {
        var options = new DemoOptions();
        for (var i = 0; i < args.Count; i += 2)
        {
            var value = i + 1 < args.Count ? args[i + 1] : throw new ArgumentException($"Option {args[i]} needs a value.");
            options = args[i] switch
            {
                "--store" => options with { Store = value },
                "--db" => options with { Store = "sqlite:" + value },
                "--accounts" => options with { Accounts = Positive(args[i], value) },
                "--ops" => options with { Operations = Positive(args[i], value) },
                "--concurrency" => options with { Concurrency = Positive(args[i], value) },
                "--kills" => options with { Kills = Positive(args[i], value, allowZero: true) },
                "--seed" => options with { Seed = Positive(args[i], value, allowZero: true) },
                "--timeout" => options with { Timeout = TimeSpan.FromSeconds(Positive(args[i], value)) },
                _ => throw new ArgumentException($"Unknown option '{args[i]}'. Options: --store STORE (or --db PATH) --accounts N --ops N --concurrency N --kills N --seed N --timeout SECONDS; or 'host --store STORE' for the child process. STORE: " + LogStores.AcceptedForms + "."),
            };
        }

        return options;
    }

    private static int Positive(string name, string value, bool allowZero = false) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && (n > 0 || (allowZero && n == 0))
            ? n
            : throw new ArgumentException($"Option {name} needs a {(allowZero ? "non-negative" : "positive")} integer, got '{value}'.");
}
