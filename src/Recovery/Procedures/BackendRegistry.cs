using System.Data.Common;
using Middleware.Grains;

namespace Middleware.Recovery.Procedures;

/// <summary>The back-end databases components may reach, by name.</summary>
public sealed class BackendRegistry
{
    private readonly Dictionary<string, IdempotentExecutor> _executors = new(StringComparer.Ordinal);

    /// <summary>
    /// Registers a back end; components reach it with <c>Context.Backend(name)</c>. Recorded outcomes are kept for
    /// <paramref name="retention"/> (default 7 days) before <see cref="IdempotentExecutor.ReapAsync"/> may delete them.
    /// </summary>
    public BackendRegistry Add(string name, DbDataSource dataSource, BackendDialect dialect, TimeSpan? retention = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(dataSource);
        ArgumentNullException.ThrowIfNull(dialect);
        if (!_executors.TryAdd(name, new IdempotentExecutor(name, dataSource, dialect, retention)))
            throw new ArgumentException($"A back end named '{name}' is already registered.", nameof(name));
        return this;
    }

    /// <summary>
    /// How the host tells a user to configure a missing back end (a silo names its settings); the default names
    /// <c>RuntimeEnvironment.Backends.Add</c>.
    /// </summary>
    public Func<string, string> ConfigurationHint { get; set; } =
        static name => $"add it with RuntimeEnvironment.Backends.Add(\"{name}\", dataSource, BackendDialect.X)";

    /// <summary>True when a back end named <paramref name="name"/> is registered.</summary>
    public bool Contains(string name) => _executors.ContainsKey(name);

    /// <summary>Every registered back end (for example to reap old outcomes periodically).</summary>
    public IEnumerable<IdempotentExecutor> All => _executors.Values;

    /// <summary>
    /// The executor of a back end, or <see cref="BackendNotConfiguredException"/> naming the registered ones and how to
    /// configure it (<see cref="ConfigurationHint"/>).
    /// </summary>
    public IdempotentExecutor Get(string name) =>
        _executors.TryGetValue(name, out var executor)
            ? executor
            : throw new BackendNotConfiguredException(
                $"No back end named '{name}' is configured here (configured: {(_executors.Count == 0 ? "none" : string.Join(", ", _executors.Keys.Order()))}); " +
                $"{ConfigurationHint(name)}. The turn was not recorded: retry the request once it is configured.");
}
