using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Middleware.Recovery.Sqlite;

/// <summary>
/// The store's WAL checkpoints, on a thread of their own (<see cref="SqliteStoreOptions.WalCheckpointPages"/>) instead of
/// SQLite's automatic checkpoint, which runs inside the COMMIT that crossed its threshold, on the one writer thread every
/// append goes through: it copies the WAL's pages into the database file and fsyncs that file there, while every turn
/// waits (bench/README.md, "The SQLite writer in steady state (session 11)").
/// </summary>
/// <remarks>
/// <para>A commit hook on the writer connection (<c>sqlite3_wal_hook</c>, which replaces the automatic checkpoint) adds up
/// the frames each commit wrote and wakes the <c>wal-checkpoint</c> thread every <see cref="Pages"/> of them. That thread
/// runs a PASSIVE checkpoint on its own connection: it copies every frame no reader still needs into the database file and
/// takes no lock the writer waits for (SQLite syncs the WAL before copying and the database before recording the frames
/// as copied, on this connection as on the writer's: synchronous=FULL), so durability is what it was.</para>
/// <para>A WAL starts again from its beginning only when a writer begins a transaction while every frame is copied, which
/// under steady load never happens behind a checkpointer that runs beside the commits: the file would grow without end.
/// So once the WAL holds <see cref="LimitPages"/> frames, the thread takes this process's writer lock (no transaction of
/// this process runs meanwhile) and runs a RESTART checkpoint: it copies the few frames the passive one left, waits (at most
/// <see cref="RestartWait"/>) for readers that still read from the WAL, and the writer's next commit then reuses the file
/// from its start. A restart that cannot finish in that time (a reader holding a snapshot, another process writing) is
/// tried again once the WAL has grown by twice the distance of the last try (the passive checkpoints go on meanwhile), so a
/// reader that holds an old snapshot for long costs the writer a few short waits, not one per wake-up; once it lets go, the
/// next try succeeds and the limit is back to <see cref="LimitPages"/>. Errors never escape the thread: a failed checkpoint leaves the
/// frames in the WAL, where every reader finds them, and is tried again; the last one is kept for diagnostics.</para>
/// </remarks>
internal sealed unsafe class WalCheckpointer : IDisposable
{
    /// <summary>How long a restart waits for readers (and for another process's write lock) before it gives up until next time.</summary>
    internal static readonly TimeSpan RestartWait = TimeSpan.FromMilliseconds(10);

    private readonly SqliteDb _db;
    private readonly SqliteWriter _writer;
    private readonly object _gate = new();
    private readonly Thread _thread;
    private GCHandle _self;
    private bool _pending;
    private bool _stopping;

    // Written by the commit hook, on the writer thread only (under the writer lock).
    private int _lastFrames;
    private int _appended;
    private int _frames;

    // The WAL's copied frames after the last checkpoint, and the WAL size at which the next restart is tried (the
    // checkpointer's thread only): LimitPages, doubled past the current size after each restart that could not finish.
    private int _lastDone;
    private int _restartAt;
    private int _backoff;

    // Counters (tests, diagnostics).
    private long _checkpoints;
    private long _restarts;
    private long _framesCopied;
    private long _busy;
    private string? _lastError;

    private WalCheckpointer(SqliteDb db, SqliteWriter writer, int pages)
    {
        _db = db;
        _writer = writer;
        Pages = pages;
        LimitPages = pages * 4;
        _restartAt = LimitPages;
        _thread = new Thread(Run) { IsBackground = true, Name = "wal-checkpoint" };
    }

    /// <summary>Frames written since the last wake-up that wake the thread again.</summary>
    public int Pages { get; }

    /// <summary>WAL frames past which the thread restarts the WAL under the writer lock.</summary>
    public int LimitPages { get; }

    /// <summary>Checkpoints run (passive and restart), restarts among them, frames copied, and checkpoints that found a lock taken.</summary>
    public (long Checkpoints, long Restarts, long FramesCopied, long Busy) Counts =>
        (Interlocked.Read(ref _checkpoints), Interlocked.Read(ref _restarts), Interlocked.Read(ref _framesCopied), Interlocked.Read(ref _busy));

    /// <summary>The WAL's frames after the writer's latest commit.</summary>
    public int Frames => Volatile.Read(ref _frames);

    /// <summary>The last error a checkpoint reported, or null.</summary>
    public string? LastError => Volatile.Read(ref _lastError);

    /// <summary>
    /// Opens the checkpointer's own connection on <paramref name="path"/>, registers the commit hook on the writer's (which
    /// turns SQLite's automatic checkpoint off there) and starts the thread.
    /// </summary>
    public static WalCheckpointer Start(string path, SqliteWriter writer, int pages)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(pages, 1);
        var db = SqliteDb.Open(path, SqliteAccess.ReadWrite, RestartWait);
        var checkpointer = new WalCheckpointer(db, writer, pages);
        checkpointer._self = GCHandle.Alloc(checkpointer);
        writer.RunExclusive(() => SqliteNative.WalHook(writer.NativeHandle, &OnCommit, GCHandle.ToIntPtr(checkpointer._self)));
        checkpointer._thread.Start();
        return checkpointer;
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int OnCommit(IntPtr arg, IntPtr db, IntPtr schema, int frames)
    {
        // Must not throw into SQLite; nothing here can (a field update and, every Pages frames, a pulse).
        if (GCHandle.FromIntPtr(arg).Target is WalCheckpointer checkpointer) checkpointer.Committed(frames);
        return 0;
    }

    /// <summary>After a commit of the writer (its thread, in the COMMIT): <paramref name="frames"/> is the WAL's size in frames.</summary>
    private void Committed(int frames)
    {
        // Fewer frames than after the previous commit: the WAL started again from its beginning with this commit.
        _appended += frames >= _lastFrames ? frames - _lastFrames : frames;
        _lastFrames = frames;
        Volatile.Write(ref _frames, frames);
        if (_appended < Pages) return;
        _appended = 0;
        lock (_gate)
        {
            _pending = true;
            Monitor.Pulse(_gate);
        }
    }

    private void Run()
    {
        while (true)
        {
            lock (_gate)
            {
                while (!_pending && !_stopping) Monitor.Wait(_gate);
                if (_stopping) return;
                _pending = false;
            }

            Checkpoint();
        }
    }

    private void Checkpoint()
    {
        Run(SqliteNative.CheckpointPassive);
        var frames = Volatile.Read(ref _frames);
        if (frames < _restartAt) return;
        var restarted = false;
        _writer.RunExclusive(() => restarted = Run(SqliteNative.CheckpointRestart));
        if (restarted)
        {
            Interlocked.Increment(ref _restarts);
            _restartAt = LimitPages;
            _backoff = 0;
        }
        else
        {
            // A reader still on the WAL (or another process's writer): each try holds this process's writer for up to
            // RestartWait, so the next one waits until the WAL has grown by twice as much as the last time.
            _backoff = _backoff == 0 ? LimitPages : Math.Min(_backoff * 2, 1 << 24);
            _restartAt = (int)Math.Min(int.MaxValue, (long)frames + _backoff);
        }
    }

    /// <summary>One checkpoint in <paramref name="mode"/>; true when it completed (false: a lock was taken, or an error).</summary>
    private bool Run(int mode)
    {
        int rc, done;
        try
        {
            (rc, _, done) = _db.WalCheckpoint(mode);
        }
        catch (ObjectDisposedException)
        {
            return false;
        }

        Interlocked.Increment(ref _checkpoints);
        // done is the WAL's copied frames in all: what this checkpoint copied is the growth since the last one (or all of
        // it when the WAL started again in between).
        if (done > 0) Interlocked.Add(ref _framesCopied, done >= _lastDone ? done - _lastDone : done);
        if (done >= 0) _lastDone = done;
        if ((rc & 0xff) is 5 or 6) // SQLITE_BUSY, SQLITE_LOCKED: another checkpointer, a reader, another process's writer
        {
            Interlocked.Increment(ref _busy);
            return false;
        }

        if (rc == 0) return true;
        Volatile.Write(ref _lastError, $"wal_checkpoint mode {mode} failed: {_db.ErrorMessage()} (code {rc})");
        return false;
    }

    /// <summary>Stops the thread (after the checkpoint in progress), removes the commit hook, and closes the connection.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_stopping) return;
            _stopping = true;
            Monitor.Pulse(_gate);
        }

        if (_thread.IsAlive) _thread.Join();
        _writer.RunExclusive(() => SqliteNative.WalHook(_writer.NativeHandle, null, IntPtr.Zero));
        if (_self.IsAllocated) _self.Free();
        _db.Dispose();
    }
}
