using System.Runtime.InteropServices;

namespace Middleware.Recovery.Sqlite;

/// <summary>
/// The overlapped WAL sync of <see cref="SqliteStoreOptions.OverlapWalSync"/>: the writer commits with
/// <c>synchronous=NORMAL</c> (the commit writes its WAL frames but does not fsync them) and this class's thread fsyncs the
/// WAL file, so the fsync of one batch runs while the next batch is written. Whatever the store answers (an append's
/// statuses, a read's rows) is handed to <see cref="AfterSync{T}"/> right after the SQLite call that produced it returned,
/// and is released only once a sync that STARTED after that moment has completed: every WAL frame the call wrote or read
/// was in the file (page cache) when that sync began, so it is on disk when the answer leaves. Answers are released in
/// the order they were handed in (an append batch's replies stay in commit order). The durability argument, with
/// checkpoints, WAL restarts and other processes, is in docs/ARCHITECTURE.md ("Overlapped WAL sync").
/// </summary>
/// <remarks>
/// A failed sync is final: after an fsync error Linux may have marked the unwritten pages clean, so a later sync that
/// succeeds proves nothing about them. Every waiting and later answer then fails, and so does the store's every later
/// call that needs a sync, until the process reopens the store.
/// </remarks>
internal sealed class WalSync : IDisposable
{
    private readonly Action _sync;
    private readonly object _gate = new();
    private readonly Queue<(long Ticket, ISyncWaiter Waiter)> _waiting = new();
    private readonly Thread _thread;
    private long _marked;
    private long _synced;
    private long _syncs;
    private bool _stopping;
    private Exception? _failed;

    /// <param name="sync">Makes the WAL durable (fdatasync of the file); a test passes a fake with a gate.</param>
    public WalSync(Action sync)
    {
        _sync = sync;
        _thread = new Thread(Run) { IsBackground = true, Name = "wal-sync" };
        _thread.Start();
    }

    /// <summary>Syncs completed so far (by the sync thread and by <see cref="SyncNow"/>).</summary>
    public long Syncs => Interlocked.Read(ref _syncs);

    /// <summary>
    /// <paramref name="result"/>, released once a sync that starts after this call has completed. Call it only after the
    /// SQLite call that produced the result returned. Continuations run on the pool, never on the sync thread (a caller that
    /// disposed the store from there would wait for that thread itself).
    /// </summary>
    public Task<T> AfterSync<T>(T result)
    {
        var waiter = new Waiter<T>(result);
        lock (_gate)
        {
            if (_failed is { } failed) return Task.FromException<T>(Failure(failed));
            ObjectDisposedException.ThrowIf(_stopping, this);
            _waiting.Enqueue((++_marked, waiter));
            Monitor.Pulse(_gate);
        }

        return waiter.Task;
    }

    /// <summary>
    /// Syncs on the calling thread, for a write that answers its caller directly (a claim, a truncation, a cluster
    /// operation): call it after the write's COMMIT returned and before answering. Throws when this or an earlier sync failed.
    /// </summary>
    public void SyncNow()
    {
        lock (_gate)
        {
            if (_failed is { } failed) throw Failure(failed);
        }

        try
        {
            _sync();
            Interlocked.Increment(ref _syncs);
        }
        catch (Exception e)
        {
            Fail(e);
            throw Failure(e);
        }
    }

    private void Run()
    {
        while (true)
        {
            long target;
            lock (_gate)
            {
                while (_marked == _synced && !_stopping) Monitor.Wait(_gate);
                if (_marked == _synced) return;
                target = _marked; // every ticket up to here was handed out after its SQLite call returned
            }

            Exception? failure = null;
            try
            {
                _sync();
                Interlocked.Increment(ref _syncs);
            }
            catch (Exception e)
            {
                failure = e;
            }

            if (failure is not null)
            {
                Fail(failure);
                continue;
            }

            Release(target);
        }
    }

    /// <summary>Releases, in order, every waiter whose ticket is covered by the sync that just completed.</summary>
    private void Release(long target)
    {
        while (true)
        {
            ISyncWaiter waiter;
            lock (_gate)
            {
                if (_waiting.Count == 0 || _waiting.Peek().Ticket > target)
                {
                    _synced = Math.Max(_synced, target);
                    return;
                }

                waiter = _waiting.Dequeue().Waiter;
            }

            waiter.Release(null);
        }
    }

    private void Fail(Exception failure)
    {
        List<ISyncWaiter> failed = [];
        lock (_gate)
        {
            _failed ??= failure;
            while (_waiting.Count > 0) failed.Add(_waiting.Dequeue().Waiter);
            _synced = _marked;
        }

        foreach (var waiter in failed) waiter.Release(Failure(failure));
    }

    private static SqliteCallException Failure(Exception failure) =>
        new(SqliteIoErrFsync, $"syncing the WAL to disk failed ({failure.Message}); what was committed since the last successful sync may not be durable, " +
            "so nothing more is acknowledged until the store is reopened");

    /// <summary>SQLITE_IOERR_FSYNC: the store words it as a disk failure.</summary>
    private const int SqliteIoErrFsync = 10 | (4 << 8);

    /// <summary>Syncs what is waiting (their answers are released), then stops the thread.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_stopping) return;
            _stopping = true;
            Monitor.Pulse(_gate);
        }

        _thread.Join();
    }

    private interface ISyncWaiter
    {
        void Release(Exception? failure);
    }

    private sealed class Waiter<T>(T result) : TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously), ISyncWaiter
    {
        public void Release(Exception? failure)
        {
            if (failure is null) TrySetResult(result);
            else TrySetException(failure);
        }
    }
}

/// <summary>
/// A file descriptor of the store's <c>-wal</c> file, opened beside SQLite's own, whose only use is
/// <c>fdatasync</c>: on Linux an fsync through any descriptor of a file writes every dirty page of that file (the page
/// cache belongs to the inode), so it makes durable what SQLite's writer wrote through its descriptor. SQLite takes no
/// lock on the <c>-wal</c> file (WAL locks live in the <c>-shm</c> file), so this descriptor never interferes with its
/// POSIX locks when closed; it is closed after the writer connection anyway.
/// </summary>
internal sealed class WalFile : IDisposable
{
    private const int ReadOnly = 0; // O_RDONLY: fdatasync needs no write access
    private const int CloseOnExec = 0x80000; // O_CLOEXEC
    private int _fd;

    private WalFile(int fd, string path)
    {
        _fd = fd;
        Path = path;
    }

    /// <summary>The <c>-wal</c> file's path.</summary>
    public string Path { get; }

    /// <summary>Opens <paramref name="databasePath"/>'s <c>-wal</c> file; null when there is none (a store never in WAL mode).</summary>
    public static WalFile? Open(string databasePath)
    {
        var path = databasePath + "-wal";
        var fd = open(path, ReadOnly | CloseOnExec);
        if (fd >= 0) return new WalFile(fd, path);
        var errno = Marshal.GetLastPInvokeError();
        if (errno == 2) return null; // ENOENT
        throw new SqliteCallException(10, $"cannot open '{path}' to sync it: errno {errno}");
    }

    /// <summary>
    /// Syncs <paramref name="databasePath"/>'s <c>-wal</c> file once, if there is one: at open, so what an earlier process
    /// committed without a sync (it was killed between its commit and its sync) is durable before this process reads it.
    /// </summary>
    public static void SyncOnce(string databasePath)
    {
        using var wal = Open(databasePath);
        wal?.DataSync();
    }

    /// <summary>fdatasync: the file's data (and its size) on disk.</summary>
    public void DataSync()
    {
        if (fdatasync(_fd) != 0) throw new IOException($"fdatasync of '{Path}' failed: errno {Marshal.GetLastPInvokeError()}");
    }

    public void Dispose()
    {
        var fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0) _ = close(fd);
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", SetLastError = true)]
    private static extern int fdatasync(int fd);

    [DllImport("libc", SetLastError = true)]
    private static extern int close(int fd);
}
