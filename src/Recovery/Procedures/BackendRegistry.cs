using System.Data.Common;

namespace Middleware.Recovery.Procedures;

/// <summary>The back-end databases components may reach, by name.</summary>
public sealed class BackendRegistry
{
    private readonly Dictionary<string, IdempotentExecutor> _executors = new(StringComparer.Ordinal);

    /// <summary>Registers a back end; components reach it with <c>Context.Backend(name)</c>.</summary>
    public BackendRegistry Add(string name, DbDataSource dataSource, BackendDialect dialect)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(dataSource);
        ArgumentNullException.ThrowIfNull(dialect);
        if (!_executors.TryAdd(name, new IdempotentExecutor(name, dataSource, dialect)))
            throw new ArgumentException($"A back end named '{name}' is already registered.", nameof(name));
        return this;
    }

    /// <summary>The executor of a back end, or a clear error naming the registered ones.</summary>
    public IdempotentExecutor Get(string name) =>
        _executors.TryGetValue(name, out var executor)
            ? executor
            : throw new InvalidOperationException($"No back end named '{name}' is registered; registered: {(_executors.Count == 0 ? "none" : string.Join(", ", _executors.Keys.Order()))}. Add it with RuntimeOptions.Backends.Add(\"{name}\", dataSource, BackendDialect.X).");
}
