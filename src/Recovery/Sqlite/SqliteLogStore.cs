using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;

namespace Middleware.Recovery.Sqlite;

/// <summary>
/// The SQLite log store: one database file in WAL mode, one writer connection for appends, claims and
/// truncation, and a small pool of reader connections so reads do not wait behind commits. Every
/// acknowledged append has been fsync'd (synchronous=FULL). Several processes may open the same file; the
/// epoch fence is checked inside each write transaction, so a superseded owner is refused whichever process
/// it runs in. It also keeps the cluster tables (<see cref="IClusterStore"/>, SqliteLogStore.Cluster.cs), with
/// every cluster write in a BEGIN IMMEDIATE transaction on the same writer connection.
/// </summary>
/// <remarks>
/// The log table is keyed by a monotonic position only; a component's records are chained through
/// prev_pos and read by walking that chain. See sql/sqlite/001_initial.sql for the layout and why, and
/// sql/sqlite/002_cluster.sql and 003_silo_contact.sql for the cluster tables.
/// </remarks>
public sealed partial class SqliteLogStore : ILogStore, IClusterStore
{
    private readonly string _path;
    private readonly SqliteStoreOptions _options;
    private readonly SqliteWriter _writer;
    private readonly ReaderPool _readers;
    private int _disposed;

    private SqliteLogStore(string path, string fullPath, SqliteStoreOptions options, SqliteWriter writer)
    {
        _path = path;
        _options = options;
        _writer = writer;
        _readers = new ReaderPool(options.ReaderConnections, () => OpenReader(fullPath, options.BusyTimeout));
    }

    /// <inheritdoc />
    public string Name => "sqlite:" + _path;

    /// <summary>
    /// Opens the store at <paramref name="path"/>, creating the parent directory and the file when they do not
    /// exist, and brings the schema up to this build's version.
    /// </summary>
    /// <exception cref="StoreUnavailableException">The directory or file cannot be created or opened.</exception>
    /// <exception cref="SchemaVersionException">The file was written by a newer middleware, or its schema_version table is damaged.</exception>
    public static SqliteLogStore Open(string path, SqliteStoreOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        options ??= new SqliteStoreOptions();
        string fullPath;
        try
        {
            fullPath = Path.GetFullPath(path);
            var directory = Path.GetDirectoryName(fullPath);
            if (!string.IsNullOrEmpty(directory)) Directory.CreateDirectory(directory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw CannotOpen(path, e.Message, e);
        }

        SqliteDb? db = null;
        try
        {
            db = SqliteDb.Open(fullPath, create: true, options.BusyTimeout);
            SchemaMigrator.Migrate(db, options.TimeProvider.GetUtcNow().UtcTicks);
            return new SqliteLogStore(path, fullPath, options, new SqliteWriter(db, options.BusyTimeout));
        }
        catch (SqliteCallException e)
        {
            db?.Dispose();
            throw CannotOpen(path, e.Message, e);
        }
        catch
        {
            db?.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public Task<ComponentHead?> GetHeadAsync(string componentId, CancellationToken cancellationToken = default) =>
        ReadAsync("reading the head of " + componentId, r => r.GetHead(componentId), cancellationToken);

    /// <inheritdoc />
    public Task<ClaimResult> ClaimAsync(ClaimRequest request, CancellationToken cancellationToken = default) =>
        Write("claiming " + request?.ComponentId + (request?.RespectsLiveSilo == true ? " for silo " + request.Owner : ""), () =>
        {
            ClusterRules.CheckClaim(request!);
            return _writer.Claim(request!, Now());
        }, cancellationToken);

    /// <inheritdoc />
    /// <remarks>
    /// The work runs synchronously on the calling thread (the caller is a dedicated group-commit thread) and
    /// the returned task is already complete. Cancellation is honoured only before the transaction starts.
    /// </remarks>
    public Task<IReadOnlyList<AppendStatus>> AppendAsync(IReadOnlyList<AppendGroup> groups, CancellationToken cancellationToken = default) =>
        Write<IReadOnlyList<AppendStatus>>("appending", () => _writer.Append(groups, Now()), cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<LogRecord>> ReadAsync(string componentId, long fromSeq, long toSeq, CancellationToken cancellationToken = default) =>
        ReadAsync<IReadOnlyList<LogRecord>>("reading the log of " + componentId, r => r.Read(componentId, fromSeq, toSeq), cancellationToken);

    /// <inheritdoc />
    /// <remarks>The returned checkpoint's <see cref="CheckpointRecord.Dedup"/> is empty: dedup entries are looked up with <see cref="FindRequestAsync"/>.</remarks>
    public Task<CheckpointRecord?> GetCheckpointAsync(string componentId, long atOrBeforeSeq = long.MaxValue, CancellationToken cancellationToken = default) =>
        ReadAsync("reading a checkpoint of " + componentId, r => r.GetCheckpoint(componentId, atOrBeforeSeq), cancellationToken);

    /// <inheritdoc />
    public Task<DedupEntry?> FindRequestAsync(string componentId, string requestId, CancellationToken cancellationToken = default) =>
        ReadAsync("looking up a request of " + componentId, r => r.FindRequest(componentId, requestId), cancellationToken);

    /// <inheritdoc />
    public Task<long> TruncateAsync(string componentId, long beforeSeq, CancellationToken cancellationToken = default) =>
        Write("truncating " + componentId, () => _writer.Truncate(componentId, beforeSeq), cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<ComponentHead>> ListComponentsAsync(CancellationToken cancellationToken = default) =>
        ReadAsync<IReadOnlyList<ComponentHead>>("listing components", r => r.ListComponents(), cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<ComponentHead>> ListInDoubtAsync(CancellationToken cancellationToken = default) =>
        ReadAsync<IReadOnlyList<ComponentHead>>("listing turns in doubt", r => r.ListInDoubt(), cancellationToken);

    /// <summary>Waits for running reads, then finalizes every statement and closes every connection.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        await _readers.DisposeAsync().ConfigureAwait(false);
        _writer.Dispose();
    }

    private long Now() => _options.TimeProvider.GetUtcNow().UtcTicks;

    /// <summary>Runs writer work on the calling thread and returns a completed (or faulted) task.</summary>
    private Task<T> Write<T>(string operation, Func<T> work, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested) return Task.FromCanceled<T>(cancellationToken);
        try
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) == 1, this);
            return Task.FromResult(work());
        }
        catch (SqliteCallException e)
        {
            return Task.FromException<T>(Unavailable(operation, e));
        }
        catch (Exception e)
        {
            return Task.FromException<T>(e);
        }
    }

    private async Task<T> ReadAsync<T>(string operation, Func<SqliteReader, T> read, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) == 1, this);
        try
        {
            return await _readers.RunAsync(read, cancellationToken).ConfigureAwait(false);
        }
        catch (SqliteCallException e)
        {
            throw Unavailable(operation, e);
        }
    }

    private StoreUnavailableException Unavailable(string operation, SqliteCallException e)
    {
        // SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended codes in the high bits.
        var busy = (e.ResultCode & 0xff) is 5 or 6;
        var fix = busy
            ? $"Another connection held the file's lock longer than the busy timeout ({_options.BusyTimeout.TotalSeconds:0.#} s): " +
              "check for another process or tool writing the same file, or raise SqliteStoreOptions.BusyTimeout."
            : "Check the disk (free space, permissions, health) and that no other program replaced or damaged the file.";
        return new StoreUnavailableException(
            $"SQLite log store '{_path}' failed while {operation}: {e.Message}. Nothing from this call was acknowledged; " +
            $"a later read tells what was committed. {fix}", e);
    }

    private static StoreUnavailableException CannotOpen(string path, string reason, Exception inner) =>
        new($"Cannot open the SQLite log store '{path}': {reason}. Make sure the directory exists or can be created, that this " +
            "process may write the file and its -wal and -shm companions, and that the path names a file, not a directory.", inner);

    private static SqliteReader OpenReader(string fullPath, TimeSpan busyTimeout)
    {
        var db = SqliteDb.Open(fullPath, create: false, busyTimeout);
        try
        {
            return new SqliteReader(db);
        }
        catch
        {
            db.Dispose();
            throw;
        }
    }
}
