using System.Security.Cryptography;
using Middleware.Grains;
using Middleware.Recovery.Log;

namespace Middleware.Recovery.Runtime;

/// <summary>The context of a live turn: hands out real values and records each one.</summary>
internal sealed class LiveTurnContext(ComponentId id, string requestId, long seq, TimeProvider time) : IComponentContext
{
    private List<RecordedValue>? _values;
    private Random? _random;

    public ComponentId Id { get; } = id;

    public string RequestId { get; } = requestId;

    public long Seq { get; } = seq;

    public IReadOnlyList<RecordedValue> Values => (IReadOnlyList<RecordedValue>?)_values ?? [];

    public DateTime UtcNow
    {
        get
        {
            var now = time.GetUtcNow().UtcDateTime;
            Record(new RecordedValue(NondeterminismKind.UtcNow, now.Ticks));
            return now;
        }
    }

    public Guid NewGuid()
    {
        var g = Guid.NewGuid();
        Record(new RecordedValue(NondeterminismKind.Guid, 0, g));
        return g;
    }

    public Random Random
    {
        get
        {
            if (_random is null)
            {
                var seed = RandomNumberGenerator.GetInt32(int.MaxValue);
                Record(new RecordedValue(NondeterminismKind.RandomSeed, seed));
                _random = new Random(seed);
            }

            return _random;
        }
    }

    private void Record(RecordedValue value) => (_values ??= []).Add(value);
}

/// <summary>
/// The context of a replayed turn: feeds back the recorded values in order. Asking for a value the
/// original turn did not take is divergence, reported with the position and what was recorded.
/// </summary>
internal sealed class ReplayTurnContext(ComponentId id, string requestId, long seq, string method, IReadOnlyList<RecordedValue> values) : IComponentContext
{
    private int _next;
    private Random? _random;

    public ComponentId Id { get; } = id;

    public string RequestId { get; } = requestId;

    public long Seq { get; } = seq;

    /// <summary>How many recorded values the replay consumed; fewer than recorded is divergence too.</summary>
    public int Consumed => _next;

    public DateTime UtcNow => new(Take(NondeterminismKind.UtcNow).Value, DateTimeKind.Utc);

    public Guid NewGuid() => Take(NondeterminismKind.Guid).GuidValue;

    public Random Random => _random ??= new Random((int)Take(NondeterminismKind.RandomSeed).Value);

    private RecordedValue Take(NondeterminismKind kind)
    {
        if (_next >= values.Count)
            throw new ReplayDivergenceException(Id, Seq, method,
                $"{values.Count} recorded nondeterministic value(s)",
                $"a request for value #{_next + 1} ({kind}); the code now consumes more nondeterminism than when the turn ran");
        var v = values[_next];
        if (v.Kind != kind)
            throw new ReplayDivergenceException(Id, Seq, method, $"value #{_next + 1} = {v}", $"a request for {kind}");
        _next++;
        return v;
    }
}
