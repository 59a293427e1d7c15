using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Middleware.Recovery.Sqlite;

/// <summary>
/// A diagnostic trace of the waits for SQLite's file write lock (BEGIN IMMEDIATE while another process holds it), for
/// telling a slow request that waited on the shared file from one that waited on CPU (bench/README.md, rebalance). Off
/// unless <c>MIDDLEWARE_MOVE_TRACE</c> names a directory (the silos' move trace); then each process appends to
/// <c>lock-trace-&lt;pid&gt;.txt</c> there one line per wait over <see cref="ThresholdMs"/>: the monotonic clock in ticks at
/// the first refused BEGIN (<see cref="Stopwatch.GetTimestamp"/>, the clock of every process of the machine), the pid,
/// <c>sqlite-lock</c>, <c>-</c> and the wait in milliseconds. Not a product feature: one check of a static field when off.
/// </summary>
internal static class SqliteLockTrace
{
    /// <summary>Waits shorter than this are not written.</summary>
    public const double ThresholdMs = 20;

    private static readonly StreamWriter? Writer = Open();

    /// <summary>Whether the trace is written.</summary>
    public static bool On => Writer is not null;

    /// <summary>Writes one wait that began at <paramref name="start"/> (ticks) when it took over <see cref="ThresholdMs"/>.</summary>
    public static void Waited(long start, int tries)
    {
        if (Writer is not { } writer) return;
        var ms = (Stopwatch.GetTimestamp() - start) * 1000.0 / Stopwatch.Frequency;
        if (ms < ThresholdMs) return;
        var line = string.Create(CultureInfo.InvariantCulture, $"{start} {Environment.ProcessId} sqlite-lock - ms={ms:0.0} tries={tries}");
        lock (writer) writer.WriteLine(line);
    }

    private static StreamWriter? Open()
    {
        if (Environment.GetEnvironmentVariable("MIDDLEWARE_MOVE_TRACE") is not { Length: > 0 } directory) return null;
        try
        {
            Directory.CreateDirectory(directory);
            var file = new FileStream(Path.Combine(directory, $"lock-trace-{Environment.ProcessId}.txt"), FileMode.Append, FileAccess.Write, FileShare.ReadWrite);
            return new StreamWriter(file, new UTF8Encoding(false)) { AutoFlush = true };
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return null;
        }
    }
}
