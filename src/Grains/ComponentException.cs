namespace Middleware.Grains;

/// <summary>
/// Base class for errors that component code throws on purpose (an overdraft, a validation failure).
/// The error is recorded with the turn; a retry of the same request id gets the same error again,
/// rebuilt as the same exception type when that type has a constructor taking one string.
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
/// original type name and message.
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

    /// <summary>The full name of the exception type the component threw.</summary>
    public string ErrorType { get; }

    /// <summary>The message the component's exception carried.</summary>
    public string ErrorMessage { get; }
}
