namespace Middleware.Grains;

/// <summary>
/// What a turn may learn from outside its own state. Every value handed out here is recorded in the
/// turn record, and replay feeds the recorded value back, so a replayed turn sees exactly what the
/// original saw. Components must not read the wall clock, <see cref="Guid.NewGuid"/> or
/// <see cref="System.Random"/> directly.
/// </summary>
public interface IComponentContext
{
    /// <summary>The component this turn runs on.</summary>
    ComponentId Id { get; }

    /// <summary>The request id of the current turn.</summary>
    string RequestId { get; }

    /// <summary>The log sequence number the current turn will have (1 for the first turn).</summary>
    long Seq { get; }

    /// <summary>The current UTC time, recorded.</summary>
    DateTime UtcNow { get; }

    /// <summary>A new GUID, recorded.</summary>
    Guid NewGuid();

    /// <summary>A random number generator for this turn; its seed is recorded on first use.</summary>
    Random Random { get; }

    /// <summary>
    /// The back-end database registered under <paramref name="name"/> on the runtime, reached through
    /// generalized idempotent procedures (see <see cref="IBackend"/>).
    /// </summary>
    IBackend Backend(string name);
}
