using System.Security.Cryptography;
using System.Text.Json;
using Middleware.Grains;
using Middleware.Recovery.Log;
using Middleware.Recovery.Procedures;

namespace Middleware.Recovery.Runtime;

/// <summary>
/// The context of a live turn: hands out real values and records each one, and runs back-end calls under
/// deterministic request ids. A turn resumed from a partial record first gets back what the partial recorded.
/// </summary>
internal sealed class LiveTurnContext : IComponentContext
{
    private readonly TimeProvider _time;
    private readonly IReadOnlyList<RecordedValue> _prefixValues;
    private readonly IReadOnlyList<OutboundCall> _prefixOutbound;
    private readonly List<RecordedValue> _values = [];
    private readonly List<OutboundCall> _outbound = [];
    private readonly long _seq;
    private Random? _random;
    private int _ordinal;

    public LiveTurnContext(ComponentId id, string requestId, long seq, TimeProvider time, TurnRuntime? runtime = null, TurnRecord? resumeFrom = null)
    {
        Id = id;
        RequestId = requestId;
        _seq = seq;
        _time = time;
        Runtime = runtime;
        _prefixValues = resumeFrom?.Values ?? [];
        _prefixOutbound = resumeFrom?.Outbound ?? [];
        TurnSeq = resumeFrom?.TurnSeq ?? 0;
        ValuesAtLastPartial = _prefixValues.Count;
    }

    public ComponentId Id { get; }

    public string RequestId { get; }

    /// <summary>The seq pinned by this turn's first partial record, else the seq the turn's record will get.</summary>
    public long Seq => TurnSeq != 0 ? TurnSeq : _seq;

    /// <summary>The seq the outbound request ids use; 0 until a partial record pinned it.</summary>
    public long TurnSeq { get; set; }

    /// <summary>How many values the latest partial record holds.</summary>
    public int ValuesAtLastPartial { get; set; }

    /// <summary>Set when an outbound call failed for infrastructure reasons: the turn must not be recorded.</summary>
    public Exception? InfrastructureFailure { get; set; }

    /// <summary>The runtime services for outbound calls, or null in a context that cannot call out.</summary>
    public TurnRuntime? Runtime { get; }

    public IReadOnlyList<RecordedValue> Values => _values;

    public IReadOnlyList<OutboundCall> Outbound => _outbound;

    public DateTime UtcNow => new(Next(NondeterminismKind.UtcNow, () => new RecordedValue(NondeterminismKind.UtcNow, _time.GetUtcNow().UtcTicks)).Value, DateTimeKind.Utc);

    public Guid NewGuid() => Next(NondeterminismKind.Guid, () => new RecordedValue(NondeterminismKind.Guid, 0, Guid.NewGuid())).GuidValue;

    public Random Random => _random ??= new Random((int)Next(NondeterminismKind.RandomSeed,
        () => new RecordedValue(NondeterminismKind.RandomSeed, RandomNumberGenerator.GetInt32(int.MaxValue))).Value);

    public IBackend Backend(string name)
    {
        var runtime = Runtime ?? throw new InvalidOperationException("Back ends are not available in this context.");
        return new LiveBackend(this, runtime, runtime.Backends.Get(name));
    }

    /// <summary>The next value: the resumed partial's, in order, else a fresh one. Either way it is recorded.</summary>
    internal RecordedValue Next(NondeterminismKind kind, Func<RecordedValue> fresh)
    {
        if (!TryPrefix(kind, out var value)) Record(value = fresh());
        return value;
    }

    /// <summary>Takes (and records) the next value of a resumed partial record, if it still has one.</summary>
    internal bool TryPrefix(NondeterminismKind kind, out RecordedValue value)
    {
        value = default;
        if (_values.Count >= _prefixValues.Count) return false;
        value = _prefixValues[_values.Count];
        if (value.Kind != kind)
            throw new ReplayDivergenceException(Id, Seq, "(resumed turn)", $"value #{_values.Count + 1} = {value}", $"a request for {kind}");
        _values.Add(value);
        return true;
    }

    internal void Record(RecordedValue value) => _values.Add(value);

    internal int NextOrdinal() => ++_ordinal;

    internal OutboundCall? RecordedOutbound(int ordinal) => ordinal <= _prefixOutbound.Count ? _prefixOutbound[ordinal - 1] : null;

    internal void AddOutbound(OutboundCall call) => _outbound.Add(call);

    /// <summary>What a partial or final record of this turn holds now.</summary>
    internal TurnRecord Snapshot(Invocation inv, TurnReply reply, bool partial) =>
        new(inv.RequestId, inv.SessionId, inv.Caller, inv.Method, inv.Args, _values.ToArray(), reply)
        {
            TurnSeq = TurnSeq,
            Outbound = _outbound.ToArray(),
            IsPartial = partial,
        };
}

/// <summary>What a live turn needs from its activation to call out.</summary>
/// <param name="Backends">The registered back ends.</param>
/// <param name="Json">JSON settings for arguments and results.</param>
/// <param name="StabilizeAsync">Makes everything before the call durable and pins the turn's seq (guarantee 6).</param>
internal sealed record TurnRuntime(BackendRegistry Backends, JsonSerializerOptions Json, Func<LiveTurnContext, Task> StabilizeAsync);

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

    public Random Random => _random ??= new Random((int)Take(NondeterminismKind.RandomSeed).Value);

    public IBackend Backend(string name) => new ReplayBackend(this, name, json);

    internal RecordedValue Take(NondeterminismKind kind)
    {
        var values = turn.Values;
        if (_next >= values.Count)
            throw Diverged($"{values.Count} recorded nondeterministic value(s)",
                $"a request for value #{_next + 1} ({kind}); the code now consumes more nondeterminism than when the turn ran");
        var v = values[_next];
        if (v.Kind != kind) throw Diverged($"value #{_next + 1} = {v}", $"a request for {kind}");
        _next++;
        return v;
    }

    internal OutboundCall TakeOutbound(string target, string procedure, ReadOnlySpan<byte> args)
    {
        if (_outbound >= turn.Outbound.Count)
            throw Diverged($"{turn.Outbound.Count} outbound call(s)", $"a call #{_outbound + 1} to {target}.{procedure}");
        var call = turn.Outbound[_outbound];
        if (call.Target != target || call.Operation != procedure || !call.Args.Span.SequenceEqual(args))
            throw Diverged($"call #{call.Ordinal} {call.Target}.{call.Operation}({System.Text.Encoding.UTF8.GetString(call.Args.Span)})",
                $"{target}.{procedure}({System.Text.Encoding.UTF8.GetString(args)})");
        _outbound++;
        return call;
    }

    private ReplayDivergenceException Diverged(string expected, string actual) => new(Id, recordSeq, turn.Method, expected, actual);
}
