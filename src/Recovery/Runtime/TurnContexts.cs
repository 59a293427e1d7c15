using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Recovery.Log;
using Middleware.Recovery.Procedures;

namespace Middleware.Recovery.Runtime;

/// <summary>
/// The context of a live turn: hands out real values and records each one, and runs back-end and component calls
/// under deterministic request ids. A turn resumed from a partial record first gets back what the partial recorded.
/// </summary>
internal sealed class LiveTurnContext : IComponentContext
{
    private readonly TimeProvider _time;
    private readonly IReadOnlyList<RecordedValue> _prefixValues;
    private readonly IReadOnlyList<OutboundCall> _prefixOutbound;
    // Room for one value from the start (a typical turn reads the clock once); grows as a list does beyond that.
    private readonly List<RecordedValue> _values = new(1);
    // Made by the first outbound call (most turns make none); only the turn's own code path creates it, before any
    // continuation of a call could touch it.
    private TurnCalls? _calls;
    private readonly int _prefixLastOrdinal;
    private readonly long _seq;
    private Random? _random;
    private int _ordinal;
    private ILogger? _logger;
    private string? _idText;
    private string? _chain;
    private readonly TurnRuntime? _runtime;
    private readonly Activation? _owner;

    /// <param name="id">The component.</param>
    /// <param name="requestId">The turn's request.</param>
    /// <param name="seq">The seq the turn's record will get.</param>
    /// <param name="time">The clock.</param>
    /// <param name="runtime">The runtime services for outbound calls, or null (then <paramref name="owner"/>'s, made when first asked for).</param>
    /// <param name="resumeFrom">The partial record the turn resumes from, or null.</param>
    /// <param name="invocation">The request this turn runs, or null.</param>
    /// <param name="readOnly">A read-only turn.</param>
    /// <param name="idText"><paramref name="id"/> as text, or null (made when needed).</param>
    /// <param name="owner">The activation running the turn, whose <see cref="Activation.TurnRuntime"/> stands for <paramref name="runtime"/> when that is null.</param>
    public LiveTurnContext(ComponentId id, string requestId, long seq, TimeProvider time, TurnRuntime? runtime = null, TurnRecord? resumeFrom = null, Invocation? invocation = null, bool readOnly = false, string? idText = null, Activation? owner = null)
    {
        Id = id;
        _idText = idText;
        RequestId = requestId;
        _seq = seq;
        _time = time;
        _runtime = runtime;
        _owner = owner;
        Invocation = invocation;
        IsReadOnly = readOnly;
        _prefixValues = resumeFrom?.Values ?? [];
        _prefixOutbound = resumeFrom?.Outbound ?? [];
        _prefixLastOrdinal = _prefixOutbound.Count == 0 ? 0 : _prefixOutbound.Max(o => o.Ordinal);
        TurnSeq = resumeFrom?.TurnSeq ?? 0;
        ValuesAtLastPartial = _prefixValues.Count;
    }

    public ComponentId Id { get; }

    /// <summary><see cref="Id"/> as text (<c>Type/key</c>): the activation's own string, else made once per turn.</summary>
    private string IdText => _idText ??= Id.ToString();

    public string RequestId { get; }

    /// <summary>The request this turn runs (its session and call chain), or null in a context without one.</summary>
    public Invocation? Invocation { get; }

    /// <summary>A read-only turn: not logged, so it cannot make outbound calls that must be recorded.</summary>
    public bool IsReadOnly { get; }

    public string? SessionId => Invocation?.SessionId;

    /// <summary>The seq pinned by this turn's first partial record, else the seq the turn's record will get.</summary>
    public long Seq => TurnSeq != 0 ? TurnSeq : _seq;

    /// <summary>The seq the outbound request ids use; 0 until a partial record pinned it.</summary>
    public long TurnSeq { get; set; }

    /// <summary>How many values the latest partial record holds.</summary>
    public int ValuesAtLastPartial { get; set; }

    /// <summary>Set when an outbound call failed for infrastructure reasons: the turn must not be recorded.</summary>
    public Exception? InfrastructureFailure { get; set; }

    /// <summary>The runtime services for outbound calls, or null in a context that cannot call out.</summary>
    public TurnRuntime? Runtime => _runtime ?? _owner?.TurnRuntime;

    public IReadOnlyList<RecordedValue> Values => _values;

    /// <summary>The outcomes of the calls made so far, in ordinal order.</summary>
    public IReadOnlyList<OutboundCall> Outbound => _calls?.Snapshot() ?? [];

    /// <summary>The calls of this turn that may be outstanding together (<see cref="TurnCalls"/>).</summary>
    internal TurnCalls Calls => _calls ??= new();

    public DateTime UtcNow
    {
        get
        {
            // No delegate for the fresh value: this runs in most turns.
            if (!TryPrefix(NondeterminismKind.UtcNow, out var value)) Record(value = new RecordedValue(NondeterminismKind.UtcNow, _time.GetUtcNow().UtcTicks));
            return new DateTime(value.Value, DateTimeKind.Utc);
        }
    }

    public Guid NewGuid()
    {
        if (!TryPrefix(NondeterminismKind.Guid, out var value)) Record(value = new RecordedValue(NondeterminismKind.Guid, 0, Guid.NewGuid()));
        return value.GuidValue;
    }

    /// <summary>The component's logger; silent while a resumed turn is still inside what its partial record holds (those lines were written by the first attempt).</summary>
    public ILogger Logger => Runtime?.Logger is { } inner && inner != NullLogger.Instance ? _logger ??= new TurnLogger(inner, () => ResumingPrefix) : NullLogger.Instance;

    /// <summary>True while a turn resumed from a partial record has not yet gone past the values and calls it recorded.</summary>
    private bool ResumingPrefix => _values.Count < _prefixValues.Count || _ordinal < _prefixLastOrdinal;

    public Random Random => _random ??= new Random((int)Next(NondeterminismKind.RandomSeed,
        () => new RecordedValue(NondeterminismKind.RandomSeed, RandomNumberGenerator.GetInt32(int.MaxValue))).Value);

    public IBackend Backend(string name)
    {
        var runtime = Runtime ?? throw new InvalidOperationException("Back ends are not available in this context.");
        try
        {
            return new LiveBackend(this, runtime, runtime.Backends.Get(name));
        }
        catch (BackendNotConfiguredException e)
        {
            // Configuration, not the component's answer: the turn must not record it.
            InfrastructureFailure ??= e;
            throw;
        }
    }

    public async Task<string?> GetSessionItemAsync(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (!TryPrefix(NondeterminismKind.SessionItem, out var value))
        {
            string? item = null;
            if (SessionId is { } session && Runtime?.SessionItems is { } source)
            {
                try
                {
                    item = await source.GetItemAsync(session, key, CancellationToken.None).ConfigureAwait(false);
                }
                catch (Exception e)
                {
                    // Like a back end that cannot be reached: the turn did not happen; a retry reads the item again.
                    InfrastructureFailure ??= new SessionItemsUnavailableException($"session item '{key}' of session {session} could not be read: {e.Message}", e);
                    throw;
                }
            }

            value = item is null
                ? new RecordedValue(NondeterminismKind.SessionItem, 0)
                : new RecordedValue(NondeterminismKind.SessionItem, 1, default, System.Text.Encoding.UTF8.GetBytes(item));
            Record(value);
        }

        return SessionItemOf(value);
    }

    public T Call<T>(string key)
        where T : IRecoverableComponent
    {
        var runtime = Runtime ?? throw new InvalidOperationException("Component calls are not available in this context.");
        var (name, methods) = runtime.Registry.TryGet(typeof(T), out var info) ? (info.Name, info.Methods) : ComponentInterface.Of(typeof(T));
        // The proxy hands over the target, the method and the encoded arguments: no closure, no invocation of its own.
        return ComponentProxy.Create<T>(CallComponentAsync, name, methods, runtime.Json, key, SessionId);
    }

    public T Call<T>(string key, TimeSpan timeout)
        where T : IRecoverableComponent
    {
        var runtime = Runtime ?? throw new InvalidOperationException("Component calls are not available in this context.");
        CallDeadlines.CheckTimeout(timeout);
        var (name, methods) = runtime.Registry.TryGet(typeof(T), out var info) ? (info.Name, info.Methods) : ComponentInterface.Of(typeof(T));
        return ComponentProxy.Create<T>((target, method, args) => CallComponentAsync(runtime, target, method, args, timeout), name, methods, runtime.Json, key, SessionId);
    }

    private Task<ComponentReply> CallComponentAsync(ComponentId target, ComponentMethod method, ReadOnlyMemory<byte> args) =>
        CallComponentAsync(Runtime!, target, method, args);

    /// <summary>
    /// One outbound component call: reuse the outcome a resumed partial record holds; else stabilize (guarantee 6),
    /// refuse a cycle, send under <c>Id:TurnSeq:ordinal</c>, and record the callee's reply as the outcome.
    /// </summary>
    private Task<ComponentReply> CallComponentAsync(TurnRuntime runtime, ComponentId target, ComponentMethod method, ReadOnlyMemory<byte> args, TimeSpan? timeout = null)
    {
        // The same for every call of the turn.
        var chain = _chain ??= CallChain.Append(Invocation?.Caller, IdText);
        var cycle = target == Id || CallChain.Contains(Invocation?.Caller, target);
        if (IsReadOnly) return CallFromReadOnlyAsync(runtime, target, method, args, chain, cycle, timeout);
        ThrowIfAttemptFailed();
        // The ordinal is taken now, before anything is awaited: calls started together get their ordinals in program order.
        var ordinal = NextOrdinal();
        Calls.Started();
        return CallComponentAsync(runtime, target, method, args, chain, cycle, ordinal, timeout);
    }

    /// <summary>The call whose ordinal was taken (and counted started, <see cref="TurnCalls.Started"/>); counts it completed however it ends.</summary>
    private async Task<ComponentReply> CallComponentAsync(TurnRuntime runtime, ComponentId target, ComponentMethod method, ReadOnlyMemory<byte> args, string chain, bool cycle, int ordinal, TimeSpan? timeout)
    {
        try
        {
            var targetText = target.ToString();
            if (RecordedOutbound(ordinal) is { } recorded)
            {
                // Resumed from a partial record that already holds this call's outcome.
                if (recorded.Kind != OutboundKind.Component || recorded.Target != targetText || recorded.Operation != method.Name || !recorded.Args.Span.SequenceEqual(args.Span))
                    throw new ReplayDivergenceException(Id, Seq, "(resumed turn)", $"call #{ordinal} {recorded.Kind} {recorded.Target}.{recorded.Operation}({System.Text.Encoding.UTF8.GetString(recorded.Args.Span)})",
                        $"a call to {targetText}.{method.Name}({System.Text.Encoding.UTF8.GetString(args.Span)})");
                AddOutbound(recorded);
                return recorded.Outcome;
            }

            // Guarantee 6: everything before this call is durable and the turn's seq is pinned first, so a re-execution
            // after a crash reaches the callee with the same request id and the same arguments. A call within the runtime
            // may carry the partial record instead of waiting for it (CallOrder.cs), held until the call was handed over.
            var after = await runtime.StabilizeAsync(this, true).ConfigureAwait(false) as GroupCommitWriter.WriteItem;
            var requestId = $"{IdText}:{TurnSeq}:{ordinal}";
            ComponentReply outcome;
            try
            {
                if (after is not null && FaultPoints.FreezesBefore(requestId))
                {
                    // The crash tests' freeze point is "partial record durable, call not sent": wait for the record there.
                    GroupCommitWriter.Release(after);
                    try
                    {
                        await after.Task.ConfigureAwait(false);
                    }
                    catch (Exception)
                    {
                        // the call, carrying it, reports the failure
                    }
                }

                FaultPoints.BeforeOutbound(requestId);
                if (cycle)
                {
                    // Deterministic (the chain is part of the recorded request), so it is recorded like a reply: replay reproduces it.
                    outcome = Replayer.ErrorReply(new CallCycleException(chain, target));
                }
                else
                {
                    // The call's span carries its deterministic request id; the callee's turn is its child (in this process, or
                    // through the trace context of the forwarded Invoke).
                    using var span = EngineTelemetry.Source.HasListeners() ? EngineTelemetry.Start(target.Type + "." + method.Name, System.Diagnostics.ActivityKind.Client, targetText, requestId, method.Name) : null;
                    try
                    {
                        // The caller enforces the deadline (CallDeadlines): a timed-out or deadlocked call returns its recorded error reply.
                        var call = runtime.Caller.InvokeAsync(new Invocation(target, requestId, method.Name, args, SessionId, chain) { Timeout = timeout, DurableAfter = after }, CancellationToken.None);
                        // Handed over: a live callee here ran up to its first await and queued its record behind the partial
                        // record, which may go now (in one transaction with it).
                        if (after is not null) GroupCommitWriter.Release(after);
                        outcome = await call.ConfigureAwait(false);
                    }
                    catch (CallCycleException e)
                    {
                        outcome = Replayer.ErrorReply(e); // refused by the receiver (a cycle across silos): deterministic, recorded
                    }
                    catch (Exception e)
                    {
                        span?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, e.Message);
                        InfrastructureFailure ??= e;
                        throw;
                    }
                }
            }
            finally
            {
                // Every way the call did not get to the hand-over (a cycle, a fault, a throwing caller) releases it too.
                if (after is not null) GroupCommitWriter.Release(after);
            }

            AddOutbound(new OutboundCall(ordinal, OutboundKind.Component, targetText, requestId, method.Name, args, outcome));
            return outcome;
        }
        finally
        {
            Calls.Completed();
        }
    }

    /// <summary>
    /// A read-only turn is not logged, so it may only call read-only methods (which change nothing and need no
    /// exactly-once id); it still waits until every earlier record of this component is durable first.
    /// </summary>
    private async Task<ComponentReply> CallFromReadOnlyAsync(TurnRuntime runtime, ComponentId target, ComponentMethod method, ReadOnlyMemory<byte> args, string chain, bool cycle, TimeSpan? timeout)
    {
        if (!method.IsReadOnly)
            throw new InvalidOperationException(
                $"{Id}.{Invocation?.Method} is a [ReadOnlyTurn] and is not logged, so it can only call read-only methods of other components, " +
                $"but {target}.{method.Name} may change state. Remove [ReadOnlyTurn] from {Invocation?.Method}, or mark {method.Name} [ReadOnlyTurn] if it only reads.");
        if (cycle) throw new CallCycleException(chain, target);
        var requestId = $"{IdText}:read:{RequestId}:{NextOrdinal()}";
        await runtime.StabilizeAsync(this, false).ConfigureAwait(false);
        try
        {
            return await runtime.Caller.InvokeAsync(new Invocation(target, requestId, method.Name, args, SessionId, chain) { Timeout = timeout }, CancellationToken.None).ConfigureAwait(false);
        }
        catch (CallCycleException e)
        {
            return Replayer.ErrorReply(e);
        }
        catch (Exception e)
        {
            InfrastructureFailure ??= e;
            throw;
        }
    }

    /// <summary>
    /// Once a call of this attempt failed for reasons outside the component (an outage), the attempt will be discarded
    /// and the turn completed later from its partial record: no further call may leave in it, or a component that
    /// catches the outage and compensates would make calls the completed turn never makes.
    /// </summary>
    internal void ThrowIfAttemptFailed()
    {
        if (InfrastructureFailure is { } failure)
            throw new InvalidOperationException($"An earlier call of this turn failed outside the component ({failure.Message}); the turn will be completed later, so no further call leaves in this attempt.", failure);
    }

    internal static string? SessionItemOf(RecordedValue value) =>
        value.Value == 0 ? null : System.Text.Encoding.UTF8.GetString(value.Bytes.Span);

    /// <summary>The next value: the resumed partial's, in order, else a fresh one. Either way it is recorded.</summary>
    internal RecordedValue Next(NondeterminismKind kind, Func<RecordedValue> fresh)
    {
        if (!TryPrefix(kind, out var value)) Record(value = fresh());
        return value;
    }

    /// <summary>Takes (and records) the next value of a resumed partial record, if it still has one.</summary>
    internal bool TryPrefix(NondeterminismKind kind, out RecordedValue value)
    {
        Step(kind);
        value = default;
        if (_values.Count >= _prefixValues.Count) return false;
        value = _prefixValues[_values.Count];
        if (value.Kind != kind)
            throw new ReplayDivergenceException(Id, Seq, "(resumed turn)", $"value #{_values.Count + 1} = {value}", $"a request for {kind}");
        _values.Add(value);
        return true;
    }

    internal void Record(RecordedValue value) => _values.Add(value);

    /// <summary>The next outbound ordinal, in program order; refused where its place would depend on which reply came first.</summary>
    internal int NextOrdinal()
    {
        Step(null);
        return ++_ordinal;
    }

    /// <summary>
    /// <see cref="TurnCalls.Step"/>; a refusal is not the component's answer (a replay could not reproduce where it
    /// happened), so like an outage it leaves the attempt unrecorded.
    /// </summary>
    private void Step(NondeterminismKind? value)
    {
        // Nothing to refuse before the turn's first call: no call can have completed.
        if (_calls is null) return;
        try
        {
            _calls.Step(Id, Invocation?.Method, value);
        }
        catch (InvalidOperationException e)
        {
            InfrastructureFailure ??= e;
            throw;
        }
    }

    /// <summary>The outcome a resumed partial record holds for <paramref name="ordinal"/> (calls that ran together may have left gaps).</summary>
    internal OutboundCall? RecordedOutbound(int ordinal)
    {
        if (ordinal > _prefixLastOrdinal) return null;
        if (ordinal <= _prefixOutbound.Count && _prefixOutbound[ordinal - 1].Ordinal == ordinal) return _prefixOutbound[ordinal - 1];
        foreach (var call in _prefixOutbound)
        {
            if (call.Ordinal == ordinal) return call;
        }

        return null;
    }

    internal void AddOutbound(OutboundCall call) => Calls.Add(call);

    /// <summary>
    /// The payload of this turn's final record, encoded straight from the context: no <see cref="TurnRecord"/> and no copy
    /// of the value list (the context is done: nothing adds to it after the final record).
    /// The array has <see cref="RecordChecksum.HeaderLength"/> bytes of room in front of the payload for the store's seal
    /// (<see cref="LogRecord.SealRoom"/>).
    /// </summary>
    internal byte[] EncodeFinal(Invocation inv, ComponentReply reply) =>
        RecordCodec.EncodeTurn(inv.RequestId, inv.SessionId, inv.Caller, inv.Method, inv.Args.Span, _values, TurnSeq,
            _calls?.Snapshot() ?? (IReadOnlyList<OutboundCall>)[], partial: false, reply, RecordChecksum.HeaderLength);

    /// <summary>
    /// The payload of a partial record of this turn as it is now (before an outbound call), encoded from the context like
    /// <see cref="EncodeFinal"/>: byte for byte what <see cref="RecordCodec.EncodeTurn(TurnRecord)"/> of <see cref="Snapshot"/>
    /// gives, without the record object and the copies of the value and outcome lists, and with the seal's room in front.
    /// Runs on the turn's own path, where nothing adds a value meanwhile (<see cref="TurnCalls.Step"/>).
    /// </summary>
    internal byte[] EncodePartial(Invocation inv) =>
        RecordCodec.EncodeTurn(inv.RequestId, inv.SessionId, inv.Caller, inv.Method, inv.Args.Span, _values, TurnSeq,
            _calls?.Snapshot() ?? (IReadOnlyList<OutboundCall>)[], partial: true, ComponentReply.Void, RecordChecksum.HeaderLength);

    /// <summary>What a partial or final record of this turn holds now.</summary>
    internal TurnRecord Snapshot(Invocation inv, ComponentReply reply, bool partial) =>
        new(inv.RequestId, inv.SessionId, inv.Caller, inv.Method, inv.Args, _values.ToArray(), reply)
        {
            TurnSeq = TurnSeq,
            Outbound = _calls?.Snapshot() ?? [],
            IsPartial = partial,
        };
}

/// <summary>What a live turn needs from its activation to call out.</summary>
/// <param name="Backends">The registered back ends.</param>
/// <param name="Json">JSON settings for arguments and results.</param>
/// <param name="StabilizeAsync">Makes everything before the call durable and pins the turn's seq (guarantee 6); with true (a
/// component call), may instead return the partial record the call must carry (<see cref="Invocation.DurableAfter"/>).</param>
/// <param name="Registry">The registered component types (for proxies of callees).</param>
/// <param name="Caller">Delivers component calls (the runtime itself, or <see cref="RuntimeOptions.Caller"/>).</param>
/// <param name="SessionItems">Reads session items, or null when every item reads null.</param>
/// <param name="Logger">The component's logger (<c>Context.Logger</c> of live turns).</param>
internal sealed record TurnRuntime(
    BackendRegistry Backends,
    JsonSerializerOptions Json,
    Func<LiveTurnContext, bool, ValueTask<object?>> StabilizeAsync,
    ComponentRegistry Registry,
    IComponentCaller Caller,
    ISessionItemSource? SessionItems,
    ILogger? Logger = null);

/// <summary>
/// The context of a replayed turn: feeds back the recorded values and outbound outcomes in order. Asking for
/// something the original turn did not take is divergence, reported with the position and what was recorded.
/// </summary>
internal sealed class ReplayTurnContext(ComponentId id, long recordSeq, TurnRecord turn, JsonSerializerOptions json) : IComponentContext
{
    private int _next;
    private int _outbound;
    private Random? _random;

    public ComponentId Id { get; } = id;

    public string RequestId => turn.RequestId;

    public long Seq => turn.TurnSeq != 0 ? turn.TurnSeq : recordSeq;

    /// <summary>How many recorded values the replay consumed; fewer than recorded is divergence too.</summary>
    public int Consumed => _next;

    /// <summary>How many recorded outbound calls the replay made.</summary>
    public int OutboundConsumed => _outbound;

    public DateTime UtcNow => new(Take(NondeterminismKind.UtcNow).Value, DateTimeKind.Utc);

    public Guid NewGuid() => Take(NondeterminismKind.Guid).GuidValue;

    /// <summary>Replay writes no log lines: the original turn wrote them.</summary>
    public ILogger Logger => NullLogger.Instance;

    public Random Random => _random ??= new Random((int)Take(NondeterminismKind.RandomSeed).Value);

    public IBackend Backend(string name) => new ReplayBackend(this, name, json);

    public string? SessionId => turn.SessionId;

    public Task<string?> GetSessionItemAsync(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return Task.FromResult(LiveTurnContext.SessionItemOf(Take(NondeterminismKind.SessionItem)));
    }

    public T Call<T>(string key)
        where T : IRecoverableComponent
    {
        var (name, methods) = ComponentInterface.Of(typeof(T));
        return ComponentProxy.Create<T>(
            inv => Task.FromResult(TakeOutbound(OutboundKind.Component, inv.Target.ToString(), inv.Method, inv.Args.Span).Outcome),
            name, methods, json, key, static () => string.Empty, SessionId);
    }

    internal RecordedValue Take(NondeterminismKind kind)
    {
        var values = turn.Values;
        if (_next >= values.Count)
            throw Diverged($"{values.Count} recorded nondeterministic value(s)",
                $"a request for value #{_next + 1} ({kind}); the turn now asks for more nondeterministic values than it recorded");
        var v = values[_next];
        if (v.Kind != kind) throw Diverged($"value #{_next + 1} = {v}", $"a request for {kind}");
        _next++;
        return v;
    }

    internal OutboundCall TakeOutbound(OutboundKind kind, string target, string procedure, ReadOnlySpan<byte> args)
    {
        if (_outbound >= turn.Outbound.Count)
            throw Diverged($"{turn.Outbound.Count} outbound call(s)", $"a call #{_outbound + 1} to {target}.{procedure}");
        var call = turn.Outbound[_outbound];
        if (call.Kind != kind || call.Target != target || call.Operation != procedure || !call.Args.Span.SequenceEqual(args))
            throw Diverged($"call #{call.Ordinal} {Describe(call.Kind)} {call.Target}.{call.Operation}({System.Text.Encoding.UTF8.GetString(call.Args.Span)})",
                $"{Describe(kind)} {target}.{procedure}({System.Text.Encoding.UTF8.GetString(args)})");
        _outbound++;
        return call;
    }

    private static string Describe(OutboundKind kind) => kind == OutboundKind.Component ? "component" : "back end";

    private ReplayDivergenceException Diverged(string expected, string actual) => new(Id, recordSeq, turn.Method, expected, actual);
}
