using Middleware.Grains;
using Middleware.Recovery.Runtime;

namespace Middleware.Testing;

/// <summary>
/// What a <see cref="ComponentHarness"/> runs: the component types, the store, the back ends, and when it crashes the
/// runtime. Filled in the callback of <see cref="ComponentHarness.StartAsync"/>.
/// </summary>
public sealed class HarnessOptions
{
    internal ComponentRegistry Registry { get; } = new();

    internal Dictionary<string, string?> Backends { get; } = new(StringComparer.Ordinal);

    internal string? SqlitePath { get; private set; }

    internal bool Sqlite { get; private set; }

    /// <summary>
    /// After every call through a proxy of the harness: replay each component that logged turns during the call from its
    /// latest checkpoint, check that the replay reproduces the recorded replies and the reply the caller got, checkpoint the
    /// live state (refused, like in production, when it does not survive JSON) and compare it with the replayed state, then
    /// crash (drop every activation, keep the store, rebuild the runtime), so the next call recovers from that checkpoint.
    /// A difference throws <see cref="RecoveryCheckException"/> naming component, seq, method, expected and actual.
    /// Calls through the harness then run one at a time. Default false.
    /// </summary>
    public bool CrashAfterEachTurn { get; set; }

    /// <summary>
    /// The runtime's checkpoint period in turns (default 1000, as in production). Ignored with <see cref="CrashAfterEachTurn"/>,
    /// where the harness checkpoints after every call itself.
    /// </summary>
    public int CheckpointEveryTurns { get; set; } = 1000;

    /// <summary>The clock behind <c>Context.UtcNow</c> (default: the system clock; a fake one makes times exact in assertions).</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>
    /// Where the engine writes what an operator would see (refused checkpoints, divergences, back-end failures). Default:
    /// nowhere; pass a logger of your test framework's output to see them.
    /// </summary>
    public Microsoft.Extensions.Logging.ILogger Logger { get; set; } = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

    /// <summary>Registers a component interface and its class; throws at once when the runtime would refuse them (interface rules, state types that do not survive a checkpoint).</summary>
    public HarnessOptions AddComponent<TInterface, TGrain>()
        where TInterface : IRecoverableComponent
        where TGrain : class, TInterface, new()
    {
        Registry.Add<TInterface, TGrain>();
        return this;
    }

    /// <summary>Registers every component class of <paramref name="assembly"/>, as a silo loading it would.</summary>
    public HarnessOptions AddComponentsFrom(System.Reflection.Assembly assembly)
    {
        ArgumentNullException.ThrowIfNull(assembly);
        Registry.AddAssembly(assembly);
        return this;
    }

    /// <summary>Keeps the log in memory (the default): the fastest store; crashes keep it, as a real store survives a process.</summary>
    public HarnessOptions UseMemoryStore()
    {
        Sqlite = false;
        SqlitePath = null;
        return this;
    }

    /// <summary>
    /// Keeps the log in a real SQLite store file, the production default: at <paramref name="path"/>, or in a temporary
    /// directory the harness deletes when disposed. A crash closes the file and opens it again.
    /// </summary>
    public HarnessOptions UseSqlite(string? path = null)
    {
        Sqlite = true;
        SqlitePath = path;
        return this;
    }

    /// <summary>
    /// Adds a back end named <paramref name="name"/>: an in-memory SQLite database that lives as long as the harness (crashes
    /// keep it, like an external database), on which <c>Context.Backend(name).ExecuteAsync</c> really runs the work delegate
    /// under the idempotent-procedure contract. <paramref name="setupSql"/> (optional) runs once first, e.g. CREATE TABLE.
    /// Inspect it with <see cref="ComponentHarness.Backend"/>.
    /// </summary>
    public HarnessOptions AddSqliteBackend(string name, string? setupSql = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (!Backends.TryAdd(name, setupSql))
            throw new ArgumentException($"A back end named '{name}' is already added to this harness.", nameof(name));
        return this;
    }
}
