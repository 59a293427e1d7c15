using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;

namespace Middleware.Recovery.Sqlite;

/// <summary>
/// The SQLite log store: one database file in WAL mode, one writer connection for appends, claims and
/// truncation, and a small pool of reader connections so reads do not wait behind commits. Every
/// acknowledged append has been fsync'd (synchronous=FULL). Several processes may open the same file; the
/// epoch fence is checked inside each write transaction, so a superseded owner is refused whichever process
/// it runs in. It also keeps the cluster tables (<see cref="IClusterStore"/>, sql/sqlite/002_cluster.sql and
/// 003_silo_contact.sql): every operation that writes, or decides on liveness, runs on the writer connection in one
/// BEGIN IMMEDIATE transaction, so it is serialized with appends and claims of this process and, through SQLite's write
/// lock, of every other process on the file; session reads use the reader pool. Liveness is judged by SQLite's clock,
/// never this process's. Argument rules and error wrapping are <see cref="LogStoreBase"/>'s.
/// </summary>
/// <remarks>
/// The log table is keyed by a monotonic position only; a component's records are chained through
/// prev_pos and read by walking that chain. See sql/sqlite/001_initial.sql for the layout and why, and
/// sql/sqlite/002_cluster.sql and 003_silo_contact.sql for the cluster tables.
/// </remarks>
public sealed class SqliteLogStore : LogStoreBase
{
    private readonly string _path;
    private readonly SqliteStoreOptions _options;
    private readonly SqliteWriter _writer;
    private readonly ReaderPool _readers;

    private SqliteLogStore(string path, string fullPath, SqliteStoreOptions options, SqliteWriter writer)
    {
        _path = path;
        _options = options;
        _writer = writer;
        _readers = new ReaderPool(options.ReaderConnections, () => OpenReader(fullPath, options.BusyTimeout));
    }

    /// <inheritdoc />
    public override string Name => "sqlite:" + _path;

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
    protected override Task<ComponentHead?> GetHeadCoreAsync(string componentId, CancellationToken cancellationToken) =>
        Read(r => r.GetHead(componentId), cancellationToken);

    /// <inheritdoc />
    protected override Task<ClaimResult> ClaimCoreAsync(ClaimRequest request, CancellationToken cancellationToken) =>
        Write(() => _writer.Claim(request, Now()), cancellationToken);

    /// <inheritdoc />
    /// <remarks>
    /// The work runs synchronously on the calling thread (the caller is a dedicated group-commit thread) and
    /// the returned task is already complete. Cancellation is honoured only before the transaction starts.
    /// </remarks>
    protected override Task<IReadOnlyList<AppendStatus>> AppendCoreAsync(IReadOnlyList<AppendGroup> groups, CancellationToken cancellationToken) =>
        Write<IReadOnlyList<AppendStatus>>(() => _writer.Append(groups, Now()), cancellationToken);

    /// <inheritdoc />
    protected override Task<IReadOnlyList<LogRecord>> ReadCoreAsync(string componentId, long fromSeq, long toSeq, CancellationToken cancellationToken) =>
        Read<IReadOnlyList<LogRecord>>(r => r.Read(componentId, fromSeq, toSeq), cancellationToken);

    /// <inheritdoc />
    /// <remarks>The returned checkpoint's <see cref="CheckpointRecord.Dedup"/> is empty: dedup entries are looked up with <see cref="LogStoreBase.FindRequestAsync"/>.</remarks>
    protected override Task<CheckpointRecord?> GetCheckpointCoreAsync(string componentId, long atOrBeforeSeq, CancellationToken cancellationToken) =>
        Read(r => r.GetCheckpoint(componentId, atOrBeforeSeq), cancellationToken);

    /// <inheritdoc />
    protected override Task<DedupEntry?> FindRequestCoreAsync(string componentId, string requestId, CancellationToken cancellationToken) =>
        Read(r => r.FindRequest(componentId, requestId), cancellationToken);

    /// <inheritdoc />
    protected override Task<long> TruncateCoreAsync(string componentId, long beforeSeq, CancellationToken cancellationToken) =>
        Write(() => _writer.Truncate(componentId, beforeSeq), cancellationToken);

    /// <inheritdoc />
    protected override Task<IReadOnlyList<ComponentHead>> ListComponentsCoreAsync(CancellationToken cancellationToken) =>
        Read<IReadOnlyList<ComponentHead>>(r => r.ListComponents(), cancellationToken);

    /// <inheritdoc />
    protected override Task<IReadOnlyList<ComponentHead>> ListInDoubtCoreAsync(CancellationToken cancellationToken) =>
        Read<IReadOnlyList<ComponentHead>>(r => r.ListInDoubt(), cancellationToken);

    /// <inheritdoc />
    protected override Task<SiloEntry> JoinCoreAsync(string siloId, string address, string? httpAddress, long deadAfterMs, CancellationToken cancellationToken) =>
        Write(() => _writer.Join(siloId, address, httpAddress, deadAfterMs), cancellationToken);

    /// <inheritdoc />
    protected override Task<bool> HeartbeatCoreAsync(string siloId, int activations, CancellationToken cancellationToken) =>
        Write(() => _writer.Heartbeat(siloId, activations), cancellationToken);

    /// <inheritdoc />
    protected override Task LeaveCoreAsync(string siloId, CancellationToken cancellationToken) => Write(() => _writer.Leave(siloId), cancellationToken);

    /// <inheritdoc />
    protected override Task<IReadOnlyList<SiloEntry>> ListSilosCoreAsync(CancellationToken cancellationToken) =>
        Write<IReadOnlyList<SiloEntry>>(() => _writer.ListSilos(), cancellationToken);

    /// <inheritdoc />
    protected override Task<bool> DeclareDeadCoreAsync(string siloId, DateTimeOffset joinedAt, string declaredBy, CancellationToken cancellationToken) =>
        Write(() => _writer.DeclareDead(siloId, joinedAt.ToUnixTimeMilliseconds(), declaredBy), cancellationToken);

    /// <inheritdoc />
    protected override Task<bool> HandOverCoreAsync(string componentId, long epoch, string fromSiloId, string? toSiloId, CancellationToken cancellationToken) =>
        Write(() => _writer.HandOver(componentId, epoch, fromSiloId, toSiloId), cancellationToken);

    /// <inheritdoc />
    protected override Task<SessionReservation> OpenSessionCoreAsync(string sessionId, int reserve, CancellationToken cancellationToken) =>
        Write(() => _writer.OpenSession(sessionId, reserve), cancellationToken);

    /// <inheritdoc />
    protected override Task<SessionReservation> ReserveSessionCoreAsync(string sessionId, int reserve, CancellationToken cancellationToken) =>
        Write(() => _writer.ReserveSession(sessionId, reserve), cancellationToken);

    /// <inheritdoc />
    protected override Task<SessionEntry?> GetSessionCoreAsync(string sessionId, CancellationToken cancellationToken) =>
        Read(r => r.GetSession(sessionId), cancellationToken);

    /// <inheritdoc />
    protected override Task<IReadOnlyList<SessionEntry>> ListSessionsCoreAsync(int limit, CancellationToken cancellationToken) =>
        Read<IReadOnlyList<SessionEntry>>(r => r.ListSessions(limit), cancellationToken);

    /// <inheritdoc />
    protected override Task SetSessionItemCoreAsync(string sessionId, string key, string? value, CancellationToken cancellationToken) =>
        Write(() => _writer.SetSessionItem(sessionId, key, value), cancellationToken);

    /// <inheritdoc />
    protected override Task CloseSessionCoreAsync(string sessionId, CancellationToken cancellationToken) =>
        Write(() => _writer.CloseSession(sessionId), cancellationToken);

    /// <inheritdoc />
    protected override StoreUnavailableException? DescribeFailure(Exception exception, string operation, bool write)
    {
        if (exception is not SqliteCallException e) return null;
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

    /// <summary>Waits for running reads, then finalizes every statement and closes every connection.</summary>
    protected override async ValueTask DisposeCoreAsync()
    {
        await _readers.DisposeAsync().ConfigureAwait(false);
        _writer.Dispose();
    }

    private long Now() => _options.TimeProvider.GetUtcNow().UtcTicks;

    /// <summary>Runs writer work on the calling thread; its exceptions escape to <see cref="LogStoreBase"/>, which words them.</summary>
    private static Task<T> Write<T>(Func<T> work, CancellationToken cancellationToken) =>
        cancellationToken.IsCancellationRequested ? Task.FromCanceled<T>(cancellationToken) : Task.FromResult(work());

    private Task<T> Read<T>(Func<SqliteReader, T> read, CancellationToken cancellationToken) => _readers.RunAsync(read, cancellationToken).AsTask();

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
