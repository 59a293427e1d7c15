namespace Middleware.Recovery.Storage;

/// <summary>What a program opening a store means to do with it.</summary>
public enum StoreAccess
{
    /// <summary>
    /// Read and write (hosts, tools that claim, checkpoint or truncate): a missing store is created and an older schema
    /// upgraded, always after the schema check has confirmed the database is empty or this middleware's.
    /// </summary>
    ReadWrite,

    /// <summary>
    /// Read only (tools that inspect): nothing is ever created, upgraded or written. A missing or empty store, one of
    /// another program and one at an older schema version are refused naming the fix; write operations throw
    /// <see cref="InvalidOperationException"/> (or, where the server enforces it, fail as read-only transactions).
    /// </summary>
    ReadOnly,
}
