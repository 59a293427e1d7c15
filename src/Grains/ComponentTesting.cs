namespace Middleware.Grains;

/// <summary>
/// Builds a component for a plain unit test, without any runtime, log or store.
/// </summary>
public static class ComponentTesting
{
    /// <summary>
    /// Creates <typeparamref name="TGrain"/> with the given state (a new one when null) and context
    /// (a <see cref="TestComponentContext"/> for <c>Type/test</c> when null).
    /// </summary>
    public static TGrain Create<TGrain, TState>(TState? state = null, IComponentContext? context = null)
        where TGrain : RecoverableGrain<TState>, new()
        where TState : class, new()
    {
        var grain = new TGrain
        {
            State = state ?? new TState(),
            Context = context ?? new TestComponentContext(new ComponentId(typeof(TGrain).Name, "test")),
        };
        return grain;
    }

    /// <summary>The state of a component created for a test, for assertions.</summary>
    public static TState StateOf<TState>(RecoverableGrain<TState> grain)
        where TState : class, new() => grain.State;
}

/// <summary>
/// A context for unit tests: a settable clock, sequential GUIDs and a seeded random generator.
/// </summary>
public sealed class TestComponentContext(ComponentId id, DateTime? utcNow = null, int seed = 42) : IComponentContext
{
    private int _guidCounter;

    /// <inheritdoc />
    public ComponentId Id { get; } = id;

    /// <inheritdoc />
    public string RequestId { get; set; } = "test:1";

    /// <inheritdoc />
    public long Seq { get; set; } = 1;

    /// <inheritdoc />
    public DateTime UtcNow { get; set; } = utcNow ?? new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    /// <inheritdoc />
    public Guid NewGuid()
    {
        Span<byte> bytes = stackalloc byte[16];
        BitConverter.TryWriteBytes(bytes, ++_guidCounter);
        return new Guid(bytes);
    }

    /// <inheritdoc />
    public Random Random { get; } = new(seed);

    /// <summary>Back ends a test provides by name (for example a fake that records calls).</summary>
    public Dictionary<string, IBackend> Backends { get; } = new(StringComparer.Ordinal);

    /// <inheritdoc />
    public IBackend Backend(string name) =>
        Backends.TryGetValue(name, out var backend)
            ? backend
            : throw new InvalidOperationException($"No back end named '{name}' in this test context; add one to TestComponentContext.Backends.");
}
