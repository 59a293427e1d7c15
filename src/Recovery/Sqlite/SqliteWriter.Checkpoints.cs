namespace Middleware.Recovery.Sqlite;

/// <summary>What the WAL checkpointer (<see cref="WalCheckpointer"/>) needs of the writer: its connection and its lock; and its cache setting (tests).</summary>
internal sealed partial class SqliteWriter
{
    private SqliteStatement? _cacheSize;

    /// <summary>The writer connection's native pointer, to register the commit hook on.</summary>
    internal IntPtr NativeHandle => _db.Native;

    /// <summary>The writer connection's page cache limit in KiB (<c>PRAGMA cache_size</c>, negative there when set in KiB); tests.</summary>
    internal long CacheKiB()
    {
        lock (_gate)
        {
            var pragma = _cacheSize ??= _db.Prepare("PRAGMA cache_size");
            try
            {
                pragma.Step();
                var value = pragma.Int64(0);
                return value < 0 ? -value : value * 4; // a positive value counts pages (4 KiB by default)
            }
            finally
            {
                pragma.Reset();
            }
        }
    }

    /// <summary>Runs <paramref name="action"/> under the writer lock: no transaction of this process's writer is open meanwhile.</summary>
    internal void RunExclusive(Action action)
    {
        lock (_gate)
        {
            action();
        }
    }
}
