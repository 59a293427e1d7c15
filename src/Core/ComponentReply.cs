using System.Text.Json;

namespace Middleware.Core;

/// <summary>
/// The durable reply of a request to a component: a JSON result (empty for <c>Task</c> methods) or the error the
/// component's turn recorded (exception type, message, and the exception's data properties as canonical JSON, see
/// <see cref="ExceptionContent"/>). The log keeps it with the turn, retries get it again, and replay compares it byte
/// for byte.
/// </summary>
public sealed record ComponentReply(ReadOnlyMemory<byte> Result, string? ErrorType = null, string? ErrorMessage = null)
{
    /// <summary>The reply of a method returning plain <c>Task</c>.</summary>
    public static readonly ComponentReply Void = new(ReadOnlyMemory<byte>.Empty);

    /// <summary>
    /// The data properties of the recorded exception as one canonical JSON object (<see cref="ExceptionContent.Capture"/>);
    /// empty when it had none, and in every error recorded before the data was (they compare as "not recorded").
    /// </summary>
    public ReadOnlyMemory<byte> ErrorData { get; init; }

    /// <summary>True when the turn threw.</summary>
    public bool IsError => ErrorType is not null;

    /// <summary>The recorded form of <paramref name="exception"/>: its type's full name, its message and its data properties.</summary>
    public static ComponentReply FromException(Exception exception, JsonSerializerOptions? json = null)
    {
        ArgumentNullException.ThrowIfNull(exception);
        var type = exception.GetType();
        return new ComponentReply(ReadOnlyMemory<byte>.Empty, type.FullName ?? type.Name, exception.Message)
        {
            ErrorData = ExceptionContent.Capture(exception, json ?? ComponentJson.Default),
        };
    }

    /// <summary>
    /// Value equality on the bytes of the result and on the error, its data included. An error without data matches
    /// one with data of the same type and message: errors recorded before exceptions kept their data must still replay.
    /// </summary>
    public bool SameAs(ComponentReply other) =>
        ErrorType == other.ErrorType && ErrorMessage == other.ErrorMessage && Result.Span.SequenceEqual(other.Result.Span)
        && (ErrorData.IsEmpty || other.ErrorData.IsEmpty || ErrorData.Span.SequenceEqual(other.ErrorData.Span));

    /// <inheritdoc />
    public override string ToString() => IsError
        ? $"error {ErrorType}: {ErrorMessage}{(ErrorData.IsEmpty ? "" : " " + System.Text.Encoding.UTF8.GetString(ErrorData.Span))}"
        : Result.Length == 0 ? "(void)" : System.Text.Encoding.UTF8.GetString(Result.Span);
}
