using Middleware.Recovery.Storage;

namespace Middleware.Recovery.TestKit;

/// <summary>
/// Opens the stores one contract test runs against, and says what they can do. A store author writes one subclass;
/// both suites use it (<c>LogStoreContract&lt;TStores&gt;</c> and <c>ClusterStoreContract&lt;TStores&gt;</c>). A new
/// instance is made for every test, so a subclass may keep that test's database name or directory in fields.
/// </summary>
/// <remarks>
/// What to override: always <see cref="CreateStoreAsync"/>. When the store keeps its data outside the process,
/// <see cref="OpenStoreAsync"/> and the capabilities it earns (<see cref="CanReopen"/>, <see cref="IsSharedAcrossProcesses"/>),
/// and <see cref="CleanupAsync"/> to drop what the test left behind. When the store's clock is not the wall clock
/// (an injected <see cref="TimeProvider"/> the tests move), <see cref="Now"/> and <see cref="PassAsync"/>. A capability
/// that is false makes the tests that need it pass without checking anything (their names say what they check), the
/// way Akka.Persistence.TCK does; say true wherever the store can, so the suite checks it.
/// </remarks>
public abstract class StoreFactory
{
    /// <summary>
    /// True when the store keeps everything it acknowledged across a close and a new <see cref="OpenStoreAsync"/>: the
    /// suites then reopen the store in the middle of tests, so every assertion after that also proves durability.
    /// False for a store in memory.
    /// </summary>
    public virtual bool CanReopen => false;

    /// <summary>
    /// True when several store instances may work on the same data at once, as processes (silos) sharing one database
    /// do: the suites then open a second instance with <see cref="OpenStoreAsync"/> while the first is open and check
    /// that the two fence each other, see each other's claims, membership and sessions, and race fairly.
    /// </summary>
    public virtual bool IsSharedAcrossProcesses => false;

    /// <summary>
    /// The window of silos that a cluster test lets expire. Tests wait for it through <see cref="PassAsync"/>, so a store
    /// on the wall clock keeps it short; raise it for a store whose clock is coarse or whose calls are slow.
    /// </summary>
    public virtual TimeSpan ShortWindow => TimeSpan.FromMilliseconds(500);

    /// <summary>The store clock's now, as the tests expect it: the wall clock unless the store runs on a clock they move.</summary>
    public virtual DateTimeOffset Now => TimeProvider.System.GetUtcNow();

    /// <summary>Creates a fresh, empty store for one test (a new database, file or directory of its own).</summary>
    public abstract Task<ILogStore> CreateStoreAsync();

    /// <summary>
    /// Opens another instance on the data of the store <see cref="CreateStoreAsync"/> made, as another process would
    /// open it. Called only when <see cref="CanReopen"/> or <see cref="IsSharedAcrossProcesses"/> is true.
    /// </summary>
    public virtual Task<ILogStore> OpenStoreAsync() =>
        throw new NotSupportedException($"{GetType().Name} says CanReopen or IsSharedAcrossProcesses but does not override OpenStoreAsync; open the same database there.");

    /// <summary>
    /// Lets <paramref name="time"/> pass on the store's clock. The default waits for real (the clock of a database
    /// server); a store on an injected clock moves that instead, and the cluster tests then take no time.
    /// </summary>
    public virtual Task PassAsync(TimeSpan time) => Task.Delay(time);

    /// <summary>Removes what the test left behind (a database, a directory), after every store it opened was closed.</summary>
    public virtual Task CleanupAsync() => Task.CompletedTask;
}
