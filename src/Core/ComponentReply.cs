namespace Middleware.Core;

/// <summary>
/// The durable reply of a request to a component: a JSON result (empty for <c>Task</c> methods) or the error the
/// component's turn recorded (exception type and message). The log keeps it with the turn, retries get it again, and
/// replay compares it byte for byte.
/// </summary>
public sealed record ComponentReply(ReadOnlyMemory<byte> Result, string? ErrorType = null, string? ErrorMessage = null)
{
    /// <summary>The reply of a method returning plain <c>Task</c>.</summary>
    public static readonly ComponentReply Void = new(ReadOnlyMemory<byte>.Empty);

    /// <summary>True when the turn threw.</summary>
    public bool IsError => ErrorType is not null;

    /// <summary>Value equality on the bytes of the result and on the error.</summary>
    public bool SameAs(ComponentReply other) =>
        ErrorType == other.ErrorType && ErrorMessage == other.ErrorMessage && Result.Span.SequenceEqual(other.Result.Span);

    /// <inheritdoc />
    public override string ToString() => IsError
        ? $"error {ErrorType}: {ErrorMessage}"
        : Result.Length == 0 ? "(void)" : System.Text.Encoding.UTF8.GetString(Result.Span);
}
