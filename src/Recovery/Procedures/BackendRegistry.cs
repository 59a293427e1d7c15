using System.Data.Common;

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

    /// <summary>Every registered back end (for example to reap old outcomes periodically).</summary>
    public IEnumerable<IdempotentExecutor> All => _executors.Values;

    /// <summary>The executor of a back end, or a clear error naming the registered ones.</summary>
    public IdempotentExecutor Get(string name) =>
        _executors.TryGetValue(name, out var executor)
            ? executor
            : throw new InvalidOperationException($"No back end named '{name}' is registered; registered: {(_executors.Count == 0 ? "none" : string.Join(", ", _executors.Keys.Order()))}. Add it with RuntimeOptions.Backends.Add(\"{name}\", dataSource, BackendDialect.X).");
}
