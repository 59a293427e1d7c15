using Middleware.Core;

namespace Middleware.Recovery.Storage;

/// <summary>The store could not be reached or failed mid-operation; nothing was acknowledged.</summary>
public class StoreUnavailableException(string message, Exception? inner = null) : Core.RequestNotAcknowledgedException(message, inner);

/// <summary>The store's schema is at a version this code does not understand.</summary>
public sealed class SchemaVersionException(string message) : Exception(message);

/// <summary>A store operation broke a contract rule (for example truncating past the latest checkpoint).</summary>
public sealed class StoreContractException(string message) : Exception(message);

/// <summary>
/// A stored record, dedup entry or checkpoint does not match its checksum: its bytes or its identity changed after it
/// was written. It is never served or replayed; the component is quarantined when its replay meets it. The message names
/// the component, the seq, the store and what to do. A request that meets it gets no reply from this attempt (so callers
/// see it as not acknowledged, never as the request's final outcome), and a retry does not help until an operator acts.
/// </summary>
public sealed class CorruptRecordException : RequestNotAcknowledgedException
{
    /// <summary>A corrupt <paramref name="what"/> ("log record", "dedup entry of request 'r'", "checkpoint") of <paramref name="componentId"/> at <paramref name="seq"/>.</summary>
    public CorruptRecordException(string store, string componentId, long seq, string what, string problem, Exception? inner = null)
        : base($"The {what} of {componentId} at seq {seq} in {store} is corrupt: {problem}. It is never replayed or served. " +
               $"Inspect it with 'mw log {componentId} --from {seq} --to {seq}' and 'mw audit {componentId} --from-genesis --components PATH'; " +
               "restore the store from a backup" +
               (what is "log record" or "checkpoint" && seq > 1 ? $", or go back to the history before it with 'mw reset {componentId} --to SEQ' (SEQ < {seq})." : "."), inner)
    {
        Store = store;
        ComponentId = componentId;
        Seq = seq;
        What = what;
    }

    /// <summary>The store's name (<c>ILogStore.Name</c>).</summary>
    public string Store { get; }

    /// <summary>The component whose record is corrupt.</summary>
    public string ComponentId { get; }

    /// <summary>The seq of the corrupt record (for a dedup entry: the seq it says it was recorded at).</summary>
    public long Seq { get; }

    /// <summary>What is corrupt: "log record", "checkpoint", or "dedup entry of request '…'".</summary>
    public string What { get; }
}
