namespace Middleware.Grains;

/// <summary>
/// Builds a component for a plain unit test, without any runtime, log or store.
/// </summary>
/// <remarks>
/// Nothing here serializes, replays or runs back-end work, so it cannot catch what breaks components after a crash (a clock
/// read outside the context, state a checkpoint loses, side effects that are not exactly-once). For that, use
/// <c>ComponentHarness</c> of the test kit (<c>Middleware.Testing</c>, src/Testing): the real runtime and store, crashes and
/// replay checks, back ends on in-memory SQLite.
/// </remarks>
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
/// A context for unit tests: a settable clock, sequential GUIDs, a seeded random generator, settable session
/// items, back ends by name, and fakes (or real test instances) for the components a component calls.
/// </summary>
public sealed class TestComponentContext(ComponentId id, DateTime? utcNow = null, int seed = 42) : IComponentContext
{
    private readonly Dictionary<Type, Func<string, object>> _factories = [];
    private int _guidCounter;

    /// <inheritdoc />
    public ComponentId Id { get; } = id;

    /// <inheritdoc />
    public string RequestId { get; set; } = "test:1";

    /// <inheritdoc />
    public long Seq { get; set; } = 1;

    /// <inheritdoc />
    public string? SessionId { get; set; }

    /// <summary>The session items <see cref="GetSessionItemAsync"/> returns (a missing key reads null).</summary>
    public Dictionary<string, string?> SessionItems { get; } = new(StringComparer.Ordinal);

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

    /// <inheritdoc />
    public Task<string?> GetSessionItemAsync(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return Task.FromResult(SessionItems.GetValueOrDefault(key));
    }

    /// <summary>
    /// Components that <see cref="Call{T}"/> returns, by interface and key: a fake, or a component made with
    /// <see cref="ComponentTesting.Create{TGrain, TState}"/>. Fill it with <see cref="AddComponent{T}(string, T)"/>.
    /// </summary>
    public Dictionary<(Type Interface, string Key), object> Components { get; } = [];

    /// <summary>Makes <see cref="Call{T}"/> return <paramref name="component"/> for <paramref name="key"/>.</summary>
    public TestComponentContext AddComponent<T>(string key, T component)
        where T : IRecoverableComponent
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(component);
        Components[(typeof(T), key)] = component;
        return this;
    }

    /// <summary>
    /// Makes <see cref="Call{T}"/> ask <paramref name="factory"/> for keys without their own entry; the component it
    /// returns is kept for later calls with the same key.
    /// </summary>
    public TestComponentContext AddComponents<T>(Func<string, T> factory)
        where T : IRecoverableComponent
    {
        ArgumentNullException.ThrowIfNull(factory);
        _factories[typeof(T)] = key => factory(key);
        return this;
    }

    /// <summary>Every call a component made through <see cref="Call{T}"/>, in order: interface and key.</summary>
    public List<(Type Interface, string Key)> Calls { get; } = [];

    /// <inheritdoc />
    public T Call<T>(string key)
        where T : IRecoverableComponent
    {
        ArgumentNullException.ThrowIfNull(key);
        Calls.Add((typeof(T), key));
        if (Components.TryGetValue((typeof(T), key), out var component)) return (T)component;
        if (_factories.TryGetValue(typeof(T), out var factory))
        {
            var made = factory(key);
            Components[(typeof(T), key)] = made;
            return (T)made;
        }

        throw new InvalidOperationException($"No {typeof(T).Name} with key '{key}' in this test context; add one with TestComponentContext.AddComponent<{typeof(T).Name}>(\"{key}\", fake) or AddComponents<{typeof(T).Name}>(key => ...).");
    }
}
