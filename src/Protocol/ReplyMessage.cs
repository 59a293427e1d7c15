using System.Text;
using Middleware.Core;

namespace Middleware.Protocol;

/// <summary>
/// The answer to an <see cref="InvokeMessage"/>. Which fields are set depends on <see cref="Status"/>: <c>Ok</c> carries
/// <see cref="Result"/> (JSON, empty for a <c>Task</c> method), <c>Error</c> carries <see cref="ErrorType"/>,
/// <see cref="ErrorMessage"/> and <see cref="ErrorData"/> (the engine's <c>ComponentReply</c>), <c>Moved</c> carries
/// <see cref="Detail"/> as the address to go to, and <c>Unavailable</c>, <c>BadRequest</c> and <c>NotFound</c> carry
/// <see cref="Detail"/> as the reason, BadRequest and NotFound also a <see cref="Condition"/>. Build replies with the
/// factory methods so the fields always match the status.
/// </summary>
public sealed record ReplyMessage : ProtocolMessage
{
    private ReplyMessage(ReplyStatus status, ReadOnlyMemory<byte> result, string? errorType, string? errorMessage, string? detail, ReadOnlyMemory<byte> errorData = default, ReplyCondition condition = ReplyCondition.None)
    {
        Status = status;
        Result = result;
        ErrorType = errorType;
        ErrorMessage = errorMessage;
        Detail = detail;
        ErrorData = errorData;
        Condition = condition;
    }

    /// <summary>How the request ended.</summary>
    public ReplyStatus Status { get; }

    /// <summary>The JSON result of an <c>Ok</c> reply.</summary>
    public ReadOnlyMemory<byte> Result { get; }

    /// <summary>The exception type name of an <c>Error</c> reply.</summary>
    public string? ErrorType { get; }

    /// <summary>The exception message of an <c>Error</c> reply.</summary>
    public string? ErrorMessage { get; }

    /// <summary>The exception's data properties of an <c>Error</c> reply (canonical JSON, see <c>ExceptionContent</c>); empty for none.</summary>
    public ReadOnlyMemory<byte> ErrorData { get; }

    /// <summary>The address of a <c>Moved</c> reply, or the reason of <c>Unavailable</c>, <c>BadRequest</c> and <c>NotFound</c>.</summary>
    public string? Detail { get; }

    /// <summary>The known condition a <c>BadRequest</c> or <c>NotFound</c> stands for (<see cref="ReplyCondition.None"/> otherwise).</summary>
    public ReplyCondition Condition { get; }

    /// <summary>
    /// The protocol version this reply is encoded in: <see cref="ProtocolConstants.Version"/> unless made for an older
    /// peer with <see cref="ForVersion"/>. Not part of equality: it is the encoding, not the content.
    /// </summary>
    public ushort WireVersion { get; private init; } = ProtocolConstants.Version;

    /// <inheritdoc />
    public override MessageType Type => MessageType.Reply;

    /// <summary>A successful turn with its JSON result.</summary>
    public static ReplyMessage Ok(ReadOnlyMemory<byte> result) => new(ReplyStatus.Ok, result, null, null, null);

    /// <summary>A turn that threw, or a request that failed on the server; <paramref name="errorData"/> is the exception's data (JSON).</summary>
    public static ReplyMessage Error(string errorType, string errorMessage, ReadOnlyMemory<byte> errorData = default) =>
        new(ReplyStatus.Error, default, errorType, errorMessage, null, errorData);

    /// <summary>The component is owned elsewhere; send the request to <paramref name="address"/>.</summary>
    public static ReplyMessage Moved(string address) => new(ReplyStatus.Moved, default, null, null, address);

    /// <summary>The silo cannot serve now; the request did not run and may be retried.</summary>
    public static ReplyMessage Unavailable(string reason) => new(ReplyStatus.Unavailable, default, null, null, reason);

    /// <summary>The request is malformed or refused; retrying it unchanged will not help. <paramref name="condition"/> names a known case.</summary>
    public static ReplyMessage BadRequest(string reason, ReplyCondition condition = ReplyCondition.None) => new(ReplyStatus.BadRequest, default, null, null, reason, default, condition);

    /// <summary>The component type or method is unknown.</summary>
    public static ReplyMessage NotFound(string reason, ReplyCondition condition = ReplyCondition.None) => new(ReplyStatus.NotFound, default, null, null, reason, default, condition);

    /// <summary>
    /// This reply as a peer that speaks <paramref name="version"/> reads it: version 1 has no error data and no condition
    /// fields, so they are left out (the peer sees the type, message or detail alone, as before).
    /// </summary>
    public ReplyMessage ForVersion(ushort version) =>
        // Version 3 changed the handshake only: its replies are version 2's.
        version >= 2 ? this : new(Status, Result, ErrorType, ErrorMessage, Detail) { WireVersion = version };

    /// <inheritdoc />
    public override int GetPayloadSize() => 1 + Status switch
    {
        ReplyStatus.Ok => PayloadWriter.SizeOfBytes(Result.Length),
        ReplyStatus.Error => PayloadWriter.SizeOfString(ErrorType ?? "") + PayloadWriter.SizeOfString(ErrorMessage ?? "")
            + (WireVersion >= 2 ? PayloadWriter.SizeOfBytes(ErrorData.Length) : 0),
        ReplyStatus.BadRequest or ReplyStatus.NotFound => PayloadWriter.SizeOfString(Detail ?? "") + (WireVersion >= 2 ? PayloadWriter.SizeOfVarUInt32((uint)Condition) : 0),
        _ => PayloadWriter.SizeOfString(Detail ?? ""),
    };

    /// <inheritdoc />
    public override void WritePayload(ref PayloadWriter writer)
    {
        writer.WriteByte((byte)Status);
        switch (Status)
        {
            case ReplyStatus.Ok:
                writer.WriteBytes(Result.Span);
                break;
            case ReplyStatus.Error:
                writer.WriteString(ErrorType ?? "");
                writer.WriteString(ErrorMessage ?? "");
                if (WireVersion >= 2) writer.WriteBytes(ErrorData.Span);
                break;
            case ReplyStatus.BadRequest or ReplyStatus.NotFound:
                writer.WriteString(Detail ?? "");
                if (WireVersion >= 2) writer.WriteVarUInt32((uint)Condition);
                break;
            default:
                writer.WriteString(Detail ?? "");
                break;
        }
    }

    /// <summary>Equality includes the result and error data bytes (records compare memory by reference otherwise).</summary>
    public bool Equals(ReplyMessage? other) =>
        other is not null && Status == other.Status && ErrorType == other.ErrorType && ErrorMessage == other.ErrorMessage
        && Detail == other.Detail && Condition == other.Condition && Result.Span.SequenceEqual(other.Result.Span)
        && ErrorData.Span.SequenceEqual(other.ErrorData.Span);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Status, ErrorType, Detail, Condition, Result.Length, ErrorData.Length);

    /// <inheritdoc />
    public override string ToString() => Status switch
    {
        ReplyStatus.Ok => Result.Length == 0 ? "Ok (void)" : "Ok " + Encoding.UTF8.GetString(Result.Span),
        ReplyStatus.Error => $"Error {ErrorType}: {ErrorMessage}{(ErrorData.IsEmpty ? "" : " " + Encoding.UTF8.GetString(ErrorData.Span))}",
        _ => Condition == ReplyCondition.None ? $"{Status}: {Detail}" : $"{Status} ({Condition}): {Detail}",
    };
}
