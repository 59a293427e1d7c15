namespace Middleware.Grains;

/// <summary>
/// Base class for errors that component code throws on purpose (an overdraft, a validation failure).
/// The error is recorded with the turn; a retry of the same request id gets the same error again,
/// rebuilt as the same exception type with the same message and public data properties (the rule is on
/// <c>Middleware.Core.ExceptionContent</c>).
/// </summary>
public class ComponentException : Exception
{
    /// <summary>Creates the exception with a message for the caller.</summary>
    public ComponentException(string message) : base(message)
    {
    }
}

/// <summary>
/// A recorded error whose original exception type cannot be rebuilt in this process; it carries the
/// original type name, message and data properties (JSON).
/// </summary>
public sealed class ComponentFaultException : Exception
{
    /// <summary>Creates the exception from a recorded error.</summary>
    public ComponentFaultException(string errorType, string message)
        : base($"{errorType}: {message}")
    {
        ErrorType = errorType;
        ErrorMessage = message;
    }

    /// <summary>Creates the exception from a recorded error with the JSON of its data properties.</summary>
    public ComponentFaultException(string errorType, string message, string? errorData)
        : this(errorType, message)
    {
        ErrorData = errorData;
    }

    /// <summary>The full name of the exception type the component threw.</summary>
    public string ErrorType { get; }

    /// <summary>The message the component's exception carried.</summary>
    public string ErrorMessage { get; }

    /// <summary>The exception's data properties as recorded (a JSON object), or null when it had none.</summary>
    public string? ErrorData { get; }
}
