namespace Middleware.Inspection;

/// <summary>
/// A question about the store that cannot be answered as asked (an unknown component, a seq out of range, a state that
/// cannot be rebuilt), with a message that names the fix. <c>mw</c> prints it as one line and exits 2; the dashboard answers
/// it as a 400 or 404 with the message.
/// </summary>
public sealed class InspectionException(string message) : Exception(message);
