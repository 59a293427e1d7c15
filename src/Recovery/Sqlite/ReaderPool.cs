using System.Collections.Concurrent;

namespace Middleware.Recovery.Sqlite;

/// <summary>
/// A small pool of reader connections, opened on first need, so reads never queue behind the writer's
/// commit (and its fsync). At most <c>size</c> readers exist; each is used by one caller at a time, which
/// is what SQLITE_OPEN_NOMUTEX requires.
/// </summary>
internal sealed class ReaderPool : IAsyncDisposable
{
    private readonly Func<SqliteReader> _open;
    private readonly int _size;
    private readonly SemaphoreSlim _slots;
    private readonly ConcurrentBag<SqliteReader> _idle = [];

    public ReaderPool(int size, Func<SqliteReader> open)
    {
        _size = Math.Max(1, size);
        _slots = new SemaphoreSlim(_size, _size);
        _open = open;
    }

    /// <summary>Runs <paramref name="read"/> on a reader, waiting for a free one when all are busy.</summary>
    public async ValueTask<T> RunAsync<T>(Func<SqliteReader, T> read, CancellationToken cancellationToken)
    {
        // Trying without waiting first keeps the usual case (a reader is free) from suspending at all.
        if (!_slots.Wait(0)) await _slots.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var reader = _idle.TryTake(out var idle) ? idle : _open();
            try
            {
                return read(reader);
            }
            finally
            {
                _idle.Add(reader);
            }
        }
        finally
        {
            _slots.Release();
        }
    }

    /// <summary>Waits until no read is running, then closes every reader.</summary>
    public async ValueTask DisposeAsync()
    {
        for (var i = 0; i < _size; i++) await _slots.WaitAsync().ConfigureAwait(false);
        while (_idle.TryTake(out var reader)) reader.Dispose();
    }
}
