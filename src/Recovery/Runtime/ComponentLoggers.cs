using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Middleware.Recovery.Runtime;

/// <summary>The loggers behind <c>Context.Logger</c>: one per component class, named after it, and silent during replay.</summary>
internal static class ComponentLoggers
{
    /// <summary>The logger of <paramref name="type"/>'s class (category: its full name, as for <c>ILogger&lt;T&gt;</c>).</summary>
    public static ILogger For(ILoggerFactory? factory, ComponentTypeInfo type) =>
        factory?.CreateLogger(type.GrainType.FullName ?? type.GrainType.Name) ?? NullLogger.Instance;
}

/// <summary>A live turn's logger: writes to the component's logger unless the turn is re-running what an earlier attempt already logged.</summary>
internal sealed class TurnLogger(ILogger inner, Func<bool> suppressed) : ILogger
{
    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => inner.BeginScope(state);

    public bool IsEnabled(LogLevel logLevel) => !suppressed() && inner.IsEnabled(logLevel);

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (!suppressed()) inner.Log(logLevel, eventId, state, exception, formatter);
    }
}
