using Middleware.Core;
using Middleware.Grains;

namespace Middleware.Admin.Cli;

/// <summary>
/// The checks every command runs on its arguments before it opens anything: each failure is an
/// <see cref="AdminException"/> whose message names the option (or argument) and the fix, so the tool prints one line and
/// exits 2. Values that came from the command line are quoted escaped (<see cref="Printable"/>).
/// </summary>
internal static class Validate
{
    /// <summary>The most components an audit replays at once: more only adds memory and store connections.</summary>
    public const int MaxParallel = 256;

    /// <summary>A component id argument: not empty, <c>Type/key</c>.</summary>
    public static ComponentId ComponentId(string? text, string what = "The component id")
    {
        if (string.IsNullOrWhiteSpace(text))
            throw new AdminException($"{what} is empty; write it as Type/key, e.g. Account/acct-07 (mw components list shows the known ids).");
        try
        {
            return Grains.ComponentId.Parse(text);
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            throw new AdminException(e.Message);
        }
    }

    /// <summary>An optional text option: when given, not empty or blank.</summary>
    public static string? NotBlank(string? value, string option, string fix)
    {
        if (value is not null && string.IsNullOrWhiteSpace(value)) throw new AdminException($"{option} is empty; {fix}.");
        return value;
    }

    /// <summary>A required text option or argument: not empty or blank, no control characters (it is recorded or sent as given).</summary>
    public static string OneLine(string? value, string option, string fix)
    {
        if (string.IsNullOrWhiteSpace(value)) throw new AdminException($"{option} is empty; {fix}.");
        var bad = value.FirstOrDefault(c => char.IsControl(c) || Printable.NeedsEscape(c) && c != '\\');
        if (bad != default)
            throw new AdminException($"{option} contains the control character {Printable.Escape(bad.ToString())}; write it on one line of plain text.");
        return value.Trim();
    }

    /// <summary>A component type option (<c>--type</c>): not empty, and a type, not a whole id.</summary>
    public static string? Type(string? value, string option = "--type")
    {
        if (value is null) return null;
        if (string.IsNullOrWhiteSpace(value)) throw new AdminException($"{option} is empty; give a component type, e.g. {option} Account.");
        if (value.Contains('/', StringComparison.Ordinal))
            throw new AdminException($"{option} '{value}' is a component id, not a type; give the part before '/', e.g. {option} {value[..value.IndexOf('/', StringComparison.Ordinal)]}.");
        return value;
    }

    /// <summary>A whole number option at least <paramref name="min"/> (and at most <paramref name="max"/>).</summary>
    public static long Range(long value, string option, long min, long max = long.MaxValue, string? unit = null)
    {
        if (value < min || value > max)
        {
            var allowed = max == long.MaxValue ? $"{min} or more" : $"{min}..{max}";
            throw new AdminException($"{option} is {value}; give {allowed}{(unit is null ? "" : " " + unit)}.");
        }

        return value;
    }
}
