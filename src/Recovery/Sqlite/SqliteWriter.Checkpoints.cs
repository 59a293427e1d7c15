namespace Middleware.Recovery.Sqlite;

/// <summary>What the WAL checkpointer (<see cref="WalCheckpointer"/>) needs of the writer: its connection and its lock.</summary>
internal sealed partial class SqliteWriter
{
    /// <summary>The writer connection's native pointer, to register the commit hook on.</summary>
    internal IntPtr NativeHandle => _db.Native;

    /// <summary>Runs <paramref name="action"/> under the writer lock: no transaction of this process's writer is open meanwhile.</summary>
    internal void RunExclusive(Action action)
    {
        lock (_gate)
        {
            action();
        }
    }
}
