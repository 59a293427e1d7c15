using System.Text;
using Middleware.Core;

namespace Middleware.Protocol;

/// <summary>
/// A request to run <see cref="Method"/> on the component <c>ComponentType/Key</c>, mirroring the engine's
/// <c>Invocation</c>: the request id makes it exactly-once, so a retry after a lost connection sends the same id,
/// method and arguments. <see cref="Args"/> is the JSON array of arguments.
/// </summary>
public sealed record InvokeMessage(
    string ComponentType,
    string Key,
    string Method,
    string RequestId,
    string? SessionId,
    string? Caller,
    ReadOnlyMemory<byte> Args,
    InvokeFlags Flags = InvokeFlags.None) : ProtocolMessage
{
    /// <inheritdoc />
    public override MessageType Type => MessageType.Invoke;

    /// <summary>
    /// The W3C <c>traceparent</c> of the caller's span (protocol version 4), or null: a silo continues the caller's trace
    /// with it. Sent as <see cref="InvokeFlags.TraceContext"/> and two fields after the flags; a connection of an older
    /// version drops it before sending (<see cref="MiddlewareConnection.InvokeAsync"/>).
    /// </summary>
    public string? TraceParent { get; init; }

    /// <summary>The W3C <c>tracestate</c> that goes with <see cref="TraceParent"/>, or null.</summary>
    public string? TraceState { get; init; }

    private uint WireFlags => (uint)(TraceParent is null ? Flags & ~InvokeFlags.TraceContext : Flags | InvokeFlags.TraceContext);

    /// <inheritdoc />
    public override int GetPayloadSize() =>
        PayloadWriter.SizeOfString(ComponentType) + PayloadWriter.SizeOfString(Key) + PayloadWriter.SizeOfString(Method)
        + PayloadWriter.SizeOfString(RequestId) + PayloadWriter.SizeOfOptionalString(SessionId) + PayloadWriter.SizeOfOptionalString(Caller)
        + PayloadWriter.SizeOfBytes(Args.Length) + PayloadWriter.SizeOfVarUInt32(WireFlags)
        + (TraceParent is null ? 0 : PayloadWriter.SizeOfString(TraceParent) + PayloadWriter.SizeOfOptionalString(TraceState));

    /// <inheritdoc />
    public override void WritePayload(ref PayloadWriter writer)
    {
        writer.WriteString(ComponentType);
        writer.WriteString(Key);
        writer.WriteString(Method);
        writer.WriteString(RequestId);
        writer.WriteOptionalString(SessionId);
        writer.WriteOptionalString(Caller);
        writer.WriteBytes(Args.Span);
        writer.WriteVarUInt32(WireFlags);
        if (TraceParent is null) return;
        writer.WriteString(TraceParent);
        writer.WriteOptionalString(TraceState);
    }

    /// <summary>Equality includes the argument bytes (records compare memory by reference otherwise).</summary>
    public bool Equals(InvokeMessage? other) =>
        other is not null && ComponentType == other.ComponentType && Key == other.Key && Method == other.Method
        && RequestId == other.RequestId && SessionId == other.SessionId && Caller == other.Caller && Flags == other.Flags
        && TraceParent == other.TraceParent && TraceState == other.TraceState
        && Args.Span.SequenceEqual(other.Args.Span);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(ComponentType, Key, Method, RequestId);

    /// <inheritdoc />
    public override string ToString() =>
        $"Invoke {ComponentType}/{Key}.{Method} request {RequestId}{(SessionId is null ? "" : " session " + SessionId)} args {Encoding.UTF8.GetString(Args.Span)}";
}
