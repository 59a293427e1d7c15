using System.Globalization;
using Middleware.Grains;

namespace Middleware.Silo;

/// <summary>
/// A fault point for crash tests of real silo processes, off unless an environment variable names it (read once; when
/// unset it costs one null check per handover). <c>MIDDLEWARE_FAULT_HOLD_MOVE_WARM=PREFIX:MILLISECONDS</c> holds the
/// warm-up (<see cref="Middleware.Protocol.ProtocolConstants.MoveWarm"/>) of the first handover from this silo whose
/// component id starts with PREFIX for that long, after the handover finished and before the destination is asked to
/// activate the component: the moment where the component's next request activates it at the destination by itself,
/// and where anything can happen (the component moves on, its new owner dies) before the late warm-up arrives. It prints
/// <c>fault point: holding the warm-up of ID</c> on standard output first and <c>fault point: sending the warm-up of
/// ID</c> when the hold ends, so a test knows both moments.
/// </summary>
internal static class MoveFaultPoint
{
    private static readonly (string Prefix, TimeSpan Hold)? HoldWarm = Parse(Environment.GetEnvironmentVariable("MIDDLEWARE_FAULT_HOLD_MOVE_WARM"));
    private static int _held;

    /// <summary>Called after the handover of <paramref name="target"/> and before its warm-up is sent.</summary>
    public static Task BeforeWarmAsync(ComponentId target, CancellationToken cancellationToken) =>
        HoldWarm is { } hold ? HoldAsync(target.ToString(), hold.Prefix, hold.Hold, cancellationToken) : Task.CompletedTask;

    private static async Task HoldAsync(string id, string prefix, TimeSpan hold, CancellationToken cancellationToken)
    {
        if (!id.StartsWith(prefix, StringComparison.Ordinal) || Interlocked.Exchange(ref _held, 1) == 1) return;
        Console.Out.WriteLine($"fault point: holding the warm-up of {id}");
        Console.Out.Flush();
        await Task.Delay(hold, cancellationToken).ConfigureAwait(false);
        Console.Out.WriteLine($"fault point: sending the warm-up of {id}");
        Console.Out.Flush();
    }

    private static (string, TimeSpan)? Parse(string? setting)
    {
        if (string.IsNullOrEmpty(setting)) return null;
        var colon = setting.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(setting.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var ms))
            throw new InvalidOperationException($"MIDDLEWARE_FAULT_HOLD_MOVE_WARM is '{setting}'; give PREFIX:MILLISECONDS, for example Account/held-:5000, or unset it");
        return (setting[..colon], TimeSpan.FromMilliseconds(ms));
    }
}
