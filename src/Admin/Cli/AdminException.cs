namespace Middleware.Admin.Cli;

/// <summary>
/// A problem the user can fix (bad store string, missing assembly, unknown id, refused operation). The tool
/// prints its message as one line on stderr and exits with <see cref="ExitCodes.UsageOrStore"/>.
/// </summary>
public sealed class AdminException(string message) : Exception(message);
