using System.Runtime.InteropServices;

namespace Middleware.Recovery.Sqlite;

/// <summary>
/// The few e_sqlite3 entry points the writer calls once or more per record (bind, step, reset, the row id and change
/// count), called directly with the native handles: the SQLitePCLRaw wrappers go through the provider's interface and
/// take and release a reference on each SafeHandle argument, which on the group-commit thread cost about as much as the
/// calls themselves (bench/README.md, "Where a deposit's CPU goes (session 10)"). The library is the same one SQLitePCLRaw
/// loaded (the bundle's <c>e_sqlite3</c>); the handles stay owned by their SafeHandles, which outlive every call here.
/// Calls that return at once without taking a lock or calling back (setting an integer, reading a column or a counter)
/// skip the GC transition; step, reset and the copying binds do not.
/// </summary>
internal static unsafe class SqliteNative
{
    private const string Library = "e_sqlite3";

    /// <summary>SQLITE_TRANSIENT: SQLite copies the bytes before the bind returns.</summary>
    internal static readonly IntPtr Transient = new(-1);

    [DllImport(Library, EntryPoint = "sqlite3_bind_int64", ExactSpelling = true)]
    [SuppressGCTransition]
    internal static extern int BindInt64(IntPtr stmt, int index, long value);

    [DllImport(Library, EntryPoint = "sqlite3_bind_null", ExactSpelling = true)]
    [SuppressGCTransition]
    internal static extern int BindNull(IntPtr stmt, int index);

    [DllImport(Library, EntryPoint = "sqlite3_bind_zeroblob", ExactSpelling = true)]
    [SuppressGCTransition]
    internal static extern int BindZeroBlob(IntPtr stmt, int index, int length);

    [DllImport(Library, EntryPoint = "sqlite3_bind_blob", ExactSpelling = true)]
    internal static extern int BindBlob(IntPtr stmt, int index, byte* value, int length, IntPtr destructor);

    [DllImport(Library, EntryPoint = "sqlite3_bind_text", ExactSpelling = true)]
    internal static extern int BindText(IntPtr stmt, int index, byte* utf8, int length, IntPtr destructor);

    [DllImport(Library, EntryPoint = "sqlite3_step", ExactSpelling = true)]
    internal static extern int Step(IntPtr stmt);

    [DllImport(Library, EntryPoint = "sqlite3_reset", ExactSpelling = true)]
    internal static extern int Reset(IntPtr stmt);

    [DllImport(Library, EntryPoint = "sqlite3_column_int64", ExactSpelling = true)]
    [SuppressGCTransition]
    internal static extern long ColumnInt64(IntPtr stmt, int column);

    [DllImport(Library, EntryPoint = "sqlite3_changes", ExactSpelling = true)]
    [SuppressGCTransition]
    internal static extern int Changes(IntPtr db);

    [DllImport(Library, EntryPoint = "sqlite3_last_insert_rowid", ExactSpelling = true)]
    [SuppressGCTransition]
    internal static extern long LastInsertRowId(IntPtr db);

    /// <summary>SQLITE_CHECKPOINT_PASSIVE: copies what it can without waiting for any lock.</summary>
    internal const int CheckpointPassive = 0;

    /// <summary>SQLITE_CHECKPOINT_RESTART: takes the write lock, copies every frame, waits until no reader uses the WAL.</summary>
    internal const int CheckpointRestart = 2;

    /// <summary>
    /// Registers <paramref name="callback"/> to run after every commit of <paramref name="db"/> in WAL mode, on the
    /// committing thread (null unregisters it). It replaces SQLite's automatic checkpoint, which is installed the same way.
    /// </summary>
    [DllImport(Library, EntryPoint = "sqlite3_wal_hook", ExactSpelling = true)]
    internal static extern IntPtr WalHook(IntPtr db, delegate* unmanaged[Cdecl]<IntPtr, IntPtr, IntPtr, int, int> callback, IntPtr arg);

    /// <summary>sqlite3_wal_checkpoint_v2 of the main database: the WAL's frames and how many of them are in the database file afterwards.</summary>
    [DllImport(Library, EntryPoint = "sqlite3_wal_checkpoint_v2", ExactSpelling = true)]
    internal static extern int WalCheckpoint(IntPtr db, IntPtr schema, int mode, int* logFrames, int* checkpointedFrames);
}
