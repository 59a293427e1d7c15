using System.Globalization;
using Middleware.Core;

namespace Middleware.Bench;

/// <summary>Which log store a scenario runs on.</summary>
public enum StoreKind
{
    Memory,
    Sqlite,

    /// <summary><c>--store postgres:&lt;Npgsql connection string&gt;</c>, opened through LogStores.</summary>
    Postgres,

    /// <summary><c>--store sqlserver:&lt;SqlClient connection string&gt;</c>, opened through LogStores.</summary>
    SqlServer,
}

/// <summary>How the load loops call the runtime.</summary>
public enum InvokePath
{
    /// <summary><c>InvokeAsync</c> with a fresh <c>Invocation</c> per request and the args bytes encoded once.</summary>
    Raw,

    /// <summary>The typed proxy: a proxy per request, args encoded per call, reply decoded to <c>long</c>.</summary>
    Proxy,
}

/// <summary>Flag reader shared by the modes: <c>--name value</c> pairs, each flag at most once.</summary>
internal sealed class FlagReader
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);

    public FlagReader(string[] args, IReadOnlyCollection<string> known)
    {
        for (var i = 0; i < args.Length; i++)
        {
            var flag = args[i];
            if (flag is "--help" or "-h") throw new HelpRequested();
            if (!flag.StartsWith("--", StringComparison.Ordinal))
                throw new UsageException($"Unexpected argument '{flag}'; options are flags with a value, e.g. --concurrency 64.");
            if (!known.Contains(flag))
                throw new UsageException($"Unknown option '{flag}' for this mode; known: {string.Join(", ", known)}.");
            if (i + 1 >= args.Length || args[i + 1].StartsWith("--", StringComparison.Ordinal))
                throw new UsageException($"{flag} needs a value, e.g. {flag} {Example(flag)}.");
            if (!_values.TryAdd(flag, args[++i]))
                throw new UsageException($"{flag} is given twice; give it once.");
        }
    }

    public string? String(string flag) => _values.GetValueOrDefault(flag);

    /// <summary>The whole <c>--store</c> value for a server store (its connection setting), else null.</summary>
    public string? StoreConnection => Store() is StoreKind.Postgres or StoreKind.SqlServer ? String("--store") : null;

    public StoreKind Store()
    {
        var s = String("--store") ?? throw new UsageException("--store is required: --store memory (no log, baseline), --store sqlite or --store postgres:<connection string>.");
        if (s.StartsWith("postgres:", StringComparison.OrdinalIgnoreCase)) return StoreKind.Postgres;
        if (s.StartsWith("sqlserver:", StringComparison.OrdinalIgnoreCase)) return StoreKind.SqlServer;
        if (s.StartsWith("sharded:", StringComparison.OrdinalIgnoreCase)) return StoreKind.Postgres; // opened through LogStores like a server store
        return s.ToLowerInvariant() switch
        {
            "memory" => StoreKind.Memory,
            "sqlite" => StoreKind.Sqlite,
            // Only the kind is echoed: a connection string may hold a password.
            _ => throw new UsageException($"--store '{s.Split(':')[0]}' is unknown; use --store memory, --store sqlite, --store postgres:<Npgsql connection string> or --store sqlserver:<SqlClient connection string>."),
        };
    }

    public int PositiveInt(string flag, int fallback, bool allowZero = false)
    {
        if (String(flag) is not { } s) return fallback;
        if (!int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v))
            throw new UsageException($"{flag} '{s}' is not a whole number; give e.g. {flag} {Example(flag)}.");
        if (v < 0 || (v == 0 && !allowZero))
            throw new UsageException($"{flag} is {v}; it must be {(allowZero ? "0 or more" : "1 or more")}, e.g. {flag} {Example(flag)}.");
        return v;
    }

    public double PositiveSeconds(string flag, double fallback, bool allowZero = false)
    {
        if (String(flag) is not { } s) return fallback;
        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || double.IsNaN(v) || double.IsInfinity(v))
            throw new UsageException($"{flag} '{s}' is not a number of seconds; give e.g. {flag} {Example(flag)}.");
        if (v < 0 || (v == 0 && !allowZero))
            throw new UsageException($"{flag} is {v}; it must be {(allowZero ? "0 or more" : "more than 0")} seconds, e.g. {flag} {Example(flag)}.");
        return v;
    }

    public string? OutputFile(string flag)
    {
        if (String(flag) is not { } s) return null;
        if (string.IsNullOrWhiteSpace(s)) throw new UsageException($"{flag} is empty; give a file name, e.g. {flag} bench/results/run.json.");
        return s;
    }

    private static string Example(string flag) => flag switch
    {
        "--store" => "sqlite",
        "--json" => "bench/results/run.json",
        "--db" => "/tmp/bench.db",
        "--duration" or "--warmup" => "10",
        "--invoke" => "raw",
        "--keys" => "1000",
        "--turns" => "10000",
        _ => "64",
    };
}

/// <summary>Thrown for --help inside a mode.</summary>
internal sealed class HelpRequested() : UsageException("help");

/// <summary>Settings of the <c>local</c> load scenario.</summary>
public sealed record LocalOptions(
    StoreKind Store,
    string? DbPath,
    int Concurrency,
    int Keys,
    double DurationSeconds,
    double WarmupSeconds,
    string? JsonPath,
    InvokePath Invoke,
    int CheckpointEvery,
    int MaxBatch,
    int Seed,
    double CheckpointSpread = 1)
{
    private static readonly string[] Known = ["--store", "--db", "--concurrency", "--keys", "--duration", "--warmup", "--json", "--invoke", "--checkpoint-every", "--checkpoint-spread", "--max-batch", "--seed"];

    public static LocalOptions Parse(string[] args)
    {
        var f = new FlagReader(args, Known);
        var store = f.Store();
        var db = f.String("--db");
        if (db is not null && store != StoreKind.Sqlite)
            throw new UsageException("--db only applies to --store sqlite; drop --db or use --store sqlite.");
        // A server store's connection setting travels in the DbPath slot; BenchStore opens it through LogStores.
        db ??= f.StoreConnection;
        var invoke = (f.String("--invoke") ?? "raw").ToLowerInvariant() switch
        {
            "raw" => InvokePath.Raw,
            "proxy" => InvokePath.Proxy,
            var other => throw new UsageException($"--invoke '{other}' is unknown; use --invoke raw or --invoke proxy."),
        };
        var maxBatch = f.PositiveInt("--max-batch", 1024);
        if (maxBatch > 100_000) throw new UsageException($"--max-batch is {maxBatch}; the runtime allows at most 100000.");
        var spread = f.PositiveSeconds("--checkpoint-spread", 1, allowZero: true);
        if (spread > 1) throw new UsageException($"--checkpoint-spread is {spread}; give a fraction from 0 to 1 (RuntimeOptions.CheckpointSpread, default 1).");
        return new LocalOptions(
            store,
            db,
            f.PositiveInt("--concurrency", 64),
            f.PositiveInt("--keys", 1000),
            f.PositiveSeconds("--duration", 10),
            f.PositiveSeconds("--warmup", 2, allowZero: true),
            f.OutputFile("--json"),
            invoke,
            f.PositiveInt("--checkpoint-every", 1000),
            maxBatch,
            f.PositiveInt("--seed", 1, allowZero: true),
            spread);
    }
}

/// <summary>Settings of the <c>replay</c> scenario.</summary>
public sealed record ReplayOptions(StoreKind Store, string? DbPath, int Turns, int Repeat, string? JsonPath)
{
    private static readonly string[] Known = ["--store", "--db", "--turns", "--repeat", "--json"];

    public static ReplayOptions Parse(string[] args)
    {
        var f = new FlagReader(args, Known);
        var store = f.Store();
        var db = f.String("--db");
        if (db is not null && store != StoreKind.Sqlite)
            throw new UsageException("--db only applies to --store sqlite; drop --db or use --store sqlite.");
        // A server store's connection setting travels in the DbPath slot; BenchStore opens it through LogStores.
        db ??= f.StoreConnection;
        return new ReplayOptions(store, db, f.PositiveInt("--turns", 10_000), f.PositiveInt("--repeat", 3), f.OutputFile("--json"));
    }
}
