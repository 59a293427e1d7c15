using Middleware.Core;

namespace Middleware.Recovery.Log;

/// <summary>The kinds of nondeterministic values a turn can consume. Stored; never renumber.</summary>
public enum NondeterminismKind : byte
{
    /// <summary><c>Context.UtcNow</c>: UTC ticks.</summary>
    UtcNow = 1,

    /// <summary><c>Context.NewGuid()</c>.</summary>
    Guid = 2,

    /// <summary>The seed of <c>Context.Random</c>, drawn on its first use in the turn.</summary>
    RandomSeed = 3,

    /// <summary>The JSON result of an exploratory back-end read (<c>Backend(name).ReadAsync</c>).</summary>
    BackendRead = 4,

    /// <summary>
    /// A session item read by <c>Context.GetSessionItemAsync</c>: <see cref="RecordedValue.Value"/> is 0 for null
    /// (not set, or no session) and 1 for a value, whose UTF-8 bytes are in <see cref="RecordedValue.Bytes"/>.
    /// </summary>
    SessionItem = 5,
}

/// <summary>What an outbound call went to. Stored; never renumber.</summary>
public enum OutboundKind : byte
{
    /// <summary>A generalized idempotent procedure in a back-end database.</summary>
    Backend = 1,

    /// <summary>A method call on another component (<c>Context.Call&lt;T&gt;(key)</c>); the outcome is the callee's reply.</summary>
    Component = 2,
}

/// <summary>
/// An outbound call a turn made, in call order, with the deterministic request id it carried and its outcome
/// (a JSON result, or the recorded abort). Replay returns the outcome without calling out.
/// </summary>
public sealed record OutboundCall(int Ordinal, OutboundKind Kind, string Target, string RequestId, string Operation, ReadOnlyMemory<byte> Args, ComponentReply Outcome);

/// <summary>One recorded nondeterministic value, in the order the turn consumed it.</summary>
public readonly record struct RecordedValue(NondeterminismKind Kind, long Value, Guid GuidValue = default, ReadOnlyMemory<byte> Bytes = default)
{
    /// <inheritdoc />
    public override string ToString() => Kind switch
    {
        NondeterminismKind.UtcNow => $"UtcNow={new DateTime(Value, DateTimeKind.Utc):O}",
        NondeterminismKind.Guid => $"Guid={GuidValue}",
        NondeterminismKind.RandomSeed => $"RandomSeed={Value}",
        NondeterminismKind.BackendRead => $"BackendRead={System.Text.Encoding.UTF8.GetString(Bytes.Span)}",
        NondeterminismKind.SessionItem => Value == 0 ? "SessionItem=(null)" : $"SessionItem={System.Text.Encoding.UTF8.GetString(Bytes.Span)}",
        _ => $"{Kind}={Value}",
    };
}

/// <summary>
/// Everything the log keeps of one turn besides the columns in <see cref="LogRecord"/>: who asked what,
/// the nondeterministic values it consumed, and what it answered.
/// </summary>
public sealed record TurnRecord(
    string RequestId,
    string? SessionId,
    string? Caller,
    string Method,
    ReadOnlyMemory<byte> Args,
    IReadOnlyList<RecordedValue> Values,
    ComponentReply Reply)
{
    /// <summary>
    /// The seq the turn's outbound request ids are built from (<c>componentId:TurnSeq:ordinal</c>): the seq of
    /// its first partial record, pinned before its first outbound call. 0 when the turn made no outbound call.
    /// </summary>
    public long TurnSeq { get; init; }

    /// <summary>Outbound calls in call order.</summary>
    public IReadOnlyList<OutboundCall> Outbound { get; init; } = [];

    /// <summary>
    /// True for a partial record: the turn's input and what it consumed so far, forced to the log before an
    /// outbound call so a re-execution reuses the same values and request ids. It has no reply.
    /// </summary>
    public bool IsPartial { get; init; }

    /// <summary>A stable hash of method and arguments, to detect a request id reused for another request.</summary>
    public long ArgsHash => StableHash.Of(Method, Args.Span);
}

/// <summary>FNV-1a 64: stable across processes and versions (unlike <see cref="HashCode"/>).</summary>
public static class StableHash
{
    /// <summary>Hash of a method name and argument bytes.</summary>
    public static long Of(string method, ReadOnlySpan<byte> args)
    {
        const ulong prime = 1099511628211;
        ulong h = 14695981039346656037;
        foreach (var c in method)
        {
            h = (h ^ c) * prime;
        }

        h = (h ^ 0xFF) * prime;
        foreach (var b in args)
        {
            h = (h ^ b) * prime;
        }

        return unchecked((long)h);
    }
}
