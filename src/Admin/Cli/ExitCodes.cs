namespace Middleware.Admin.Cli;

/// <summary>The exit codes of <c>mw</c>; scripts and CI rely on them, so they never change meaning.</summary>
public static class ExitCodes
{
    /// <summary>The command did what was asked (an audit found no divergence).</summary>
    public const int Ok = 0;

    /// <summary>An audit found at least one divergence or corrupt record; <c>log</c> or <c>outcome</c> met a corrupt record.</summary>
    public const int Divergence = 1;

    /// <summary>Bad arguments, a bad store string, a missing assembly, an unknown id, or a store failure.</summary>
    public const int UsageOrStore = 2;
}
