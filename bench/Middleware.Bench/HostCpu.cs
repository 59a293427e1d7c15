namespace Middleware.Bench;

/// <summary>
/// Whole-machine CPU counters from /proc/stat (Linux). The box is shared: another process's build running
/// beside a benchmark changes its result, so every run records how busy the machine was besides itself.
/// </summary>
internal readonly record struct HostCpu(long BusyJiffies, long StealJiffies, bool Available)
{
    // USER_HZ is 100 on every Linux the runtime supports.
    private const double JiffiesPerSecond = 100.0;

    public static HostCpu Read()
    {
        try
        {
            using var reader = new StreamReader("/proc/stat");
            var line = reader.ReadLine();
            if (line is null || !line.StartsWith("cpu ", StringComparison.Ordinal)) return default;
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(long.Parse).ToArray();
            // user nice system idle iowait irq softirq steal ...
            var busy = f[0] + f[1] + f[2] + f[5] + f[6];
            return new HostCpu(busy, f.Length > 7 ? f[7] : 0, true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            // Not Linux or not readable: the host figures are left out (written as null), the run goes on.
            return default;
        }
    }

    public static double CoresBusy(HostCpu before, HostCpu after, double seconds) =>
        before.Available && after.Available ? (after.BusyJiffies - before.BusyJiffies) / JiffiesPerSecond / seconds : double.NaN;

    public static double CoresStolen(HostCpu before, HostCpu after, double seconds) =>
        before.Available && after.Available ? (after.StealJiffies - before.StealJiffies) / JiffiesPerSecond / seconds : double.NaN;
}
