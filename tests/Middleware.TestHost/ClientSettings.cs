using System.Globalization;

namespace Middleware.TestHost;

/// <summary>The command line of <c>client</c> mode.</summary>
/// <param name="Gateways">Silo protocol addresses (<c>host:port</c>); the client discovers the other live silos.</param>
/// <param name="Accounts">Account keys; the first quarter gets half of the account picks (hot accounts).</param>
/// <param name="Tellers">Teller keys for transfers.</param>
/// <param name="Workers">Concurrent workers, each with one request in flight.</param>
/// <param name="Seed">Seed of the workers' random choices.</param>
/// <param name="SessionId">A session to resume, or null for a new one.</param>
public sealed record ClientSettings(IReadOnlyList<string> Gateways, IReadOnlyList<string> Accounts, IReadOnlyList<string> Tellers, int Workers, int Seed, string? SessionId)
{
    /// <summary>Parses <c>--name value</c> pairs; throws <see cref="ArgumentException"/> naming what is wrong.</summary>
    public static ClientSettings Parse(IReadOnlyList<string> args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < args.Count; i += 2)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Count)
                throw new ArgumentException($"expected '--name value' pairs, got '{args[i]}'{(i + 1 >= args.Count ? " without a value" : "")}");
            values[args[i][2..]] = args[i + 1];
        }

        var known = new HashSet<string>(["gateways", "accounts", "tellers", "workers", "seed", "session"], StringComparer.Ordinal);
        if (values.Keys.FirstOrDefault(k => !known.Contains(k)) is { } unknown) throw new ArgumentException($"unknown option --{unknown}");
        var accounts = List(values, "accounts");
        if (accounts.Count < 2) throw new ArgumentException("--accounts needs at least two keys (transfers go between two accounts)");
        return new ClientSettings(
            List(values, "gateways"),
            accounts,
            List(values, "tellers"),
            Number(values, "workers", 16),
            Number(values, "seed", Environment.ProcessId),
            values.GetValueOrDefault("session"));
    }

    private static List<string> List(Dictionary<string, string> values, string name) =>
        values.TryGetValue(name, out var text) && text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) is { Length: > 0 } items
            ? [.. items]
            : throw new ArgumentException($"--{name} is required (a comma-separated list)");

    private static int Number(Dictionary<string, string> values, string name, int fallback)
    {
        if (!values.TryGetValue(name, out var text)) return fallback;
        return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n > 0
            ? n
            : throw new ArgumentException($"--{name} is '{text}', not a positive whole number");
    }
}
