using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Middleware.Grains;

namespace Middleware.Tests.Hosting;

/// <summary>A service of the host's container that a component takes in its constructor.</summary>
public interface IGreeter
{
    string Greet(string name);
}

public sealed class Greeter(string greeting) : IGreeter
{
    public string Greet(string name) => $"{greeting}, {name}";
}

public interface IGuestBook : IRecoverableComponent
{
    Task<int> Sign(string name);

    [ReadOnlyTurn]
    Task<string[]> Entries();
}

public sealed class GuestBookState
{
    public List<string> Entries { get; set; } = [];
}

/// <summary>Takes a service by constructor injection and writes one log line per signature through <c>Context.Logger</c>.</summary>
public sealed class GuestBook(IGreeter greeter) : RecoverableGrain<GuestBookState>, IGuestBook
{
    public Task<int> Sign(string name)
    {
        State.Entries.Add(greeter.Greet(name));
        Context.Logger.LogInformation("{Book} signed by {Name}: entry {Count}", Context.Id.Key, name, State.Entries.Count);
        return Task.FromResult(State.Entries.Count);
    }

    public Task<string[]> Entries() => Task.FromResult(State.Entries.ToArray());
}

/// <summary>Keeps every log entry of every logger it creates, with its category.</summary>
public sealed class CapturingLoggerProvider : ILoggerProvider
{
    public ConcurrentQueue<(string Category, LogLevel Level, string Message)> Entries { get; } = new();

    /// <summary>The messages written under <paramref name="category"/>.</summary>
    public IReadOnlyList<string> Of(string category) => Entries.Where(e => e.Category == category).Select(e => e.Message).ToList();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(CapturingLoggerProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel)) provider.Entries.Enqueue((category, logLevel, formatter(state, exception)));
        }
    }
}
