using System.Diagnostics;
using System.Text.Json;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;

namespace Middleware.Recovery.Runtime;

/// <summary>
/// The live object of one component in this runtime, and the one interception point that records its
/// turns. Turns run one at a time under <see cref="_turnLock"/>; a turn's record is handed to the
/// group-commit writer and the lock is released at once, so the next turn may run ahead on the in-memory
/// state, but every reply waits for its own record to be durable (replies are released in log order).
/// </summary>
internal sealed partial class Activation
{
    private readonly SemaphoreSlim _turnLock = new(1, 1);
    private RecentRequests _recent = new();
    // Almost always empty: the shared empty map until a turn is in doubt (Activation.InDoubt.cs); changed under _appendSync.
    private Dictionary<string, TurnRecord> _inDoubt = NoneInDoubt;
    private TurnRuntime? _turnRuntime;
    private readonly ILogStore _store;
    private readonly GroupCommitWriter _writer;
    private readonly RuntimeOptions _options;
    private readonly RuntimeServices _services;
    private readonly JsonSerializerOptions _json;
    private List<(string RequestId, long Seq, long ArgsHash, ComponentReply Reply)> _sinceCheckpoint = [];
    private IRecoverableGrain _grain = null!;
    private long _lastSeq;
    private long _checkpointSeq;
    private RequestIdKnowledge _knowledge = RequestIdKnowledge.Empty();
    private long _lastCheckpointTicks;
    private static readonly Dictionary<string, TurnRecord> NoneInDoubt = new(StringComparer.Ordinal); // never changed
    private static readonly Task<AppendStatus> DurableWrite = Task.FromResult(AppendStatus.Ok);
    private Task<AppendStatus> _lastWrite = DurableWrite;
    // The item of the last record Append queued when that was a partial record (its task is _lastWrite unless something
    // was queued since), else null.
    private GroupCommitWriter.WriteItem? _lastItem;
    private (long Seq, Task<AppendStatus> Write)? _pendingCheckpoint;
    private Invocation? _current;

    /// <summary>An activation of <paramref name="id"/> that has not started (<see cref="ActivationState.Creating"/>); <see cref="Start"/> recovers it.</summary>
    public Activation(ComponentId id, ComponentTypeInfo type, RuntimeServices services)
    {
        Id = id;
        IdText = id.ToString();
        Type = type;
        _store = services.Store;
        _writer = services.Writer;
        _options = services.Options;
        _services = services;
        _json = services.Registry.Json;
        StampCreated(services.Time);
    }

    /// <summary>
    /// What a live turn's calls, back ends, session items and logger go through; made by the first turn that asks (most
    /// components never do: a deposit reads the clock only), so an activation does not carry it from the start.
    /// </summary>
    internal TurnRuntime TurnRuntime => Volatile.Read(ref _turnRuntime) ?? MakeTurnRuntime();

    private TurnRuntime MakeTurnRuntime()
    {
        var made = new TurnRuntime(_services.Environment.Backends, _json, StabilizeBeforeSendAsync, _services.Registry, new CallDeadlines(this, _services.Caller, _services), _services.Environment.SessionItems,
            ComponentLoggers.For(_services.Environment.LoggerFactory, Type));
        return Interlocked.CompareExchange(ref _turnRuntime, made, null) ?? made;
    }

    public ComponentId Id { get; }

    public string IdText { get; }

    public ComponentTypeInfo Type { get; }

    /// <summary>The epoch this activation claimed (0 until it did).</summary>
    public long Epoch { get; private set; }

    /// <summary>
    /// Set when a write of this activation failed in the store (not fenced): a partial record may now be the last one
    /// in the log with nobody left to complete its turn, so the runtime looks at the component again.
    /// </summary>
    public bool BrokeOnStoreFailure { get; private set; }

    /// <summary>Runs one request as a turn (or answers it from the recorded reply) and returns its durable reply.</summary>
    public Task<ComponentReply> ExecuteAsync(Invocation inv, ComponentMethod method)
    {
        // A span wants a method around the whole turn; the latency histogram alone (a silo's /metrics) is recorded by the
        // logged turn's durable wait itself, so it costs no continuation of its own.
        if (EngineTelemetry.Source.HasListeners()) return ExecuteObservedAsync(inv, method);
        if (!EngineTelemetry.TurnDuration.Enabled) return method.IsReadOnly ? ExecuteReadOnlyAsync(inv, method) : ExecuteLoggedAsync(inv, method, observed: 0);
        return method.IsReadOnly ? ExecuteObservedAsync(inv, method) : ExecuteLoggedAsync(inv, method, Stopwatch.GetTimestamp());
    }

    /// <summary>A turn with its latency recorded and its span (<c>Type.Method</c>) around it, when something listens.</summary>
    private async Task<ComponentReply> ExecuteObservedAsync(Invocation inv, ComponentMethod method)
    {
        var start = Stopwatch.GetTimestamp();
        using var span = EngineTelemetry.Start(Type.Name + "." + method.Name, ActivityKind.Internal, IdText, inv.RequestId, method.Name);
        var outcome = "failed";
        try
        {
            var reply = await (method.IsReadOnly ? ExecuteReadOnlyAsync(inv, method) : ExecuteLoggedAsync(inv, method, observed: 0)).ConfigureAwait(false);
            outcome = reply.IsError ? "error" : "ok";
            return reply;
        }
        catch (Exception e)
        {
            span?.SetStatus(ActivityStatusCode.Error, e.Message);
            throw;
        }
        finally
        {
            span?.SetTag(EngineTelemetry.OutcomeTag, outcome);
            EngineTelemetry.RecordTurn(start, Type.Name, method.Name, outcome);
        }
    }

    /// <summary>
    /// A logged turn. The common case runs without a continuation of its own: the turn lock is free, the request is new or
    /// remembered, and the component's method finished without awaiting; the caller then gets the reply task that
    /// completes once the record is durable. Anything else (a wait for the lock, a look-up in the store, a method that
    /// awaits) continues in <see cref="ExecuteLoggedSlowAsync"/> with the same steps. <paramref name="observed"/> (a
    /// timestamp, 0 for none) times the turn into the latency histogram: a new turn's durable wait records it, every other
    /// way through is wrapped in <see cref="ObserveAsync"/>.
    /// </summary>
    private Task<ComponentReply> ExecuteLoggedAsync(Invocation inv, ComponentMethod method, long observed) => ExecuteLoggedAsync(inv, method, observed, out _);

    /// <param name="inv">The request.</param>
    /// <param name="method">Its method.</param>
    /// <param name="observed">The turn's start for the latency histogram, or 0.</param>
    /// <param name="ranAtOnce">True when the reply is a new turn's durable wait (its method finished without awaiting) or a
    /// remembered reply: nothing but the record is awaited.</param>
    private Task<ComponentReply> ExecuteLoggedAsync(Invocation inv, ComponentMethod method, long observed, out bool ranAtOnce)
    {
        ranAtOnce = false;
        var argsHash = StableHash.Of(method.Name, inv.Args.Span);
        if (!_turnLock.Wait(0)) return Observe(ExecuteLoggedSlowAsync(inv, method, argsHash, locked: false), observed, method);
        var release = true;
        try
        {
            ThrowIfNotServing(inv.RequestId);
            PrunePastCheckpoint();
            if (_recent.TryGetValue(inv.RequestId, out var seen))
            {
                CheckSameRequest(seen.ArgsHash, argsHash, inv);
                ranAtOnce = observed == 0;
                return Observe(seen.Reply, observed, method);
            }

            // The activating request of a cold activation is proven new by the activation read (UnrecordedRequest): it runs
            // here at once like a warm one, where the slow path would have come to the same answer after two more async steps.
            if (_checkpointSeq != 0 && !_knowledge.IsCertainlyNew(inv.RequestId) && !TakeUnrecorded(inv.RequestId))
            {
                // The request id may be in the store's dedup table: look it up on the slow path, which keeps the lock.
                release = false;
                return Observe(ExecuteLoggedSlowAsync(inv, method, argsHash, locked: true), observed, method);
            }

            ThrowIfAnotherInDoubt(inv.RequestId);
            var run = RunTurnAsync(inv, method, argsHash, observed);
            if (run.IsCompletedSuccessfully)
            {
                ranAtOnce = true;
                return run.Result;
            }

            release = false;
            return ReleaseAfterAsync(run, observed, method);
        }
        catch (Exception e)
        {
            if (observed != 0) EngineTelemetry.RecordTurn(observed, Type.Name, method.Name, "failed");
            return Task.FromException<ComponentReply>(e);
        }
        finally
        {
            if (release) _turnLock.Release();
        }
    }

    /// <summary>
    /// <see cref="LocalRuntime.InvokeAsync"/>'s live path (the caller entered): the logged turn as <see cref="ExecuteAsync"/>
    /// runs it, or null when it would not run at once here (read-only, traced, turn lock taken) and nothing ran.
    /// <paramref name="durableOnly"/> says the reply waits for nothing but its record (or is a remembered reply): every
    /// failure of that wait is reported to the runtime by the wait itself (<see cref="RuntimeServices.OnTurnNotDurable"/>),
    /// so the caller may return it as it is. Otherwise the caller awaits it as any attempt.
    /// </summary>
    internal Task<ComponentReply>? TryExecuteLive(Invocation inv, ComponentMethod method, out bool durableOnly)
    {
        durableOnly = false;
        if (method.IsReadOnly || EngineTelemetry.Source.HasListeners()) return null;
        if (_turnLock.CurrentCount == 0) return null; // not a promise (the lock is taken below), only a cheap early out
        var observed = EngineTelemetry.TurnDuration.Enabled ? Stopwatch.GetTimestamp() : 0;
        var reply = ExecuteLoggedAsync(inv, method, observed, out var ranAtOnce);
        durableOnly = ranAtOnce;
        return reply;
    }

    /// <summary>
    /// A turn whose method awaited: the lock is released when it ends, then its reply is awaited. Its durable wait times it
    /// (<paramref name="observed"/>); only a turn that fails before it has a record is timed here.
    /// </summary>
    private async Task<ComponentReply> ReleaseAfterAsync(ValueTask<Task<ComponentReply>> run, long observed, ComponentMethod method)
    {
        Task<ComponentReply> reply;
        try
        {
            reply = await run.ConfigureAwait(false);
        }
        catch (Exception) when (observed != 0)
        {
            EngineTelemetry.RecordTurn(observed, Type.Name, method.Name, "failed");
            throw;
        }
        finally
        {
            _turnLock.Release();
        }

        return await reply.ConfigureAwait(false);
    }

    /// <summary><paramref name="reply"/> as it is, or timed into the latency histogram from <paramref name="observed"/> when that is set.</summary>
    private Task<ComponentReply> Observe(Task<ComponentReply> reply, long observed, ComponentMethod method) =>
        observed == 0 ? reply : ObserveAsync(reply, observed, method.Name);

    private async Task<ComponentReply> ObserveAsync(Task<ComponentReply> reply, long observed, string method)
    {
        var outcome = "failed";
        try
        {
            var result = await reply.ConfigureAwait(false);
            outcome = result.IsError ? "error" : "ok";
            return result;
        }
        finally
        {
            EngineTelemetry.RecordTurn(observed, Type.Name, method, outcome);
        }
    }

    private async Task<ComponentReply> ExecuteLoggedSlowAsync(Invocation inv, ComponentMethod method, long argsHash, bool locked)
    {
        Task<ComponentReply> reply;
        if (!locked) await _turnLock.WaitAsync().ConfigureAwait(false);
        try
        {
            ThrowIfNotServing(inv.RequestId);
            PrunePastCheckpoint();
            if (_recent.TryGetValue(inv.RequestId, out var seen))
            {
                CheckSameRequest(seen.ArgsHash, argsHash, inv);
                reply = seen.Reply;
            }
            else if (await FindInStoreAsync(inv, argsHash).ConfigureAwait(false) is { } recorded)
            {
                return recorded;
            }
            else
            {
                // A turn in doubt holds its place in the history: nothing else runs before it is final.
                ThrowIfAnotherInDoubt(inv.RequestId);
                reply = await RunTurnAsync(inv, method, argsHash, observed: 0).ConfigureAwait(false);
            }
        }
        finally
        {
            _turnLock.Release();
        }

        return await reply.ConfigureAwait(false);
    }

    private async ValueTask<Task<ComponentReply>> RunTurnAsync(Invocation inv, ComponentMethod method, long argsHash, long observed)
    {
        var args = method.DecodeArgs(inv.Args.Span, _json);
        _inDoubt.TryGetValue(inv.RequestId, out var partial);
        if (partial is not null) CheckSameRequest(partial.ArgsHash, argsHash, inv);
        var context = new LiveTurnContext(Id, inv.RequestId, _lastSeq + 1, _services.Time, null, partial, inv, idText: IdText, owner: this);
        _grain.Context = context;
        _current = inv;
        ComponentReply reply;
        try
        {
            var result = await method.InvokeValueAsync(_grain, args).ConfigureAwait(false);
            reply = new ComponentReply(method.EncodeResult(result, _json));
        }
        catch (Exception e)
        {
            // A resumed turn that asks for other values or calls than its partial record holds ran different code: that
            // is not the component's answer, and recording it would hide calls that may have taken effect.
            if (e is ReplayDivergenceException) context.InfrastructureFailure ??= e;
            reply = Replayer.ErrorReply(e, _json);
            if (context.InfrastructureFailure is null) await UndoAsync(inv).ConfigureAwait(false);
        }

        if (context.InfrastructureFailure is { } failure)
        {
            var error = await FailedAttemptAsync(inv, failure).ConfigureAwait(false);
            EndTurn();
            throw error;
        }

        // Written only with or after the caller's partial record when the call did not wait for it (CallOrder.cs).
        var (seq, write) = Append(RecordKind.Turn, null, context.EncodeFinal(inv, reply), Inbound(inv));
        if (_inDoubt.Count > 0)
        {
            // Final now (a resumed turn, or one whose undo re-read its own partial record from the log).
            lock (_appendSync)
            {
                _inDoubt.Remove(inv.RequestId);
                if (_inDoubt.Count == 0) _inDoubt = NoneInDoubt;
            }

            if (partial is not null) ReportCompletedInDoubt(inv.RequestId, partial.TurnSeq);
        }

        if (_longLogAdopted) _firstTurnWrite ??= write; // read only then (MaybeCheckpoint)
        // Busy until the reply is released (IsIdle): the wait below ends it, whoever awaits the reply (or nobody).
        Interlocked.Increment(ref _awaitingDurable);
        var slot = new DedupSlot(argsHash, seq);
        var durable = AwaitDurableAsync(write, reply, inv.RequestId, commitSeq: seq, observed, method.Name, countedBusy: true, slot);
        slot.Pending(durable);
        _recent[inv.RequestId] = slot;
        // Most activations hold one turn since their checkpoint: room for one (a list's first room is four).
        if (_sinceCheckpoint.Capacity == 0) _sinceCheckpoint.Capacity = 1;
        _sinceCheckpoint.Add((inv.RequestId, seq, argsHash, reply));
        MaybeCheckpoint();
        EndTurn();
        return durable;
    }

    /// <summary>
    /// A turn ended: its request and context are let go (a component has no context between turns), so an idle activation
    /// does not keep its last turn's invocation, arguments and recorded values alive.
    /// </summary>
    private void EndTurn()
    {
        _current = null;
        _grain.Context = null;
    }

    /// <summary>
    /// Guarantee 6, before a turn sends anything: every earlier record is durable, and the turn's input and
    /// the values it consumed so far are forced to the log as a partial record (which also pins the seq its
    /// outbound request ids are built from). Runs under the turn lock.
    /// With <paramref name="local"/> (a component call, whose caller keeps the order of local calls:
    /// <see cref="RuntimeServices.OrderedLocalCalls"/>) the partial record is queued and returned without waiting for it: the
    /// call carries it (<see cref="Invocation.DurableAfter"/>) and nothing of the callee is written unless it was written
    /// first or in the same transaction; whatever would take the call out of this runtime waits for it there. Returns null when
    /// everything before the call is durable.
    /// </summary>
    private async ValueTask<object?> StabilizeBeforeSendAsync(LiveTurnContext context, bool local)
    {
        if (context.IsReadOnly)
        {
            // Not logged: nothing of its own to force, but what it read must not be taken back by a crash (nor sent before
            // this activation owns the component), nor sent before the record of the turn that called it.
            EnsureClaimQueued();
            await AwaitDurableAsync(_lastWrite, ComponentReply.Void, context.RequestId).ConfigureAwait(false);
            if (context.Invocation is { DurableAfter: not null } inbound) await LocalRuntime.WhenCallerDurableAsync(inbound).ConfigureAwait(false);
            return null;
        }

        Task<AppendStatus> write;
        var commitSeq = 0L;
        var carry = local && _services.OrderedLocalCalls;
        GroupCommitWriter.WriteItem? carried = null;
        if (context.TurnSeq != 0 && context.Values.Count == context.ValuesAtLastPartial)
        {
            // The latest partial record holds everything so far; another call of this turn may have queued it and still
            // be waiting for it (calls started together), so wait for it the same way, its status checked (or carry it: the
            // last item queued is that record, or a later record of this component, written only after it).
            write = _lastWrite;
            if (carry && _lastItem is { } last && ReferenceEquals(last.Task, write)) carried = last;
        }
        else
        {
            if (context.TurnSeq == 0) context.TurnSeq = _lastSeq + 1;
            var current = _current ?? throw new InvalidOperationException("An outbound call was made outside a turn.");
            // Counted when queued, not when durable: a call started meanwhile waits for this same write (_lastWrite).
            context.ValuesAtLastPartial = context.Values.Count;
            // Carried: held out of batches until the call was handed over (LiveTurnContext releases it), so that the callee's
            // record, queued meanwhile on the live path, shares its transaction.
            GroupCommitWriter.WriteItem item;
            (commitSeq, item) = AppendItem(RecordKind.PartialTurn, null, context.EncodePartial(current), Inbound(current), held: carry);
            write = item.Task;
            if (carry) carried = item;
        }

        // The call goes without waiting: it carries the item (LiveTurnContext releases it once the call was handed over).
        // Earlier records of this activation commit before it (seq order). One already decided is learnt here as before.
        if (carried is not null)
        {
            if (!write.IsCompleted) return carried;
            GroupCommitWriter.Release(carried);
        }

        try
        {
            await AwaitDurableAsync(write, ComponentReply.Void, context.RequestId, commitSeq).ConfigureAwait(false);
        }
        catch (TurnNotDurableException e)
        {
            context.InfrastructureFailure ??= e;
            throw;
        }

        return null;
    }

    /// <summary>The caller's record the request <paramref name="inv"/> must be written after (<see cref="Invocation.DurableAfter"/>, checked by <see cref="LocalRuntime.InvokeAsync"/>), or null.</summary>
    private static GroupCommitWriter.WriteItem? Inbound(Invocation inv) => inv.DurableAfter as GroupCommitWriter.WriteItem;

    private async Task<ComponentReply> ExecuteReadOnlyAsync(Invocation inv, ComponentMethod method)
    {
        ComponentReply reply;
        Task<AppendStatus> durable;
        await _turnLock.WaitAsync().ConfigureAwait(false);
        try
        {
            ThrowIfNotServing(inv.RequestId);
            // Not even a read runs ahead of a turn in doubt: it already holds its place before this one.
            ThrowIfAnotherInDoubt(inv.RequestId);
            var args = method.DecodeArgs(inv.Args.Span, _json);
            var context = new LiveTurnContext(Id, inv.RequestId, _lastSeq + 1, _services.Time, null, invocation: inv, readOnly: true, idText: IdText, owner: this);
            _grain.Context = context;
            try
            {
                reply = new ComponentReply(method.EncodeResult(await method.InvokeAsync(_grain, args).ConfigureAwait(false), _json));
            }
            catch (Exception e)
            {
                reply = Replayer.ErrorReply(e, _json);
            }
            finally
            {
                _grain.Context = null;
            }

            // A component call or session read that could not be delivered is not the component's answer: retry.
            if (context.InfrastructureFailure is { } failure)
                throw new TurnNotDurableException(Id, inv.RequestId, $"a call of the read-only turn failed: {failure.Message}", failure);

            EnsureClaimQueued(); // its answer waits for the claim as for the turns before it
            durable = _lastWrite;
        }
        finally
        {
            _turnLock.Release();
        }

        // The state it read may include turns not yet durable: answer only once they are.
        return await AwaitDurableAsync(durable, reply, inv.RequestId).ConfigureAwait(false);
    }

    /// <summary>
    /// The one append step (caller holds the turn lock): takes the next seq, queues the record behind every earlier one of
    /// this component, and remembers the write so later replies and checkpoints wait for it.
    /// </summary>
    private (long Seq, Task<AppendStatus> Write) Append(RecordKind kind, byte[] payload) => Append(kind, payload, null, null);

    /// <summary>Appends a payload encoded after <see cref="RecordChecksum.HeaderLength"/> reserved bytes (<see cref="LogRecord.SealRoom"/>).</summary>
    private (long Seq, Task<AppendStatus> Write) AppendWithSealRoom(RecordKind kind, byte[] withRoom) => Append(kind, null, withRoom, null);

    /// <param name="kind">The record's kind.</param>
    /// <param name="payload">The payload, or null with <paramref name="withRoom"/>.</param>
    /// <param name="withRoom">The payload after the seal's room, or null with <paramref name="payload"/>.</param>
    /// <param name="after">A record of the same writer this one may only be written with or after (the calling turn's partial record), or null.</param>
    private (long Seq, Task<AppendStatus> Write) Append(RecordKind kind, byte[]? payload, byte[]? withRoom, GroupCommitWriter.WriteItem? after)
    {
        var (seq, item) = AppendItem(kind, payload, withRoom, after, held: false);
        return (seq, item.Task);
    }

    /// <summary>As <see cref="Append(RecordKind, byte[], byte[], GroupCommitWriter.WriteItem?)"/>, returning the writer's item.</summary>
    private (long Seq, GroupCommitWriter.WriteItem Item) AppendItem(RecordKind kind, byte[]? payload, byte[]? withRoom, GroupCommitWriter.WriteItem? after, bool held)
    {
        // A fence may be appended aside while the running turn waits on a call (Activation.Deadlines.cs).
        lock (_appendSync)
        {
            var seq = _lastSeq + 1;
            var record = withRoom is null
                ? new LogRecord(seq, Epoch, kind, payload!)
                : new LogRecord(seq, Epoch, kind, withRoom.AsMemory(RecordChecksum.HeaderLength)) { SealRoom = withRoom };
            var item = _writer.EnqueueItem(IdText, Epoch, record, _claimTicket, after, held);
            var write = item.Task;
            // Only a partial record's item is kept (a later call of the turn may carry it); not the record of a finished turn,
            // which would keep its payload alive as long as the activation.
            _lastItem = kind == RecordKind.PartialTurn ? item : null;
            _claimQueued = true;
            _lastSeq = seq;
            _lastWrite = write;
            return (seq, item);
        }
    }

    /// <summary>
    /// Waits for <paramref name="write"/> and returns <paramref name="reply"/> once it is durable. A <paramref name="commitSeq"/>
    /// other than 0 names the record of this turn being committed: its commit is timed and traced (a <c>commit</c> span).
    /// A <paramref name="turnStart"/> other than 0 times the whole turn of <paramref name="turnMethod"/> into the turn
    /// latency histogram when it ends (ok, error, or failed when the record is not durable).
    /// </summary>
    /// <param name="write">The write waited for.</param>
    /// <param name="reply">The reply released once it is durable.</param>
    /// <param name="requestId">The request, for errors and spans.</param>
    /// <param name="commitSeq">The seq of the turn's own record, or 0.</param>
    /// <param name="turnStart">The turn's start for the latency histogram, or 0.</param>
    /// <param name="turnMethod">The turn's method, with <paramref name="turnStart"/>.</param>
    /// <param name="countedBusy">The wait was counted in <see cref="_awaitingDurable"/>.</param>
    /// <param name="slot">The turn's dedup slot, told when the record is durable (it then lets this wait's task go), or null.</param>
    private async Task<ComponentReply> AwaitDurableAsync(Task<AppendStatus> write, ComponentReply reply, string requestId, long commitSeq = 0, long turnStart = 0, string? turnMethod = null, bool countedBusy = false, DedupSlot? slot = null)
    {
        AppendStatus status;
        var start = commitSeq != 0 && EngineTelemetry.CommitDuration.Enabled ? Stopwatch.GetTimestamp() : 0;
        using var span = commitSeq != 0 ? EngineTelemetry.Start("commit", ActivityKind.Internal, IdText, requestId, "commit") : null;
        span?.SetTag(EngineTelemetry.SeqAttribute, commitSeq);
        try
        {
            status = await write.ConfigureAwait(false);
            if (start != 0) EngineTelemetry.RecordDuration(EngineTelemetry.CommitDuration, start, Type.Name);
        }
        catch (DependencyNotWrittenException e)
        {
            // Not written because the calling turn's partial record was not (refused or failed; its own activation reports
            // that): the in-memory state holds a turn the log does not, so this activation ends; nothing here is in doubt.
            if (countedBusy) Interlocked.Decrement(ref _awaitingDurable);
            span?.SetStatus(ActivityStatusCode.Error, e.Message);
            if (turnStart != 0) EngineTelemetry.RecordTurn(turnStart, Type.Name, turnMethod!, "failed");
            MarkBroken("the calling turn's partial record was not written");
            _services.OnTurnNotDurable?.Invoke(this);
            throw new TurnNotDurableException(Id, requestId, "the partial record of the calling turn was not written", e);
        }
        catch (Exception e)
        {
            if (countedBusy) Interlocked.Decrement(ref _awaitingDurable);
            span?.SetStatus(ActivityStatusCode.Error, e.Message);
            if (turnStart != 0) EngineTelemetry.RecordTurn(turnStart, Type.Name, turnMethod!, "failed");
            BrokeOnStoreFailure = true;
            if (IsActive) ReportStoreFailure(requestId, "the store failed", e);
            MarkBroken($"store failure: {e.Message}");
            _services.OnTurnNotDurable?.Invoke(this);
            throw new TurnNotDurableException(Id, requestId, "the store failed", e);
        }

        // No longer busy once the write is decided (the activation ends if it failed); decremented once on either way out.
        if (countedBusy) Interlocked.Decrement(ref _awaitingDurable);
        if (turnStart != 0) EngineTelemetry.RecordTurn(turnStart, Type.Name, turnMethod!, status != AppendStatus.Ok ? "failed" : reply.IsError ? "error" : "ok");
        if (status != AppendStatus.Ok && _claimTicket is { IsLost: true } lost)
        {
            // The claim that rode in this activation's first write was refused: nothing of it was written. Not a failure of
            // the store; the caller learns what a claim made first would have told it.
            MarkBroken(lost.Decided.IsFaulted ? "the store failed while claiming" : "the claim in the first write was refused");
            if (lost.Decided.IsFaulted) BrokeOnStoreFailure = true;
            _services.OnTurnNotDurable?.Invoke(this);
            throw ClaimRefused(lost, requestId);
        }

        if (status != AppendStatus.Ok)
        {
            if (IsActive) ReportStoreFailure(requestId, status == AppendStatus.Fenced ? "fenced" : "log sequence conflict", null);
            MarkBroken(status == AppendStatus.Fenced ? "fenced by a newer owner" : "log sequence conflict");
            _services.OnTurnNotDurable?.Invoke(this);
            throw new TurnNotDurableException(Id, requestId, status == AppendStatus.Fenced ? "another activation owns the component now" : "the log moved on without an earlier record");
        }

        if (slot is not null)
        {
            slot.Durable(reply);
            // The last write is durable: a shared completed write stands for it (waits on it see the same Ok), so the
            // activation does not keep the write's task alive while idle.
            _ = Interlocked.CompareExchange(ref _lastWrite, DurableWrite, write);
        }

        return reply;
    }

    private void CheckSameRequest(long recordedHash, long argsHash, Invocation inv)
    {
        // A fenced id (AnyArgs) is refused with its fence reply whatever it is sent with.
        if (recordedHash != argsHash && recordedHash != DedupEntry.AnyArgs) throw new RequestIdReuseException(Id, inv.RequestId, inv.Method);
    }
}

/// <summary>What every activation of one runtime shares.</summary>
/// <param name="Store">The log store.</param>
/// <param name="Writer">The runtime's group-commit writer.</param>
/// <param name="Options">The runtime's options.</param>
/// <param name="Environment">What the runtime talks to besides its store.</param>
/// <param name="Registry">The registered component types and their JSON settings.</param>
/// <param name="Caller">Delivers component calls made inside turns.</param>
/// <param name="Ownership">Claims components on activation.</param>
/// <param name="Counters">What the runtime counts for operators.</param>
/// <param name="Stopping">Cancelled when the runtime is disposed: background work of activations (completing turns in
/// doubt) stops.</param>
internal sealed record RuntimeServices(
    ILogStore Store, GroupCommitWriter Writer, RuntimeOptions Options, RuntimeEnvironment Environment, ComponentRegistry Registry,
    IComponentCaller Caller, IOwnershipPolicy Ownership, RuntimeCounters Counters, CancellationToken Stopping)
{
    /// <summary>The runtime's standbys of components other runtimes own (set once, right after construction).</summary>
    public Mirrors? Mirrors { get; set; }

    /// <summary>The runtime's wait-for edges, for deadlock detection (set once, right after construction).</summary>
    public WaitForGraph? WaitFor { get; set; }

    /// <summary>
    /// True when a turn's component call may leave before the turn's partial record is durable (CallOrder.cs): the writer orders
    /// dependent records (<see cref="GroupCommitWriter.OrdersDependencies"/>), the caller keeps the order of local calls
    /// (<see cref="IOrderedLocalCaller"/>, or the runtime itself) and <see cref="RuntimeOptions.OrderLocalCalls"/> is on. Set
    /// once, by the runtime.
    /// </summary>
    public bool OrderedLocalCalls { get; set; }

    /// <summary>Told of an activation whose turn record did not become durable (it is broken now); set once, by the runtime.</summary>
    public Action<Activation>? OnTurnNotDurable { get; set; }

    /// <summary>The runtime's clock.</summary>
    public TimeProvider Time => Environment.TimeProvider;

    /// <summary>The one timer of every call deadline of the runtime's turns (made by the first call that needs it).</summary>
    public CallDeadlineTimer Deadlines => Volatile.Read(ref _deadlines) ?? MakeDeadlines();

    // Not LazyInitializer with a lambda: that lambda captures this record, so every call that read Deadlines made a delegate.
    private CallDeadlineTimer MakeDeadlines()
    {
        Interlocked.CompareExchange(ref _deadlines, new CallDeadlineTimer(Time), null);
        return _deadlines!;
    }

    private CallDeadlineTimer? _deadlines;

    /// <summary>One background listing of a long history of request ids at a time (see <see cref="RequestIdKnowledge.MaxBackgroundLoad"/>).</summary>
    public SemaphoreSlim KnowledgeLoads { get; } = new(1, 1);

    /// <summary>Where the engine's operator messages go.</summary>
    public Microsoft.Extensions.Logging.ILogger Logger => Environment.Logger;
}
