using System.Text;
using Middleware.Core;

namespace Middleware.Protocol;

/// <summary>
/// The answer to an <see cref="InvokeMessage"/>. Which fields are set depends on <see cref="Status"/>: <c>Ok</c> carries
/// <see cref="Result"/> (JSON, empty for a <c>Task</c> method), <c>Error</c> carries <see cref="ErrorType"/> and
/// <see cref="ErrorMessage"/> (the engine's <c>ComponentReply</c>), <c>Moved</c> carries <see cref="Detail"/> as the address
/// to go to, and <c>Unavailable</c>, <c>BadRequest</c> and <c>NotFound</c> carry <see cref="Detail"/> as the reason.
/// Build replies with the factory methods so the fields always match the status.
/// </summary>
public sealed record ReplyMessage : ProtocolMessage
{
    private ReplyMessage(ReplyStatus status, ReadOnlyMemory<byte> result, string? errorType, string? errorMessage, string? detail)
    {
        Status = status;
        Result = result;
        ErrorType = errorType;
        ErrorMessage = errorMessage;
        Detail = detail;
    }

    /// <summary>How the request ended.</summary>
    public ReplyStatus Status { get; }

    /// <summary>The JSON result of an <c>Ok</c> reply.</summary>
    public ReadOnlyMemory<byte> Result { get; }

    /// <summary>The exception type name of an <c>Error</c> reply.</summary>
    public string? ErrorType { get; }

    /// <summary>The exception message of an <c>Error</c> reply.</summary>
    public string? ErrorMessage { get; }

    /// <summary>The address of a <c>Moved</c> reply, or the reason of <c>Unavailable</c>, <c>BadRequest</c> and <c>NotFound</c>.</summary>
    public string? Detail { get; }

    /// <inheritdoc />
    public override MessageType Type => MessageType.Reply;

    /// <summary>A successful turn with its JSON result.</summary>
    public static ReplyMessage Ok(ReadOnlyMemory<byte> result) => new(ReplyStatus.Ok, result, null, null, null);

    /// <summary>A turn that threw, or a request that failed on the server.</summary>
    public static ReplyMessage Error(string errorType, string errorMessage) => new(ReplyStatus.Error, default, errorType, errorMessage, null);

    /// <summary>The component is owned elsewhere; send the request to <paramref name="address"/>.</summary>
    public static ReplyMessage Moved(string address) => new(ReplyStatus.Moved, default, null, null, address);

    /// <summary>The silo cannot serve now; the request did not run and may be retried.</summary>
    public static ReplyMessage Unavailable(string reason) => new(ReplyStatus.Unavailable, default, null, null, reason);

    /// <summary>The request is malformed; retrying it unchanged will not help.</summary>
    public static ReplyMessage BadRequest(string reason) => new(ReplyStatus.BadRequest, default, null, null, reason);

    /// <summary>The component type or method is unknown.</summary>
    public static ReplyMessage NotFound(string reason) => new(ReplyStatus.NotFound, default, null, null, reason);

    /// <inheritdoc />
    public override int GetPayloadSize() => 1 + Status switch
    {
        ReplyStatus.Ok => PayloadWriter.SizeOfBytes(Result.Length),
        ReplyStatus.Error => PayloadWriter.SizeOfString(ErrorType ?? "") + PayloadWriter.SizeOfString(ErrorMessage ?? ""),
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
                break;
            default:
                writer.WriteString(Detail ?? "");
                break;
        }
    }

    /// <summary>Equality includes the result bytes (records compare memory by reference otherwise).</summary>
    public bool Equals(ReplyMessage? other) =>
        other is not null && Status == other.Status && ErrorType == other.ErrorType && ErrorMessage == other.ErrorMessage
        && Detail == other.Detail && Result.Span.SequenceEqual(other.Result.Span);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Status, ErrorType, Detail, Result.Length);

    /// <inheritdoc />
    public override string ToString() => Status switch
    {
        ReplyStatus.Ok => Result.Length == 0 ? "Ok (void)" : "Ok " + Encoding.UTF8.GetString(Result.Span),
        ReplyStatus.Error => $"Error {ErrorType}: {ErrorMessage}",
        _ => $"{Status}: {Detail}",
    };
}
