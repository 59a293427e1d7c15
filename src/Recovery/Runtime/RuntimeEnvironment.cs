using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Middleware.Core;
using Middleware.Recovery.Procedures;

namespace Middleware.Recovery.Runtime;

/// <summary>
/// What a runtime talks to besides its log store: the back-end databases components call, how component calls and
/// session reads leave it, how it claims the components it activates, and its clock. The defaults suit one process on
/// a store of its own; a silo sets every seam to its cluster's.
/// </summary>
public sealed class RuntimeEnvironment
{
    /// <summary>Back-end databases components reach with <c>Context.Backend(name)</c>.</summary>
    public BackendRegistry Backends { get; } = new();

    /// <summary>
    /// Delivers component-to-component calls made inside turns (<c>Context.Call&lt;T&gt;(key)</c>), for example a silo's
    /// router. Null (the default): the runtime serves them itself, in-process. An exception it throws (other than
    /// <see cref="CallCycleException"/>) leaves the calling turn in doubt; it is completed later under the same ids.
    /// </summary>
    public IComponentCaller? Caller { get; set; }

    /// <summary>
    /// How an activation claims its component. Null (the default): <see cref="StoreOwnership"/>, which claims through
    /// the log store under <see cref="RuntimeOptions.OwnerId"/>; a silo uses <see cref="ClusterOwnership"/>, which never
    /// takes a component from another live silo.
    /// </summary>
    public IOwnershipPolicy? Ownership { get; set; }

    /// <summary>Reads items of virtual sessions for <c>Context.GetSessionItemAsync</c>. Null (the default): every item reads null.</summary>
    public ISessionItemSource? SessionItems { get; set; }

    /// <summary>
    /// Told of every group of one component's records (and the checkpoint written with them) once the store made them
    /// durable, on the writer's thread, in each component's seq order (a silo ships them to the component's mirror). It
    /// must return at once (queue, never wait): the next commit waits for it. Null (the default): nobody is told.
    /// </summary>
    public ICommitObserver? CommitObserver { get; set; }

    /// <summary>The clock behind <c>Context.UtcNow</c>, checkpoint intervals and retry backoff (default: the system clock).</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>
    /// Where the engine writes what an operator must know (failures that are not a component's own outcome: store, back
    /// end, replay divergence, corrupt records, quarantines), once each, with component, seq, request id and cause.
    /// Default: nowhere. A healthy runtime stays quiet.
    /// </summary>
    public ILogger Logger { get; set; } = NullLogger.Instance;

    /// <summary>
    /// Creates the loggers components write to (<c>Context.Logger</c>, category: the component class's full name). Lines
    /// are written by live turns only, never during replay. Default: none (components' lines go nowhere).
    /// </summary>
    public ILoggerFactory? LoggerFactory { get; set; }
}

/// <summary>Learns of records once they are durable (see <see cref="RuntimeEnvironment.CommitObserver"/>).</summary>
public interface ICommitObserver
{
    /// <summary>
    /// <paramref name="group"/> is durable: its records (consecutive seqs of one component, one epoch) and its checkpoint,
    /// if any. Called on the commit path: queue and return; never block, never throw.
    /// </summary>
    void Committed(Log.AppendGroup group);
}
