namespace Middleware.Recovery.Runtime;

/// <summary>Settings of the local runtime. Checked by <see cref="Validate"/> when the runtime starts.</summary>
public sealed class RuntimeOptions
{
    /// <summary>Write a checkpoint after this many logged turns of a component (default 1000).</summary>
    public int CheckpointEveryTurns { get; set; } = 1000;

    /// <summary>Write a checkpoint when a turn ends this long after the component's last one (default 5 minutes).</summary>
    public TimeSpan CheckpointInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>The most records the group-commit writer puts in one store transaction (default 1024).</summary>
    public int MaxBatchSize { get; set; } = 1024;

    /// <summary>The owner id recorded when this runtime claims a component (default: a new GUID).</summary>
    public string OwnerId { get; set; } = "runtime-" + Guid.NewGuid().ToString("N")[..12];

    /// <summary>The clock behind <c>Context.UtcNow</c> and checkpoint intervals (default: the system clock).</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Back-end databases components reach with <c>Context.Backend(name)</c>.</summary>
    public Procedures.BackendRegistry Backends { get; } = new();

    /// <summary>Throws <see cref="ArgumentException"/> naming the setting and the allowed range.</summary>
    public void Validate()
    {
        if (CheckpointEveryTurns < 1)
            throw new ArgumentException($"RuntimeOptions.CheckpointEveryTurns is {CheckpointEveryTurns}; set it to 1 or more (default 1000).");
        if (CheckpointInterval <= TimeSpan.Zero)
            throw new ArgumentException($"RuntimeOptions.CheckpointInterval is {CheckpointInterval}; set it to a positive time span (default 5 minutes).");
        if (MaxBatchSize is < 1 or > 100_000)
            throw new ArgumentException($"RuntimeOptions.MaxBatchSize is {MaxBatchSize}; set it between 1 and 100000 (default 1024).");
        if (string.IsNullOrWhiteSpace(OwnerId))
            throw new ArgumentException("RuntimeOptions.OwnerId is empty; leave it unset for a generated id or give this runtime a name.");
        ArgumentNullException.ThrowIfNull(TimeProvider, "RuntimeOptions.TimeProvider");
    }
}
