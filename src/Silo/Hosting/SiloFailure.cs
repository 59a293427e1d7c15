using System.Globalization;
using System.Text.RegularExpressions;
using Middleware.Core;
using Middleware.Recovery.Storage;

namespace Middleware.Silo;

/// <summary>
/// How the runnable silo says why it stopped: one <c>silo: ...</c> line on stderr naming the setting and the fix, with the
/// stack trace after it only when <see cref="SiloDebug.Enabled"/>.
/// </summary>
internal static partial class SiloFailure
{
    /// <summary>The line (without the <c>silo: </c> prefix) for an exception that stopped the silo from starting.</summary>
    public static string AtStart(Exception exception, SiloOptions? options)
    {
        var cause = Unwrap(exception);
        if (cause is IOException io && options is not null && PortInUse(io, options) is { } port) return port;
        return cause switch
        {
            // Errors written for operators: their message names the setting and the fix.
            ArgumentException or StoreUnavailableException or SchemaVersionException or ClusterNotSupportedException or IOException
                or UnauthorizedAccessException => Printable.Escape(cause.Message.Trim()),
            _ => $"the silo could not start: {SiloDebug.OneLine(cause)}" + (SiloDebug.Enabled ? "" : $" (set {SiloDebug.Variable}=1 for the stack trace)"),
        };
    }

    /// <summary>Writes <c>silo: LINE</c> to stderr, and the whole exception after it when debugging.</summary>
    public static async Task WriteAsync(string line, Exception exception)
    {
        await Console.Error.WriteLineAsync("silo: " + line).ConfigureAwait(false);
        if (SiloDebug.Enabled) await Console.Error.WriteLineAsync(exception.ToString()).ConfigureAwait(false);
    }

    /// <summary>Host start-up wraps failures of hosted services; the operator needs the cause.</summary>
    public static Exception Unwrap(Exception e) => e is AggregateException { InnerExceptions.Count: 1 } aggregate ? Unwrap(aggregate.InnerExceptions[0]) : e;

    /// <summary>Kestrel's "address already in use", said as the setting whose port it is.</summary>
    private static string? PortInUse(IOException io, SiloOptions options)
    {
        if (!InUse(io)) return null;
        foreach (Match m in PortPattern().Matches(io.Message))
        {
            var port = int.Parse(m.Groups["port"].Value, CultureInfo.InvariantCulture);
            var setting = port == options.Port ? SiloSettings.Port : port == options.HttpPort ? SiloSettings.HttpPort : null;
            if (setting is not null)
            {
                return $"{setting.Describe()} is {port}, which another process already uses on {options.BindAddress} (address already in use); " +
                       "stop that process or choose another port (0 takes any free one).";
            }
        }

        return Printable.Escape(io.Message.Trim());
    }

    private static bool InUse(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e.GetType().Name == "AddressInUseException" || e is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.AddressAlreadyInUse })
                return true;
        }

        return false;
    }

    [GeneratedRegex(@":(?<port>\d{1,5})(?!\d)")]
    private static partial Regex PortPattern();
}
