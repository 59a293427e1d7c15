using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;
using Middleware.Core;

namespace Middleware.Silo;

/// <summary>
/// The runnable silo's console log format: the familiar <c>level: category[event]</c> line with the message on the next,
/// indented, but every message is one line with the ids, keys and reasons in it escaped (<see cref="Printable"/>: a
/// newline from the network cannot forge a log entry, an escape sequence cannot reach the terminal), and an exception
/// is shown as <c>(Type: message)</c> on the same line. Stack traces appear only when <see cref="SiloDebug"/> is on. The
/// host's own "Hosting failed to start" entry is dropped: the silo prints that cause as its one stderr line.
/// </summary>
internal sealed class SiloConsoleFormatter() : ConsoleFormatter(FormatterName)
{
    /// <summary>The name the console logger is configured with.</summary>
    public const string FormatterName = "silo";

    /// <summary>Category and event id of <c>Microsoft.Extensions.Hosting</c>'s HostedServiceStartupFaulted entry.</summary>
    private const string HostCategory = "Microsoft.Extensions.Hosting.Internal.Host";
    private const int HostStartupFaulted = 11;

    /// <inheritdoc />
    public override void Write<TState>(in LogEntry<TState> logEntry, IExternalScopeProvider? scopeProvider, TextWriter textWriter)
    {
        var debug = SiloDebug.Enabled;
        if (!debug && logEntry.Category == HostCategory && logEntry.EventId.Id == HostStartupFaulted) return;
        var message = logEntry.Formatter?.Invoke(logEntry.State, logEntry.Exception);
        if (string.IsNullOrEmpty(message) && logEntry.Exception is null) return;

        textWriter.Write(Level(logEntry.LogLevel));
        textWriter.Write(": ");
        textWriter.Write(logEntry.Category);
        textWriter.Write('[');
        textWriter.Write(logEntry.EventId.Id);
        textWriter.Write(']');
        textWriter.Write(Environment.NewLine);
        textWriter.Write("      ");
        textWriter.Write(Printable.Escape(message));
        if (logEntry.Exception is { } exception)
        {
            if (debug)
            {
                textWriter.Write(Environment.NewLine);
                textWriter.Write(exception.ToString());
            }
            else
            {
                textWriter.Write(" (");
                textWriter.Write(SiloDebug.OneLine(exception));
                textWriter.Write(')');
            }
        }

        textWriter.Write(Environment.NewLine);
    }

    private static string Level(LogLevel level) => level switch
    {
        LogLevel.Trace => "trce",
        LogLevel.Debug => "dbug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warn",
        LogLevel.Error => "fail",
        LogLevel.Critical => "crit",
        _ => "none",
    };
}

/// <summary>
/// Whether the silo shows stack traces (<c>MIDDLEWARE_DEBUG=1</c>), and how an exception is said in one line otherwise.
/// Operators get one line naming the problem; a developer chasing a bug sets the variable.
/// </summary>
public static class SiloDebug
{
    /// <summary>The environment variable that turns stack traces on (<c>1</c> or <c>true</c>).</summary>
    public const string Variable = "MIDDLEWARE_DEBUG";

    /// <summary>True when <see cref="Variable"/> is <c>1</c> or <c>true</c>.</summary>
    public static bool Enabled { get; } = Environment.GetEnvironmentVariable(Variable) is { } value
        && (value == "1" || value.Equals("true", StringComparison.OrdinalIgnoreCase));

    /// <summary><c>Type: message</c> of the exception (and its inner one, briefly), on one line with its text escaped.</summary>
    public static string OneLine(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        var text = $"{exception.GetType().Name}: {exception.Message.Trim()}";
        if (exception.InnerException is { } inner && !exception.Message.Contains(inner.Message.Trim(), StringComparison.Ordinal))
            text += $" (caused by {inner.GetType().Name}: {inner.Message.Trim()})";
        return Printable.Escape(text);
    }
}
