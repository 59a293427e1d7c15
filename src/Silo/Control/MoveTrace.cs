using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Middleware.Silo;

/// <summary>
/// A diagnostic trace of handovers and of the requests that meet them, for finding where a moved component's slow request
/// spends its time (bench/README.md, rebalance). Off unless <c>MIDDLEWARE_MOVE_TRACE</c> names a directory; then each
/// silo process appends lines to <c>move-trace-&lt;pid&gt;.txt</c> there: the monotonic clock in ticks
/// (<see cref="Stopwatch.GetTimestamp"/>, the same clock in every process of the machine), the event, the component,
/// and the event's figures in milliseconds. Not a product feature: one check of a static field when off.
/// </summary>
internal static class MoveTrace
{
    private static readonly StreamWriter? Writer = Open();

    /// <summary>Whether the trace is written.</summary>
    public static bool On => Writer is not null;

    /// <summary>Milliseconds since <paramref name="start"/> (a <see cref="Stopwatch.GetTimestamp"/> value).</summary>
    public static double Ms(long start) => (Stopwatch.GetTimestamp() - start) * 1000.0 / Stopwatch.Frequency;

    /// <summary>Milliseconds between two timestamps.</summary>
    public static double Ms(long from, long to) => (to - from) * 1000.0 / Stopwatch.Frequency;

    /// <summary>Appends one line: <paramref name="start"/> (ticks), the event, the component, and <paramref name="detail"/>.</summary>
    public static void Write(long start, string what, string component, string detail)
    {
        if (Writer is not { } writer) return;
        var line = string.Create(CultureInfo.InvariantCulture, $"{start} {Environment.ProcessId} {what} {component} {detail}");
        lock (writer) writer.WriteLine(line);
    }

    /// <summary>
    /// Starts the process's stall probe (once; only when the trace is on): a thread that wakes every 5 ms and writes a
    /// <c>stall</c> line when it woke over 20 ms late, with the GC pause time, the collections and the thread-pool queue
    /// of that interval. A late wake-up while no GC paused is time this process got no CPU (the machine's load, or a
    /// process starting beside it); with a GC pause it is this process's collector. So a slow request can be put down to
    /// the process it ran in being stalled rather than to a lock or a handover (bench/trace-moves.py).
    /// </summary>
    public static void StartProbe(string what)
    {
        if (Writer is null) return;
        Write(System.Diagnostics.Stopwatch.GetTimestamp(), what, "-", string.Create(CultureInfo.InvariantCulture, $"cpu={Environment.CpuUsage.TotalTime.TotalMilliseconds:0}"));
        if (Interlocked.Exchange(ref _probing, 1) != 0) return;
        new Thread(Probe) { IsBackground = true, Name = "move-trace-probe", Priority = ThreadPriority.Highest }.Start();
    }

    private static int _probing;

    private static void Probe()
    {
        var last = Stopwatch.GetTimestamp();
        var pause = GC.GetTotalPauseDuration();
        int g0 = GC.CollectionCount(0), g1 = GC.CollectionCount(1), g2 = GC.CollectionCount(2);
        while (true)
        {
            Thread.Sleep(5);
            var now = Stopwatch.GetTimestamp();
            var ms = Ms(last, now) - 5;
            if (ms > 20)
            {
                var p = GC.GetTotalPauseDuration();
                Write(last, "stall", "-", string.Create(CultureInfo.InvariantCulture,
                    $"ms={F(ms)} gcPause={F((p - pause).TotalMilliseconds)} gc={GC.CollectionCount(0) - g0}/{GC.CollectionCount(1) - g1}/{GC.CollectionCount(2) - g2} pool={ThreadPool.PendingWorkItemCount} threads={ThreadPool.ThreadCount} {LastGc()}"));
            }

            last = now;
            pause = GC.GetTotalPauseDuration();
            (g0, g1, g2) = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2));
        }
    }

    /// <summary>The last collection: its generation, what it promoted, the heap after it, its pause and its CPU share.</summary>
    private static string LastGc()
    {
        var info = GC.GetGCMemoryInfo(GCKind.Any);
        return string.Create(CultureInfo.InvariantCulture,
            $"lastGc=gen{info.Generation},promotedKiB={info.PromotedBytes / 1024},heapMiB={info.HeapSizeBytes / (1024 * 1024)},pause={F(info.PauseDurations[0].TotalMilliseconds)},compacted={info.Compacted},concurrent={info.Concurrent},gcCpu={info.PauseTimePercentage:0.#}%");
    }

    /// <summary>Formats milliseconds for <see cref="Write"/>.</summary>
    public static string F(double ms) => ms.ToString("0.0", CultureInfo.InvariantCulture);

    private static StreamWriter? Open()
    {
        if (Environment.GetEnvironmentVariable("MIDDLEWARE_MOVE_TRACE") is not { Length: > 0 } directory) return null;
        try
        {
            Directory.CreateDirectory(directory);
            var file = new FileStream(Path.Combine(directory, $"move-trace-{Environment.ProcessId}.txt"), FileMode.Append, FileAccess.Write, FileShare.ReadWrite);
            return new StreamWriter(file, new UTF8Encoding(false)) { AutoFlush = true };
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            // A diagnostic aid never stops the silo: say why there is no trace and serve without it.
            Console.Error.WriteLine($"MIDDLEWARE_MOVE_TRACE is '{directory}', but no trace file can be written there ({e.Message}); give a directory this process may create and write, or unset it. Running without the move trace.");
            return null;
        }
    }
}
