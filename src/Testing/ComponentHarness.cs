using System.Reflection;
using System.Text.Json;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Recovery.Log;
using Middleware.Recovery.Procedures;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Sqlite;
using Middleware.Recovery.Storage;

namespace Middleware.Testing;

/// <summary>
/// Runs components in-process on the real runtime (<see cref="LocalRuntime"/>), the real serializer and state checks,
/// and a real store (memory or SQLite), with back ends on in-memory SQLite where work delegates really run. It crashes
/// the runtime when asked (<see cref="CrashAsync"/>, <see cref="CrashInNextTurn"/>) or after every call
/// (<see cref="HarnessOptions.CrashAfterEachTurn"/>), so a test sees what production sees after a crash: the log replayed
/// from the latest checkpoint. Works with any test framework: a failed check is an exception.
/// </summary>
public sealed class ComponentHarness : IAsyncDisposable
{
    private readonly HarnessOptions _options;
    private readonly Dictionary<string, HarnessBackend> _backends;
    private readonly string? _tempDirectory;
    private readonly string? _sqlitePath;
    private readonly SemaphoreSlim _oneAtATime = new(1, 1);
    private readonly Dictionary<ComponentId, long> _checked = [];
    private readonly string _ownerId = "harness";
    private ILogStore _store;
    private FaultInjectingStore _faults;
    private LocalRuntime _runtime;
    private long _requests;
    private bool _crashInNextTurn;

    private ComponentHarness(HarnessOptions options, Dictionary<string, HarnessBackend> backends, string? tempDirectory, string? sqlitePath, ILogStore store)
    {
        _options = options;
        _backends = backends;
        _tempDirectory = tempDirectory;
        _sqlitePath = sqlitePath;
        _store = store;
        _faults = new FaultInjectingStore(store);
        _runtime = NewRuntime();
    }

    /// <summary>
    /// Starts a harness: <c>await using var h = await ComponentHarness.StartAsync(o => o.AddComponent&lt;ICart, Cart&gt;().UseSqlite());</c>.
    /// A component type the runtime would refuse (its interface or a state type that does not survive a checkpoint) throws
    /// <see cref="ComponentDefinitionException"/> here, naming the member and the fix.
    /// </summary>
    public static Task<ComponentHarness> StartAsync(Action<HarnessOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        var options = new HarnessOptions();
        configure(options);
        if (!options.Registry.Types.Any())
            throw new ArgumentException("The harness has no component types: add them with o.AddComponent<IYour, Your>() or o.AddComponentsFrom(assembly).", nameof(configure));
        if (options.CheckpointEveryTurns < 1)
            throw new ArgumentException($"HarnessOptions.CheckpointEveryTurns is {options.CheckpointEveryTurns}; set it to 1 or more (default 1000).", nameof(configure));
        var backends = new Dictionary<string, HarnessBackend>(StringComparer.Ordinal);
        foreach (var (name, setup) in options.Backends) backends[name] = HarnessBackend.Create(name, setup);
        string? temp = null, path = null;
        ILogStore store;
        if (options.Sqlite)
        {
            if (options.SqlitePath is null) temp = Directory.CreateTempSubdirectory("mw-harness-").FullName;
            path = options.SqlitePath ?? Path.Combine(temp!, "log.db");
            store = SqliteLogStore.Open(path);
        }
        else
        {
            store = new MemoryLogStore();
        }

        return Task.FromResult(new ComponentHarness(options, backends, temp, path, store));
    }

    /// <summary>The runtime as of now (a crash replaces it).</summary>
    public LocalRuntime Runtime => _runtime;

    /// <summary>The log store (the same one across crashes; reopened after each crash when it is a SQLite file).</summary>
    public ILogStore Store => _store;

    /// <summary>How many times the harness crashed the runtime.</summary>
    public int Crashes { get; private set; }

    /// <summary>The JSON settings of arguments, replies and state (the registry's, as in production).</summary>
    public JsonSerializerOptions Json => _options.Registry.Json;

    /// <summary>The id of the component <typeparamref name="T"/> with <paramref name="key"/> (<c>Type/key</c>).</summary>
    public ComponentId Id<T>(string key)
        where T : IRecoverableComponent => new(_options.Registry.Get(typeof(T)).Name, key);

    /// <summary>A proxy of the component <typeparamref name="T"/> with <paramref name="key"/>: each call is a new request, through the current runtime.</summary>
    public T Get<T>(string key)
        where T : IRecoverableComponent =>
        ComponentProxy.Create<T>(InvokeAsync, key, () => $"{_ownerId}:{Interlocked.Increment(ref _requests)}", json: Json);

    /// <summary>A proxy whose calls all carry <paramref name="requestId"/>: one request, retried as often as a test likes (exactly once).</summary>
    public T Call<T>(string key, string requestId, string? sessionId = null)
        where T : IRecoverableComponent
    {
        ArgumentException.ThrowIfNullOrEmpty(requestId);
        return ComponentProxy.Create<T>(InvokeAsync, key, () => requestId, sessionId, Json);
    }

    /// <summary>The back end added with <see cref="HarnessOptions.AddSqliteBackend"/> as <paramref name="name"/>.</summary>
    public HarnessBackend Backend(string name) =>
        _backends.TryGetValue(name, out var backend)
            ? backend
            : throw new ArgumentException($"The harness has no back end named '{name}' (it has: {(_backends.Count == 0 ? "none" : string.Join(", ", _backends.Keys.Order()))}); add it with o.AddSqliteBackend(\"{name}\").", nameof(name));

    /// <summary>
    /// Crashes the process, as far as components can tell: every activation is dropped without writing anything (no
    /// checkpoint), the store is kept (a SQLite file is closed and opened again), and a new runtime starts on it. The next
    /// call of each component recovers it from its latest checkpoint and replays its log, as after a real crash.
    /// </summary>
    public async Task CrashAsync()
    {
        await _oneAtATime.WaitAsync().ConfigureAwait(false);
        try
        {
            await CrashCoreAsync().ConfigureAwait(false);
        }
        finally
        {
            _oneAtATime.Release();
        }
    }

    /// <summary>
    /// The next logged turn's record never reaches the store: the process dies after everything the turn did outside
    /// (component calls, back-end work) and before its reply. The harness then crashes the runtime and retries the request
    /// with the same request id, as a client does, so the turn runs again (completed from its partial record when it made
    /// outbound calls). Side effects that are not exactly-once show up twice.
    /// </summary>
    public void CrashInNextTurn()
    {
        _crashInNextTurn = true;
        _faults.Inject(FaultMode.Fail, count: 1, where: IsTurnRecord);
    }

    /// <summary>Writes a checkpoint of <paramref name="id"/> now (activating it first); fails when its state does not survive one.</summary>
    public async Task CheckpointAsync(ComponentId id)
    {
        await _runtime.CheckpointAsync(id).ConfigureAwait(false);
        // Refused (nothing written) when the state does not read back as written; a turn in doubt defers it instead.
        var head = await _store.GetHeadAsync(id.ToString()).ConfigureAwait(false);
        if (head is not null && head.CheckpointSeq < head.LastSeq && !_runtime.HasTurnInDoubt(id))
            throw await CheckpointRefusedAsync(id).ConfigureAwait(false);
    }

    /// <summary>Writes a checkpoint of the component <typeparamref name="T"/> with <paramref name="key"/> now.</summary>
    public Task CheckpointAsync<T>(string key)
        where T : IRecoverableComponent => CheckpointAsync(Id<T>(key));

    /// <summary>
    /// The state of <paramref name="id"/> as recovery would rebuild it now (latest checkpoint plus replay of the log), after
    /// the round trip through JSON every checkpoint makes: a state that does not survive it throws
    /// <see cref="RecoveryCheckException"/>, as a checkpoint in production would be refused. A copy: changing it changes nothing.
    /// </summary>
    public async Task<TState> StateOfAsync<TState>(ComponentId id)
        where TState : class, new()
    {
        var type = _options.Registry.Get(id.Type);
        if (type.StateType != typeof(TState))
            throw new ArgumentException($"{id} has state type {type.StateType.FullName}, not {typeof(TState).FullName}.", nameof(TState));
        var head = await _store.GetHeadAsync(id.ToString()).ConfigureAwait(false);
        if (head is null) return new TState();
        var loaded = await ReplayAsync(type, id, head.LastSeq).ConfigureAwait(false);
        var (bytes, loss) = StateRoundTrip.Write(StateOf(loaded.Grain, type), type.StateType, Json);
        if (loss is not null)
            throw new RecoveryCheckException(RecoveryCheck.Checkpoint, id, loaded.LastSeq, LastMethod(loaded), "a state that reads back as written", loss.Describe(), StateFix);
        return JsonSerializer.Deserialize<TState>(bytes, Json)!;
    }

    /// <summary>The state of the component <typeparamref name="T"/> with <paramref name="key"/> (see <see cref="StateOfAsync{TState}(ComponentId)"/>).</summary>
    public Task<TState> StateOfAsync<T, TState>(string key)
        where T : IRecoverableComponent
        where TState : class, new() => StateOfAsync<TState>(Id<T>(key));

    private const string StateFix = "Checkpoints store state as JSON and recovery reads it back: use public get/set properties of JSON-serializable types (see \"State\" in the README).";

    private static bool IsTurnRecord(AppendGroup group) => group.Records.Any(r => r.Kind == RecordKind.Turn);

    private async Task<ComponentReply> InvokeAsync(Invocation invocation)
    {
        await _oneAtATime.WaitAsync().ConfigureAwait(false);
        try
        {
            var unrecorded = _backends.Values.Sum(b => b.UnrecordedCount);
            ComponentReply reply;
            var faulted = _faults.Faulted;
            try
            {
                reply = await _runtime.InvokeAsync(invocation).ConfigureAwait(false);
            }
            catch (TurnNotDurableException) when (_crashInNextTurn && _faults.Faulted > faulted)
            {
                // The injected crash: the process died before the turn's record was durable. Recover and retry the request.
                _crashInNextTurn = false;
                await CrashCoreAsync().ConfigureAwait(false);
                reply = await _runtime.InvokeAsync(invocation).ConfigureAwait(false);
            }

            if (_crashInNextTurn && _faults.Faulted > faulted)
            {
                // A turn of another component (a callee) took the crash and the caller's turn completed meanwhile: crash anyway.
                _crashInNextTurn = false;
                await CrashCoreAsync().ConfigureAwait(false);
            }

            CheckBackendWrites(invocation, unrecorded);
            if (_options.CrashAfterEachTurn)
            {
                await CheckRecoveryAsync(invocation, reply).ConfigureAwait(false);
                await CrashCoreAsync().ConfigureAwait(false);
            }

            return reply;
        }
        finally
        {
            _oneAtATime.Release();
        }
    }

    private void CheckBackendWrites(Invocation invocation, int before)
    {
        if (_backends.Values.Sum(b => b.UnrecordedCount) == before) return;
        var write = _backends.Values.SelectMany(b => b.UnrecordedWrites).Last();
        throw new InvalidOperationException(
            $"{invocation.Target}.{invocation.Method} (request {invocation.RequestId}) wrote to back end '{write.Backend}' (table {string.Join(", ", write.Tables)}) outside an idempotent procedure, " +
            "in an exploratory read (Backend(name).ReadAsync). That write is not exactly-once: a turn re-executed after a crash writes again, and replay never sees it. " +
            "Do writes in the work delegate of Backend(name).ExecuteAsync(procedure, args, work => ...), on work.Transaction.");
    }

    /// <summary>
    /// Replays every component that logged since its last check and compares with what ran: recorded replies (and the reply
    /// the caller got), then the live state, which the runtime writes as a checkpoint (refused when it does not round-trip).
    /// </summary>
    private async Task CheckRecoveryAsync(Invocation invocation, ComponentReply reply)
    {
        foreach (var head in await _store.ListComponentsAsync().ConfigureAwait(false))
        {
            var id = ComponentId.Parse(head.ComponentId);
            if (head.LastSeq <= _checked.GetValueOrDefault(id) || !_options.Registry.TryGet(id.Type, out var type)) continue;
            if (_runtime.HasTurnInDoubt(id)) continue; // completed first by the next activation; checked once it is final

            // 1. What recovery does: the latest checkpoint (the state the previous check wrote), then the new turns replayed.
            var loaded = await ReplayAsync(type, id, head.LastSeq).ConfigureAwait(false);
            if (id == invocation.Target && loaded.Turns.LastOrDefault(t => t.Turn.RequestId == invocation.RequestId) is { Turn: not null } mine
                && !mine.Turn.Reply.SameAs(reply))
            {
                throw new RecoveryCheckException(RecoveryCheck.Reply, id, mine.Seq, mine.Turn.Method, $"the reply the caller got, {reply}", $"recorded {mine.Turn.Reply}",
                    "The runtime returned a reply other than the one it recorded; report this as a bug of the middleware.");
            }

            // 2. The live state, as a checkpoint writes it: refused (nothing written) when it does not survive JSON.
            await CheckpointAsync(id).ConfigureAwait(false);
            var checkpoint = await _store.GetCheckpointAsync(id.ToString()).ConfigureAwait(false);
            if (checkpoint is null || checkpoint.Seq < loaded.LastSeq) continue; // in doubt: not checkpointed, checked later
            var replayed = JsonSerializer.SerializeToUtf8Bytes(StateOf(loaded.Grain, type), type.StateType, Json);
            if (JsonDifference.Between(checkpoint.State.Span, replayed) is { } difference)
            {
                throw new RecoveryCheckException(RecoveryCheck.State, id, loaded.LastSeq, LastMethod(loaded),
                    $"{difference.Path} = {difference.First} (live)", $"{difference.Second} (replayed)",
                    "The turn changed state with a value replay does not reproduce: read the clock, GUIDs and random numbers through Context " +
                    "(Context.UtcNow, Context.NewGuid(), Context.Random), never DateTime.Now, Guid.NewGuid() or new Random(); keep all data in State, not in fields of the component.");
            }

            _checked[id] = head.LastSeq;
        }
    }

    private async Task<Replayer.Loaded> ReplayAsync(ComponentTypeInfo type, ComponentId id, long upToSeq)
    {
        try
        {
            return await Replayer.LoadAsync(_store, type, id, upToSeq, Json).ConfigureAwait(false);
        }
        catch (ReplayDivergenceException e)
        {
            throw new RecoveryCheckException(RecoveryCheck.Reply, e.Component, e.Seq, e.Method, e.Expected, e.Actual,
                "Replay after a crash would quarantine this component. Read the clock, GUIDs and random numbers through Context " +
                "(Context.UtcNow, Context.NewGuid(), Context.Random), never DateTime.Now, Guid.NewGuid() or new Random(); keep all data in State.", e);
        }
    }

    private async Task<RecoveryCheckException> CheckpointRefusedAsync(ComponentId id)
    {
        var type = _options.Registry.Get(id.Type);
        var head = await _store.GetHeadAsync(id.ToString()).ConfigureAwait(false);
        var loaded = await ReplayAsync(type, id, head?.LastSeq ?? 0).ConfigureAwait(false);
        var (_, loss) = StateRoundTrip.Write(StateOf(loaded.Grain, type), type.StateType, Json);
        return new RecoveryCheckException(RecoveryCheck.Checkpoint, id, loaded.LastSeq, LastMethod(loaded), "a state that reads back as written",
            loss?.Describe() ?? "a state the runtime refused to checkpoint", StateFix);
    }

    private static string LastMethod(Replayer.Loaded loaded) => loaded.Turns.Count == 0 ? "(checkpoint)" : loaded.Turns[^1].Turn.Method;

    private static object StateOf(object grain, ComponentTypeInfo type) =>
        typeof(RecoverableGrain<>).MakeGenericType(type.StateType)
            .GetProperty("State", BindingFlags.Instance | BindingFlags.NonPublic)!
            .GetValue(grain)!;

    private async Task CrashCoreAsync()
    {
        _runtime.DropAll("the test harness crashed the runtime");
        await _runtime.DisposeAsync().ConfigureAwait(false);
        _faults.Inject(FaultMode.None);
        if (_sqlitePath is not null)
        {
            await _store.DisposeAsync().ConfigureAwait(false);
            _store = SqliteLogStore.Open(_sqlitePath);
        }

        _faults = new FaultInjectingStore(_store);
        if (_crashInNextTurn) _faults.Inject(FaultMode.Fail, count: 1, where: IsTurnRecord);
        _runtime = NewRuntime();
        Crashes++;
    }

    private LocalRuntime NewRuntime()
    {
        var environment = new RuntimeEnvironment { TimeProvider = _options.TimeProvider, Logger = _options.Logger };
        foreach (var backend in _backends.Values) environment.Backends.Add(backend.Name, backend.DataSource, BackendDialect.Sqlite);
        environment.Backends.ConfigurationHint = name => $"add it to the harness with o.AddSqliteBackend(\"{name}\")";
        var options = new RuntimeOptions { OwnerId = _ownerId };
        if (_options.CrashAfterEachTurn)
        {
            // The harness checkpoints after every call itself, after replaying the new turns on the previous checkpoint.
            options.CheckpointEveryTurns = int.MaxValue;
            options.CheckpointInterval = TimeSpan.FromDays(3650);
        }
        else
        {
            options.CheckpointEveryTurns = _options.CheckpointEveryTurns;
        }

        return new LocalRuntime(_faults, _options.Registry, options, environment);
    }

    /// <summary>Stops the runtime, closes the store and the back ends, and deletes the temporary store directory.</summary>
    public async ValueTask DisposeAsync()
    {
        await _runtime.DisposeAsync().ConfigureAwait(false);
        await _store.DisposeAsync().ConfigureAwait(false);
        foreach (var backend in _backends.Values) await backend.DisposeAsync().ConfigureAwait(false);
        if (_tempDirectory is not null)
        {
            try
            {
                Directory.Delete(_tempDirectory, recursive: true);
            }
            catch (IOException)
            {
                // A file still held open: the directory is in the system's temporary folder.
            }
        }

        _oneAtATime.Dispose();
    }
}
