using System.Globalization;

namespace Bank.Demo;

/// <summary>Settings of the demo (parent mode). Every one has a default, so the demo runs with no arguments.</summary>
public sealed record DemoOptions
{
    /// <summary>The database file; wiped at the start of every run.</summary>
    public string DbPath { get; init; } = Path.Combine(".", "data", "bank.db");

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

    /// <summary>Parses <c>--db PATH --accounts N --ops N --concurrency N --kills N --seed N --timeout SECONDS</c>.</summary>
    public static DemoOptions Parse(IReadOnlyList<string> args)
    {
        var options = new DemoOptions();
        for (var i = 0; i < args.Count; i += 2)
        {
            var value = i + 1 < args.Count ? args[i + 1] : throw new ArgumentException($"Option {args[i]} needs a value.");
            options = args[i] switch
            {
                "--db" => options with { DbPath = value },
                "--accounts" => options with { Accounts = Positive(args[i], value) },
                "--ops" => options with { Operations = Positive(args[i], value) },
                "--concurrency" => options with { Concurrency = Positive(args[i], value) },
                "--kills" => options with { Kills = Positive(args[i], value, allowZero: true) },
                "--seed" => options with { Seed = Positive(args[i], value, allowZero: true) },
                "--timeout" => options with { Timeout = TimeSpan.FromSeconds(Positive(args[i], value)) },
                _ => throw new ArgumentException($"Unknown option '{args[i]}'. Options: --db PATH --accounts N --ops N --concurrency N --kills N --seed N --timeout SECONDS; or 'host --db PATH' for the child process."),
            };
        }

        return options;
    }

    private static int Positive(string name, string value, bool allowZero = false) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && (n > 0 || (allowZero && n == 0))
            ? n
            : throw new ArgumentException($"Option {name} needs a {(allowZero ? "non-negative" : "positive")} integer, got '{value}'.");
}
