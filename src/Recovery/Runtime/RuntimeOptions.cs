using Middleware.Core;

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

    /// <summary>
    /// Delivers component-to-component calls made inside turns (<c>Context.Call&lt;T&gt;(key)</c>), for example a silo's
    /// router. Null (the default): the runtime serves them itself, in-process. An exception it throws (other than
    /// <see cref="CallCycleException"/>) fails the calling turn as not durable; the retry resumes it under the same ids.
    /// </summary>
    public IComponentCaller? Caller { get; set; }

    /// <summary>
    /// Reads an item of a virtual session for <c>Context.GetSessionItemAsync</c>: (session id, key) to the value, or
    /// null when it is not set. Null (the default): every item reads null. An exception fails the turn as not durable.
    /// </summary>
    public Func<string, string, CancellationToken, Task<string?>>? SessionItems { get; set; }

    /// <summary>
    /// Claims a component on activation: (component id, expected epoch) to the claim's result, for example
    /// <c>IClusterStore.ClaimForSiloAsync</c> so a component owned by another live silo is never taken from it (the
    /// activation then fails with <see cref="ComponentOwnedElsewhereException"/>). Null (the default): the runtime claims
    /// with <see cref="Storage.ILogStore.ClaimAsync"/> and <see cref="OwnerId"/>.
    /// </summary>
    public Func<string, long, CancellationToken, Task<Storage.ClaimResult>>? ClaimPolicy { get; set; }

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
