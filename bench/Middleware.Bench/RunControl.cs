using System.Diagnostics;

namespace Middleware.Bench;

/// <summary>Shared run phase of a load scenario; written by the driver, read by every loop.</summary>
internal sealed class RunControl
{
    private long _measureStart = long.MaxValue;
    private volatile bool _stop;

    /// <summary>Stopwatch timestamp when measuring began; requests started before it are warm-up.</summary>
    public long MeasureStart
    {
        get => Volatile.Read(ref _measureStart);
        set => Volatile.Write(ref _measureStart, value);
    }

    /// <summary>Set when the loops should finish their request in flight and return.</summary>
    public bool Stop
    {
        get => _stop;
        set => _stop = value;
    }

    /// <summary>
    /// Prints one progress line a second to stderr until <paramref name="stop"/>: the phase, the rate of
    /// <paramref name="unit"/> over the last second, whatever <paramref name="extra"/> adds, and the errors so far.
    /// </summary>
    public async Task ProgressAsync(IReadOnlyList<LoopCounters> loops, double warmupSeconds, double durationSeconds, string unit, Func<string>? extra, CancellationToken stop)
    {
        var started = Stopwatch.GetTimestamp();
        long lastDone = 0;
        var lastTime = started;
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            while (await timer.WaitForNextTickAsync(stop).ConfigureAwait(false))
            {
                var now = Stopwatch.GetTimestamp();
                long done = 0, errors = 0;
                foreach (var loop in loops)
                {
                    done += Volatile.Read(ref loop.Completed);
                    errors += Volatile.Read(ref loop.TotalErrors);
                }

                var seconds = (now - lastTime) / (double)Stopwatch.Frequency;
                var phase = MeasureStart == long.MaxValue
                    ? $"warmup {(now - started) / (double)Stopwatch.Frequency:F0}/{warmupSeconds:F0}s"
                    : $"measure {(now - MeasureStart) / (double)Stopwatch.Frequency:F0}/{durationSeconds:F0}s";
                Console.Error.WriteLine($"  [{phase}] {(done - lastDone) / seconds,9:F0} {unit}{extra?.Invoke()}  errors {errors}");
                lastDone = done;
                lastTime = now;
            }
        }
        catch (OperationCanceledException)
        {
            // The run ended: stop printing.
        }
    }
}

/// <summary>
/// What one closed loop counted: every request (warm-up included), the measured ones, their latencies, errors and the
/// first error's text. <see cref="Completed"/> and <see cref="TotalErrors"/> are read by the progress printer.
/// </summary>
internal abstract class LoopCounters
{
    public long Completed;
    public long TotalErrors;

    public LatencyRecorder Latencies { get; } = new();

    public long TotalOk { get; private set; }

    public long MeasuredOk { get; private set; }

    public long MeasuredErrors { get; private set; }

    public string? FirstError { get; private set; }

    /// <summary>Counts a request that failed; the loop goes on so one failure does not hide the throughput.</summary>
    protected void Failed(Exception e)
    {
        FirstError ??= $"{e.GetType().Name}: {e.Message}";
        Interlocked.Increment(ref TotalErrors);
    }

    /// <summary>Counts a request that started at <paramref name="start"/> and ended now.</summary>
    protected void Done(long start, bool ok, RunControl control)
    {
        var elapsed = Stopwatch.GetTimestamp() - start;
        var measured = start >= control.MeasureStart;
        if (ok)
        {
            TotalOk++;
            if (measured)
            {
                MeasuredOk++;
                Latencies.Add(elapsed);
            }
        }
        else if (measured)
        {
            MeasuredErrors++;
        }

        Volatile.Write(ref Completed, Completed + 1);
    }
}
