using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Middleware.Core;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Sqlite;

namespace Middleware.Tests.Hosting;

/// <summary>
/// <c>Context.Logger</c> and constructor injection on the engine: a runtime on a SQLite file, "crashed" by abandoning it
/// without a checkpoint, and a new runtime on the same file that recovers the component by replaying its log.
/// </summary>
public sealed class ComponentLoggerTests : IDisposable
{
    private static readonly string Category = typeof(GuestBook).FullName!;
    private readonly string _directory = Directory.CreateTempSubdirectory("mw-logger-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private (ComponentRegistry Registry, ILoggerFactory Loggers) Host(CapturingLoggerProvider capture)
    {
        var services = new ServiceCollection().AddSingleton<IGreeter>(new Greeter("Welcome")).BuildServiceProvider();
        var registry = new ComponentRegistry { Services = services }.Add<IGuestBook, GuestBook>();
        return (registry, LoggerFactory.Create(logging => logging.AddProvider(capture)));
    }

    [Fact]
    public async Task A_turns_log_lines_are_written_once_and_not_again_when_a_recovered_component_replays_it()
    {
        var capture = new CapturingLoggerProvider();
        var path = Path.Combine(_directory, "app.db");
        var (registry, loggers) = Host(capture);
        var options = new RuntimeOptions { CheckpointEveryTurns = 1000 };
        await using (var store = SqliteLogStore.Open(path))
        await using (var runtime = new LocalRuntime(store, registry, options, new RuntimeEnvironment { LoggerFactory = loggers }))
        {
            Assert.Equal(1, await runtime.Call<IGuestBook>("b", "r1").Sign("ann"));
            Assert.Equal(2, await runtime.Call<IGuestBook>("b", "r2").Sign("bob"));
            // (Explicit request ids: a second runtime's GetComponent would number its ids from 1 again.)
            // Disposed without a checkpoint: the next runtime rebuilds the book by replaying both turns.
        }

        Assert.Equal(["b signed by ann: entry 1", "b signed by bob: entry 2"], capture.Of(Category));

        var (registry2, loggers2) = Host(capture);
        await using (var store = SqliteLogStore.Open(path))
        await using (var runtime = new LocalRuntime(store, registry2, options, new RuntimeEnvironment { LoggerFactory = loggers2 }))
        {
            // The replay ran the constructor with its service again and reproduced the state...
            Assert.Equal(["Welcome, ann", "Welcome, bob"], await runtime.Call<IGuestBook>("b", "read-1").Entries());
            // ...without writing the replayed turns' lines a second time; a new turn writes its own.
            Assert.Equal(2, capture.Of(Category).Count);
            Assert.Equal(3, await runtime.Call<IGuestBook>("b", "r3").Sign("cy"));
        }

        Assert.Equal(["b signed by ann: entry 1", "b signed by bob: entry 2", "b signed by cy: entry 3"], capture.Of(Category));
    }

    [Fact]
    public async Task A_component_whose_constructor_takes_a_service_is_refused_at_start_without_services_naming_the_fix()
    {
        await using var store = SqliteLogStore.Open(Path.Combine(_directory, "none.db"));
        var registry = new ComponentRegistry().Add<IGuestBook, GuestBook>();
        var e = Assert.Throws<ComponentDefinitionException>(() => new LocalRuntime(store, registry));
        Assert.Contains("GuestBook has no parameterless constructor (it takes IGreeter greeter)", e.Message);
        Assert.Contains("AddMiddlewareSilo", e.Message);

        // With a container that lacks the service, the start names the service to register.
        registry.Services = new ServiceCollection().BuildServiceProvider();
        e = Assert.Throws<ComponentDefinitionException>(() => new LocalRuntime(store, registry));
        Assert.Contains("takes IGreeter greeter, which the host's container does not provide", e.Message);
    }

    [Fact]
    public async Task Without_a_logger_factory_a_component_logs_to_nowhere_and_still_runs()
    {
        await using var store = SqliteLogStore.Open(Path.Combine(_directory, "quiet.db"));
        var registry = new ComponentRegistry { Services = new ServiceCollection().AddSingleton<IGreeter>(new Greeter("Hi")).BuildServiceProvider() }.Add<IGuestBook, GuestBook>();
        await using var runtime = new LocalRuntime(store, registry);
        Assert.Equal(1, await runtime.GetComponent<IGuestBook>("q").Sign("ann"));
    }
}
