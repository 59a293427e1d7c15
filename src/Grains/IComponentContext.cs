using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

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

    /// <summary>The virtual session the current request belongs to, or null when it came outside a session.</summary>
    string? SessionId { get; }

    /// <summary>The current UTC time, recorded.</summary>
    DateTime UtcNow { get; }

    /// <summary>
    /// Where the component writes its log lines; the category is the component class's full name (as for
    /// <c>ILogger&lt;TComponent&gt;</c>). Lines are written only when a turn runs for real: replay (recovery after a crash,
    /// undo after a failed turn, a mirror's standby, an audit) goes through a logger that discards them, so a recovered
    /// component does not repeat its log lines. A turn in doubt that is completed after a crash writes again only what
    /// comes after the last value or call its partial record held. Without a host's logger factory, nothing is written.
    /// </summary>
    ILogger Logger => NullLogger.Instance;

    /// <summary>A new GUID, recorded.</summary>
    Guid NewGuid();

    /// <summary>A random number generator for this turn; its seed is recorded on first use.</summary>
    Random Random { get; }

    /// <summary>
    /// The back-end database registered under <paramref name="name"/> on the runtime, reached through
    /// generalized idempotent procedures (see <see cref="IBackend"/>).
    /// </summary>
    IBackend Backend(string name);

    /// <summary>
    /// An item of the current request's virtual session (null when the item is not set or the request has no
    /// session). The value is recorded with the turn, so replay and audits see the value the turn saw even after
    /// the item changed.
    /// </summary>
    Task<string?> GetSessionItemAsync(string key);

    /// <summary>
    /// A typed proxy to the component <typeparamref name="T"/> with <paramref name="key"/>. Each call through it is
    /// an outbound call of this turn: everything before it is made durable first, it carries the deterministic
    /// request id <c>thisComponentId:turnSeq:ordinal</c> (so a turn re-run after a crash reaches the callee under the
    /// same id and the callee runs it once), and its reply is recorded, so replay and audits return it without
    /// calling. An error the callee recorded is thrown here as the callee's exception type (or
    /// <see cref="ComponentFaultException"/>), and this turn may catch it.
    /// <para>
    /// Turns are not reentrant: while this turn waits for the callee, this component serves nothing else. A call back
    /// into a component that is waiting on this one (A calls B calls A, or A calls itself) would deadlock, so it fails
    /// fast with a call-cycle exception that shows the chain. Two components that call each other from separate
    /// concurrent requests can still wait on each other forever (for example two accounts that each credit the other
    /// in a transfer). The recommended pattern: an orchestrating component (a <c>Teller</c>) calls the components
    /// involved (the accounts), and those never call out. Keep call graphs acyclic.
    /// </para>
    /// </summary>
    T Call<T>(string key)
        where T : IRecoverableComponent;

    /// <summary>
    /// As <see cref="Call{T}(string)"/>, with a deadline for each call made through the proxy instead of the runtime's
    /// default (<c>RuntimeOptions.CallTimeout</c>, 30 s; a silo's <c>--call-timeout-ms</c>). When it passes, the callee's
    /// request id is fenced through the outcome protocol: if the callee committed meanwhile, the call returns its real
    /// reply; if not, it never runs and the call throws <c>CallTimeoutException</c>, recorded as the call's outcome (replay
    /// reproduces it). A context without deadlines (tests, replay) ignores <paramref name="timeout"/>.
    /// </summary>
    T Call<T>(string key, TimeSpan timeout)
        where T : IRecoverableComponent => Call<T>(key);
}
