using System.Collections.Concurrent;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;

namespace Middleware.Recovery.Runtime;

/// <summary>
/// Runs recoverable components in this process on a log store: the activation table, the group-commit
/// writer, and the entry point for requests. Turns of one component run one at a time; different
/// components run in parallel; every reply is released only after its turn record is durable.
/// </summary>
public sealed class LocalRuntime : IAsyncDisposable
{
    private const int MaxActivationAttempts = 3;
    private readonly ConcurrentDictionary<ComponentId, Activation> _activations = new();
    private readonly GroupCommitWriter _writer;
    private readonly RuntimeOptions _options;
    private readonly RuntimeServices _services;
    private readonly CancellationTokenSource _stopping = new();
    private readonly InDoubtWatch _inDoubtWatch;
    private readonly ConcurrentDictionary<ComponentId, ComponentQuarantinedException> _quarantined = new();
    private readonly string _start = Guid.NewGuid().ToString("N")[..8];
    private readonly ActivationCollector _collector;
    private long _requestCounter;
    private int _live;

    /// <summary>
    /// Starts a runtime on <paramref name="store"/> with the component types of <paramref name="registry"/>; validates the
    /// options (throws <see cref="ArgumentException"/> naming the setting). <paramref name="environment"/> says what else
    /// it talks to (back ends, component calls, ownership, session items, clock); the defaults suit one process.
    /// </summary>
    public LocalRuntime(ILogStore store, ComponentRegistry registry, RuntimeOptions? options = null, RuntimeEnvironment? environment = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(registry);
        _options = options ?? new RuntimeOptions();
        _options.Validate();
        var env = environment ?? new RuntimeEnvironment();
        ArgumentNullException.ThrowIfNull(env.TimeProvider, "RuntimeEnvironment.TimeProvider");
        // Every class must be creatable (parameterless, or services the registry's container provides) before any request.
        ComponentActivator.Check(registry);
        Store = store;
        Registry = registry;
        _writer = new GroupCommitWriter(store, _options.MaxBatchSize, env.CommitObserver);
        _services = new RuntimeServices(store, _writer, _options, env, registry, env.Caller ?? new InProcessCaller(this),
            env.Ownership ?? new StoreOwnership(store, _options.OwnerId), Counters, _stopping.Token);
        // Calls leave before the caller's partial record is durable only where every link keeps their order (CallOrder.cs).
        _services.OrderedLocalCalls = _options.OrderLocalCalls && _writer.OrdersDependencies && _services.Caller is IOrderedLocalCaller;
        Mirrors = new Mirrors(_services, IsActive);
        _services.Mirrors = Mirrors;
        WaitFor = new WaitForGraph(IsActiveHere, env.TimeProvider, _stopping.Token, IsActive) { Remote = env.Caller };
        _services.WaitFor = WaitFor;
        _inDoubtWatch = new InDoubtWatch(
            (id, ct) => GetActivationAsync(id, Registry.Get(id.Type), ct),
            (id, ct) => InDoubtWatch.EndsInPartialAsync(store, id.ToString(), ct),
            env.TimeProvider,
            _stopping.Token);
        _collector = new ActivationCollector(this, _options, env.TimeProvider, env.Logger, _stopping.Token);
        // A turn's durable wait that failed (store failure, fenced) reports its activation here, as InvokeSlowAsync's catch
        // does: also for replies returned without an async method of the runtime's around them (InvokeAsync's live path).
        _services.OnTurnNotDurable = activation =>
        {
            Discard(activation);
            if (activation.BrokeOnStoreFailure) _inDoubtWatch.Note(activation.Id);
        };
    }

    /// <summary>The log store.</summary>
    public ILogStore Store { get; }

    /// <summary>The registered component types.</summary>
    public ComponentRegistry Registry { get; }

    /// <summary>The owner id this runtime claims components with.</summary>
    public string OwnerId => _options.OwnerId;

    /// <summary>True when <paramref name="id"/> is active here with a turn in doubt that it has not completed yet.</summary>
    public bool HasTurnInDoubt(ComponentId id) =>
        _activations.TryGetValue(id, out var activation) && activation.IsActive && activation.HasTurnInDoubt;

    /// <summary>Number of live activations.</summary>
    public int ActivationCount => Volatile.Read(ref _live);

    /// <summary>The components with a live activation here (activated, not broken, not deactivated).</summary>
    public IReadOnlyList<ComponentId> ActiveComponents
    {
        get
        {
            var ids = new List<ComponentId>();
            foreach (var (id, activation) in _activations)
            {
                if (activation.IsActive) ids.Add(id);
            }

            return ids;
        }
    }

    /// <summary>True when a live activation of <paramref name="id"/> exists here (activated, not broken, not deactivated).</summary>
    public bool IsActive(ComponentId id) => _activations.TryGetValue(id, out var activation) && activation.IsActive;

    /// <summary>
    /// Standby activations this runtime keeps of components other runtimes own (process-level mirroring): a silo feeds
    /// them what owners ship, and an activation of such a component here starts warm from its standby.
    /// </summary>
    public Mirrors Mirrors { get; }

    /// <summary>The wait-for edges of calls made by this runtime's turns (deadlock detection).</summary>
    internal WaitForGraph WaitFor { get; }

    private bool IsActiveHere(string id)
    {
        var slash = id.IndexOf('/');
        return slash > 0 && _activations.TryGetValue(new ComponentId(id[..slash], id[(slash + 1)..]), out var activation) && activation.IsActive;
    }

    /// <summary>Whether a turn of <paramref name="id"/> waits on a component call now (a handover would wait for it).</summary>
    public bool IsWaitingOnCall(ComponentId id) => WaitFor.IsWaiting(id.ToString());

    /// <summary>Component calls of this runtime's turns that are waiting now.</summary>
    public int WaitingCalls => WaitFor.Count;

    /// <summary>
    /// A deadlock probe from another silo (see <see cref="IComponentCaller.ProbeAsync"/>): the wait-for edges from
    /// <paramref name="component"/> on, as far as they can be followed, never through <paramref name="visited"/>.
    /// </summary>
    public Task<IReadOnlyList<WaitEdge>> ProbeAsync(ComponentId component, IReadOnlyCollection<string> visited, CancellationToken cancellationToken = default) =>
        WaitFor.FollowAsync(component.ToString(), visited, askRemoteForStart: false, cancellationToken);

    /// <summary>What this runtime counted for operators: failures by cause, quarantines, refused checkpoints.</summary>
    public RuntimeCounters Counters { get; } = new();

    /// <summary>Store transactions and records the group-commit writer has written.</summary>
    public (long Batches, long Records) WriterStats => (_writer.Batches, _writer.Records);

    /// <summary>
    /// Executes a request exactly once: returns the recorded reply when its request id already ran on the
    /// component, attaches to it when it is running, and otherwise runs it as a new turn. The returned reply
    /// is durable. Throws <see cref="TurnNotDurableException"/> when the store failed (retry with the same id).
    /// </summary>
    public Task<ComponentReply> InvokeAsync(Invocation invocation, CancellationToken cancellationToken = default)
    {
        // A call carrying its caller's partial record (CallOrder.cs): the callee's records are queued behind it in this
        // runtime's writer. One from another writer, or whose record was already refused, waits for it here first.
        if (invocation?.DurableAfter is { } after && !(after is GroupCommitWriter.WriteItem item && ReferenceEquals(item.Writer, _writer)
            && !(item.Task.IsCompleted && !(item.Task.IsCompletedSuccessfully && item.Task.Result == AppendStatus.Ok))))
            return InvokeAfterCallerAsync(invocation, cancellationToken);

        // The common case: a live activation whose turn runs at once and then only waits for its record to be durable. Its
        // reply task (the activation's own durable wait) is returned as it is: no async method of the runtime's around it.
        // The activation counts that wait as busy (Activation.IsIdle), and a failed wait reports the activation broken
        // here (OnTurnNotDurable) exactly as the catch below would.
        if (invocation is not null && !string.IsNullOrEmpty(invocation.RequestId) && !invocation.RequestId.Contains('\0') && TryGetReady(invocation.Target) is { } live
            && live.Type.Methods.TryGetValue(invocation.Method, out var method) && !CallChain.Contains(invocation.Caller, invocation.Target))
        {
            live.Enter(_services.Time);
            _collector.Touch(live);
            var reply = live.TryExecuteLive(invocation, method, out var durableOnly);
            if (reply is null)
            {
                live.Leave(); // nothing ran: the general path below
            }
            else if (durableOnly)
            {
                live.Leave();
                return reply;
            }
            else
            {
                return InvokeSlowAsync(invocation, (live, reply), cancellationToken);
            }
        }

        return InvokeSlowAsync(invocation, null, cancellationToken);
    }

    /// <summary>
    /// Refuses a request id with U+0000 (NUL): stores keep ids as C strings (SQLite binds text up to the first NUL), so
    /// "pay\0a" and "pay\0b" would be one request there, and a fence for one would fence the other.
    /// </summary>
    private static void RefuseNul(string requestId, string parameter)
    {
        if (requestId.Contains('\0'))
            throw new ArgumentException($"A request id must not contain U+0000 (NUL): '{requestId.Replace("\0", "\\0", StringComparison.Ordinal)}'; a store would cut it there, and two requests would be one. Use printable ids (a session's look like SESSION:n).", parameter);
    }

    /// <summary>
    /// <see cref="InvokeAsync"/> in general: looks the activation up (activating it), runs the request, and retries on a new
    /// activation when one broke under it. <paramref name="first"/> is an attempt already under way on a live activation
    /// (entered; its reply still to be awaited).
    /// </summary>
    private async Task<ComponentReply> InvokeSlowAsync(Invocation? invocation, (Activation Activation, Task<ComponentReply> Reply)? first, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(invocation);
        if (string.IsNullOrEmpty(invocation.RequestId))
            throw new ArgumentException("Every request needs a request id; generate one per request and reuse it on retries.", nameof(invocation));
        RefuseNul(invocation.RequestId, nameof(invocation));
        var type = Registry.Get(invocation.Target.Type);
        if (!type.Methods.TryGetValue(invocation.Method, out var method))
            throw new UnknownComponentException($"{type.InterfaceType.Name} has no method '{invocation.Method}'; it has: {string.Join(", ", type.Methods.Keys.Order())}.");
        // The receiving side of cycle detection (covers callers in other silos): the target is waiting on this call.
        if (CallChain.Contains(invocation.Caller, invocation.Target))
            throw new CallCycleException(invocation.Caller, invocation.Target);
        for (var attempt = 1; ; attempt++)
        {
            Activation activation;
            Task<ComponentReply> reply;
            if (first is { } started)
            {
                (activation, reply) = started;
                first = null;
            }
            else
            {
                // A live activation is taken as it is: no task for the lookup.
                var ready = TryGetReady(invocation.Target);
                var entered = false;
                if (ready is null)
                {
                    try
                    {
                        // With a request id GetActivationAsync returns the started activation as it is: one async layer less.
                        // It is entered as soon as it is found, so the collector never takes it for idle between its
                        // recovery and this request's turn.
                        ready = await GetStartedActivationAsync(invocation.Target, type, cancellationToken, null, invocation.RequestId, enter: true).ConfigureAwait(false);
                        entered = true;
                    }
                    catch (ActivationBrokenException e)
                    {
                        // Dropped while it recovered (the silo was declared dead): nothing ran, so try a new activation.
                        if (attempt >= MaxActivationAttempts) throw new TurnNotDurableException(invocation.Target, invocation.RequestId, e.Message, e);
                        continue;
                    }
                }

                activation = ready;
                if (!entered) activation.Enter(_services.Time);
                _collector.Touch(activation);
                reply = activation.ExecuteAsync(invocation, method);
            }

            try
            {
                return await reply.ConfigureAwait(false);
            }
            catch (Exception e) when (e is ActivationBrokenException or TurnNotDurableException)
            {
                // A turn in doubt keeps its activation: it completes the turn in the background and serves after it.
                if (e is ComponentInDoubtException && activation.IsActive) throw;
                Discard(activation);
                if (activation.BrokeOnStoreFailure) _inDoubtWatch.Note(activation.Id);
                // A claim that rode in the first write and lost to another activation: nothing was written; a new one claims.
                if (e is TurnNotDurableException and not ClaimConflictException) throw;
                // Activations kept breaking under this request: nothing was acknowledged, so the caller may retry it.
                if (attempt >= MaxActivationAttempts) throw new TurnNotDurableException(activation.Id, invocation.RequestId, e.Message, e);
            }
            finally
            {
                activation.Leave();
            }
        }
    }

    /// <summary>
    /// Whether <paramref name="requestId"/> committed on <paramref name="target"/>, decided by this runtime as the
    /// component's owner (it activates the component through the usual claim). Committed: the recorded reply (awaited
    /// when the turn is in flight; an in-doubt turn is resumed to its end first). Not committed: a durable fence record
    /// was appended, so the id never commits later; a late invocation of it gets an error reply of type
    /// <see cref="RequestOutcome.FencedErrorType"/>, and every later outcome query answers "not committed" again.
    /// Throws <see cref="TurnNotDurableException"/> when the store failed (ask again), and
    /// <see cref="ComponentOwnedElsewhereException"/> when another live silo owns the component.
    /// </summary>
    public async Task<RequestOutcome> GetOutcomeAsync(ComponentId target, string requestId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(requestId);
        RefuseNul(requestId, nameof(requestId));
        var type = Registry.Get(target.Type);
        for (var attempt = 1; ; attempt++)
        {
            Activation activation;
            try
            {
                activation = await GetActivationAsync(target, type, cancellationToken).ConfigureAwait(false);
            }
            catch (ActivationBrokenException e)
            {
                // Dropped while it recovered (the silo was declared dead): nothing was decided, so try a new activation.
                if (attempt >= MaxActivationAttempts) throw new TurnNotDurableException(target, requestId, e.Message, e);
                continue;
            }

            try
            {
                return await activation.GetOutcomeAsync(requestId, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is ActivationBrokenException or TurnNotDurableException)
            {
                if (e is ComponentInDoubtException && activation.IsActive) throw;
                Discard(activation);
                if (activation.BrokeOnStoreFailure) _inDoubtWatch.Note(activation.Id);
                // A claim that rode in the first write and lost to another activation: nothing was written; a new one claims.
                if (e is TurnNotDurableException and not ClaimConflictException) throw;
                // Activations kept breaking under this request: nothing was acknowledged, so the caller may retry it.
                if (attempt >= MaxActivationAttempts) throw new TurnNotDurableException(activation.Id, requestId, e.Message, e);
            }
        }
    }

    /// <summary>
    /// Deactivates <paramref name="id"/> gracefully: waits for its turn in progress, writes a checkpoint when its log
    /// moved past the last one, waits until everything is durable, and removes it from the table. A request that was
    /// already waiting for it is retried on a new activation. Returns the activation's epoch, or null when it was not
    /// active here.
    /// </summary>
    public async Task<long?> DeactivateAsync(ComponentId id, CancellationToken cancellationToken = default)
    {
        if (!_activations.TryGetValue(id, out var activation)) return null;
        try
        {
            await activation.Ready.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception) when (activation.Ready.IsFaulted)
        {
            Remove(activation);
            return null;
        }

        var epoch = await activation.DeactivateAsync(cancellationToken).ConfigureAwait(false);
        Remove(activation);
        // An activation whose claim rode in a write it never made (or that was refused) never owned that epoch.
        return activation.OwnsItsEpoch ? epoch : null;
    }

    /// <summary>The collector's recency list (null when nothing is collected: no idle age, no limit).</summary>
    internal ActivationLru? CollectorList => _collector.Lru;

    /// <summary>The activation of <paramref name="id"/> in the table, in whatever state (tests).</summary>
    internal Activation? ActivationOf(ComponentId id) => _activations.TryGetValue(id, out var activation) ? activation : null;

    /// <summary>True while <paramref name="activation"/> is the one in the table for its component.</summary>
    internal bool Holds(Activation activation) =>
        _activations.TryGetValue(activation.Id, out var current) && ReferenceEquals(current, activation);

    /// <summary>
    /// The collector's deactivation: starts <paramref name="activation"/>'s graceful deactivation if it is still the live
    /// one of its component, serving and idle (null when not); <see cref="RemoveDeactivated"/> once it completed. As
    /// <see cref="DeactivateAsync"/> does, without the look-up by id and the wait for recovery (it serves already).
    /// </summary>
    /// The deactivation itself answers null, and leaves the activation serving, when a request entered after this look.
    /// <paramref name="tailAllowed"/>: see <see cref="Activation.DeactivateIfIdleAsync"/> (a capacity eviction's tail).
    internal Task<long?>? StartDeactivationIfIdle(Activation activation, CancellationToken cancellationToken, int tailAllowed = 0) =>
        Holds(activation) && activation.IsActive && activation.IsIdle && !activation.HasTurnInDoubt ? activation.DeactivateIfIdleAsync(onlyIfIdle: true, cancellationToken, tailAllowed) : null;

    /// <summary>Takes an activation <see cref="StartDeactivationIfIdle"/> deactivated out of the table.</summary>
    internal void RemoveDeactivated(Activation activation) => Remove(activation, byCollector: true);

    /// <summary>
    /// Deactivates the components idle past <see cref="RuntimeOptions.DeactivateIdleAfter"/> and, past
    /// <see cref="RuntimeOptions.MaxActivations"/>, the least recently used (what the background collector does on its
    /// own at every scan). Returns how many it deactivated.
    /// </summary>
    public Task<int> CollectIdleAsync() => _collector.CollectAsync();

    /// <summary>
    /// Forgets every activation without writing anything (for example when this silo was declared dead and others may
    /// own its components now). Turns still running finish, but their writes are fenced by the new owners; requests
    /// waiting for them are retried on new activations.
    /// </summary>
    public void DropAll(string reason)
    {
        ArgumentNullException.ThrowIfNull(reason);
        foreach (var (id, activation) in _activations)
        {
            Remove(activation);
            // One still recovering ends too: its recovery sees the state and does not start serving.
            activation.Abandon($"dropped: {reason}");
        }
    }

    /// <summary>
    /// Completes the turns in doubt the store knows of (<see cref="ILogStore.ListInDoubtAsync"/>: logs whose last record
    /// is a partial turn) without waiting for their requests to be retried: each component that
    /// <paramref name="take"/> accepts (all by default) is activated here unless it is already, and activation completes
    /// the turn before anything else. A component another live silo owns is left to it. Run it when a process starts
    /// on a store another process may have left turns in doubt in, and when a silo of the cluster died (silos do).
    /// </summary>
    public async Task<InDoubtSweep> CompleteTurnsInDoubtAsync(Func<ComponentHead, bool>? take = null, CancellationToken cancellationToken = default)
    {
        var listed = await Store.ListInDoubtAsync(cancellationToken).ConfigureAwait(false);
        int completed = 0, pending = 0, elsewhere = 0;
        var failures = new List<string>();
        foreach (var head in listed)
        {
            if (take is not null && !take(head)) continue;
            var id = ComponentId.Parse(head.ComponentId);
            try
            {
                var activation = await GetActivationAsync(id, Registry.Get(id.Type), cancellationToken).ConfigureAwait(false);
                if (activation.HasTurnInDoubt) pending++;
                else completed++;
            }
            catch (ComponentOwnedElsewhereException)
            {
                elsewhere++;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                failures.Add($"{id}: {e.Message}");
            }
        }

        return new InDoubtSweep(listed.Count, completed, pending, elsewhere, failures);
    }

    /// <summary>
    /// Activates <paramref name="id"/> here unless it is active already (claiming it; from its standby when this runtime
    /// mirrors it). Throws <see cref="ComponentOwnedElsewhereException"/> when another live owner has it.
    /// </summary>
    public async Task ActivateAsync(ComponentId id, CancellationToken cancellationToken = default) =>
        await GetActivationAsync(id, Registry.Get(id.Type), cancellationToken).ConfigureAwait(false);

    /// <summary>Activates <paramref name="id"/> here if needed and writes a checkpoint of it now (admin, tests).</summary>
    public async Task CheckpointAsync(ComponentId id, CancellationToken cancellationToken = default)
    {
        var type = Registry.Get(id.Type);
        var activation = await GetActivationAsync(id, type, cancellationToken).ConfigureAwait(false);
        await activation.CheckpointAsync().ConfigureAwait(false);
    }

    /// <summary>A proxy whose calls all use <paramref name="requestId"/>: one request, retried as often as needed.</summary>
    public T Call<T>(string key, string requestId, string? sessionId = null)
        where T : IRecoverableComponent =>
        ComponentProxy.Create<T>(inv => InvokeAsync(inv), key, () => requestId, sessionId, Registry.Json);

    /// <summary>
    /// A proxy that gives every call a new request id from this runtime (<c>OwnerId:start:n</c>, where <c>start</c> is new
    /// for every runtime object, so a runtime started again with the same owner id never reuses an id of the one before:
    /// a reused id would be answered with the earlier request's recorded reply).
    /// </summary>
    public T GetComponent<T>(string key)
        where T : IRecoverableComponent =>
        ComponentProxy.Create<T>(inv => InvokeAsync(inv), key, () => $"{_options.OwnerId}:{_start}:{Interlocked.Increment(ref _requestCounter)}", json: Registry.Json);

    /// <summary>Writes a checkpoint for every live activation and waits until they are durable.</summary>
    public async Task CheckpointAllAsync()
    {
        foreach (var activation in _activations.Values)
        {
            if (activation.IsActive) await activation.CheckpointAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The activation of <paramref name="id"/> when it has recovered and serves (what <see cref="GetActivationAsync"/> would return at once), else null.</summary>
    private Activation? TryGetReady(ComponentId id) =>
        _activations.TryGetValue(id, out var activation) && activation.Ready.IsCompletedSuccessfully && activation.IsActive ? activation : null;

    /// <param name="id">The component.</param>
    /// <param name="type">Its type.</param>
    /// <param name="cancellationToken">Stops the wait (not the activation).</param>
    /// <param name="decision">A control record the activation records first (<see cref="Activation.Start(ControlRecord?, string?)"/>).</param>
    /// <param name="requestId">The request that asks for the activation, when there is one: an activation it creates looks the id
    /// up in the store's dedup table with its read, so that request's turn needs no look-up of its own.</param>
    private async Task<Activation> GetActivationAsync(ComponentId id, ComponentTypeInfo type, CancellationToken cancellationToken, ControlRecord? decision = null, string? requestId = null)
    {
        for (var attempt = 1; ; attempt++)
        {
            var activation = await GetStartedActivationAsync(id, type, cancellationToken, decision, requestId).ConfigureAwait(false);
            // A request waits for the claim with its own write; everything else uses the activation as the owner's at once.
            if (requestId is not null) return activation;
            try
            {
                await activation.WhenClaimedAsync(cancellationToken).ConfigureAwait(false);
                return activation;
            }
            catch (ClaimConflictException) when (attempt < MaxActivationAttempts)
            {
                Discard(activation);
            }
            catch (Exception e) when (e is ComponentOwnedElsewhereException or TurnNotDurableException)
            {
                Discard(activation);
                throw;
            }
        }
    }

    /// <param name="enter">Whether the caller's request <see cref="Activation.Enter"/>s the activation as soon as it is found
    /// (it counts as busy for the collector from then on; left again when this throws).</param>
    private async Task<Activation> GetStartedActivationAsync(ComponentId id, ComponentTypeInfo type, CancellationToken cancellationToken, ControlRecord? decision, string? requestId, bool enter = false)
    {
        // A quarantined component is refused at once: no claim, no replay on every request.
        if (decision is null && _quarantined.TryGetValue(id, out var quarantined)) throw quarantined;
        long createdAt = 0;
        if (!_activations.TryGetValue(id, out var activation))
        {
            var created = new Activation(id, type, _services);
            activation = _activations.GetOrAdd(id, created);
            if (ReferenceEquals(activation, created))
            {
                createdAt = _services.Time.GetTimestamp();
                _collector.Touch(created);
                if (Interlocked.Increment(ref _live) > _options.MaxActivations && _options.MaxActivations > 0) _collector.OverCapacity();
            }
        }

        if (enter) activation.Enter(_services.Time);
        try
        {
            activation.Start(decision, requestId);
            await activation.Ready.WaitAsync(cancellationToken).ConfigureAwait(false);
            if (createdAt != 0) Counters.CountActivation(_services.Time.GetElapsedTime(createdAt));
            return activation;
        }
        catch (Exception e)
        {
            if (enter) activation.Leave();
            if (activation.Ready.IsFaulted)
            {
                // A failed activation must not stick: the next request tries again (unless the component is quarantined).
                Remove(activation);
                if (e is ComponentQuarantinedException q) _quarantined[id] = q;
            }

            throw;
        }
    }

    /// <summary>
    /// Resets <paramref name="id"/> to seq <paramref name="toSeq"/>: its state is rebuilt from the log up to that seq with
    /// the current code, every later record is superseded (kept for audit; their request ids keep their replies), and
    /// a control record with a checkpoint is appended so the component serves from there (see <see cref="HistoryDecision"/>).
    /// Any quarantine is lifted. Refused with <see cref="ComponentOwnedElsewhereException"/> when another live silo owns it.
    /// </summary>
    public async Task<HistoryDecision> ResetAsync(ComponentId id, long toSeq, string by, string reason, CancellationToken cancellationToken = default)
    {
        var type = Registry.Get(id.Type);
        await DeactivateAsync(id, cancellationToken).ConfigureAwait(false);
        var decision = await HistoryDecisions.ResetAsync(_services, type, id, toSeq, by, reason, cancellationToken).ConfigureAwait(false);
        _quarantined.TryRemove(id, out _);
        return decision;
    }

    /// <summary>
    /// Accepts what the current code produces for <paramref name="id"/> from seq <paramref name="fromSeq"/> on (an intended
    /// change of behaviour): the turns from there are re-executed with the recorded nondeterminism and outbound outcomes,
    /// replies that changed are taken, and a control record with a checkpoint of the resulting state is appended. Any
    /// quarantine is lifted. Refused with <see cref="ComponentOwnedElsewhereException"/> when another live silo owns it.
    /// </summary>
    public async Task<HistoryDecision> AcceptAsync(ComponentId id, long fromSeq, string by, string reason, CancellationToken cancellationToken = default)
    {
        var type = Registry.Get(id.Type);
        await DeactivateAsync(id, cancellationToken).ConfigureAwait(false);
        var decision = await HistoryDecisions.AcceptAsync(_services, type, id, fromSeq, by, reason, cancellationToken).ConfigureAwait(false);
        _quarantined.TryRemove(id, out _);
        return decision;
    }

    /// <summary>The components this runtime refuses because they are quarantined, with the record that says why.</summary>
    public IReadOnlyList<(ComponentId Component, ControlRecord Quarantine)> Quarantined =>
        _quarantined.Select(q => (q.Key, q.Value.Quarantine)).OrderBy(q => q.Key.ToString(), StringComparer.Ordinal).ToList();

    /// <summary>
    /// Quarantines <paramref name="id"/> on an operator's word: the activation here (if any) is deactivated, the component
    /// is claimed, a quarantine record (for any code) is appended, and requests are refused until it is released.
    /// Refused with <see cref="ComponentOwnedElsewhereException"/> when another live silo owns it (ask that silo).
    /// </summary>
    public async Task QuarantineAsync(ComponentId id, string by, string reason, CancellationToken cancellationToken = default)
    {
        var type = Registry.Get(id.Type);
        await DeactivateAsync(id, cancellationToken).ConfigureAwait(false);
        var decision = new ControlRecord(ControlAction.Quarantine, by, reason, _services.Time.GetUtcNow().UtcTicks, null, 0);
        try
        {
            await GetActivationAsync(id, type, cancellationToken, decision).ConfigureAwait(false);
        }
        catch (ComponentQuarantinedException)
        {
            Counters.CountQuarantine("operator");
            return; // recorded: that is the expected end of a quarantining activation
        }
    }

    /// <summary>
    /// Lifts a quarantine of <paramref name="id"/>: a release record is appended and the component activates again (its log
    /// replayed with the current code; if that still fails, it is quarantined again with the new reason, which this call
    /// then throws). Refused with <see cref="ComponentOwnedElsewhereException"/> when another live silo owns it.
    /// </summary>
    public async Task ReleaseAsync(ComponentId id, string by, string reason, CancellationToken cancellationToken = default)
    {
        var type = Registry.Get(id.Type);
        _quarantined.TryRemove(id, out _);
        var decision = new ControlRecord(ControlAction.Release, by, reason, _services.Time.GetUtcNow().UtcTicks, null, 0);
        await GetActivationAsync(id, type, cancellationToken, decision).ConfigureAwait(false);
    }

    private void Discard(Activation activation) => Remove(activation);

    /// <summary>Takes <paramref name="activation"/> out of the table (when it is still the one there) and counts it out.</summary>
    private bool Remove(Activation activation, bool byCollector = false)
    {
        if (!_activations.TryRemove(new KeyValuePair<ComponentId, Activation>(activation.Id, activation))) return false;
        Interlocked.Decrement(ref _live);
        // One the collector did not take is still in its list: counted, so the list is rebuilt before it holds many.
        if (!byCollector) _collector.Lru?.Forgotten();
        return true;
    }

    /// <summary>Writes what is queued and stops the writer. The store is not disposed (the caller owns it).</summary>
    public async ValueTask DisposeAsync()
    {
        // Background completion of turns in doubt stops first; their partial records stay for the next activation.
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _writer.DisposeAsync().ConfigureAwait(false);
        _stopping.Dispose();
    }

    /// <summary>Serves component calls made inside turns in this runtime (when <see cref="RuntimeOptions.Caller"/> is null).</summary>
    /// <summary><see cref="InvokeAsync"/> once the caller's record the invocation carries is durable (a call from another writer).</summary>
    private async Task<ComponentReply> InvokeAfterCallerAsync(Invocation invocation, CancellationToken cancellationToken)
    {
        await WhenCallerDurableAsync(invocation).ConfigureAwait(false);
        return await InvokeAsync(invocation with { DurableAfter = null }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Completes once the calling turn's partial record that <paramref name="invocation"/> carries is durable (at once when it
    /// carries none); throws <see cref="TurnNotDurableException"/> when that record was not written. An
    /// <see cref="IOrderedLocalCaller"/> awaits it before the invocation goes anywhere but this runtime's
    /// <see cref="InvokeAsync"/> (another silo, a new invocation object): nothing of a call leaves the process before the
    /// trace of the turn that made it is durable (guarantee 6).
    /// </summary>
    public static Task WhenCallerDurableAsync(Invocation invocation)
    {
        ArgumentNullException.ThrowIfNull(invocation);
        if (invocation.DurableAfter is not GroupCommitWriter.WriteItem item || (item.Task.IsCompletedSuccessfully && item.Task.Result == AppendStatus.Ok))
            return Task.CompletedTask;
        return WhenWrittenAsync(item.Task, invocation);
    }

    private static async Task WhenWrittenAsync(Task<AppendStatus> write, Invocation invocation)
    {
        AppendStatus status;
        try
        {
            status = await write.ConfigureAwait(false);
        }
        catch (Exception e)
        {
            throw new TurnNotDurableException(invocation.Target, invocation.RequestId, "the partial record of the calling turn was not written", e);
        }

        if (status != AppendStatus.Ok)
            throw new TurnNotDurableException(invocation.Target, invocation.RequestId, $"the partial record of the calling turn was not written ({status})");
    }

    private sealed class InProcessCaller(LocalRuntime runtime) : IOrderedLocalCaller
    {
        public Task<ComponentReply> InvokeAsync(Invocation invocation, CancellationToken cancellationToken) => runtime.InvokeAsync(invocation, cancellationToken);

        public Task<RequestOutcome> GetOutcomeAsync(ComponentId target, string requestId, CancellationToken cancellationToken) => runtime.GetOutcomeAsync(target, requestId, cancellationToken);
    }
}

/// <summary>What <see cref="LocalRuntime.CompleteTurnsInDoubtAsync"/> did.</summary>
/// <param name="Listed">Components the store listed with a turn in doubt.</param>
/// <param name="Completed">Activated here, their turn in doubt completed.</param>
/// <param name="StillInDoubt">Activated here, but their turn could not complete yet (a back end or callee is unreachable); they keep retrying.</param>
/// <param name="OwnedElsewhere">Left to the live silo that owns them.</param>
/// <param name="Failures">Components that could not be activated, with the reason.</param>
public sealed record InDoubtSweep(int Listed, int Completed, int StillInDoubt, int OwnedElsewhere, IReadOnlyList<string> Failures);
