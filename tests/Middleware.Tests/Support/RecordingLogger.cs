using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Middleware.Tests.Support;

/// <summary>An ILogger that keeps every entry at or above <see cref="MinimumLevel"/>, for tests of what an operator reads.</summary>
public sealed class RecordingLogger : ILogger
{
    public ConcurrentQueue<(LogLevel Level, string Message)> Entries { get; } = new();

    public LogLevel MinimumLevel { get; init; } = LogLevel.Information;

    /// <summary>Entries at <paramref name="level"/> or above.</summary>
    public IReadOnlyList<string> At(LogLevel level) => Entries.Where(e => e.Level >= level).Select(e => e.Message).ToList();

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= MinimumLevel;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (IsEnabled(logLevel)) Entries.Enqueue((logLevel, formatter(state, exception)));
    }
}
