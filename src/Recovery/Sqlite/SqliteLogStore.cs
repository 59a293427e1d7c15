using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;

namespace Middleware.Recovery.Sqlite;

/// <summary>
/// The SQLite log store: one database file in WAL mode, one writer connection for appends, claims and
/// truncation, and a small pool of reader connections so reads do not wait behind commits. Every
/// acknowledged append has been fsync'd (synchronous=FULL, or with <see cref="SqliteStoreOptions.OverlapWalSync"/> a
/// sync of the WAL on a second thread that started after the commit). Several processes may open the same file; the
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
    private string? _name;
    private readonly SqliteStoreOptions _options;
    private readonly SqliteWriter? _writer;
    private readonly ClaimCombiner? _claims;
    private readonly ReaderPool _readers;
    private readonly WalFile? _walFile;
    private readonly WalSync? _wal;
    private readonly WalCheckpointer? _checkpointer;

    /// <summary>
    /// With <see cref="SqliteStoreOptions.OverlapWalSync"/>: the most append batches in flight (one being written, the
    /// others waiting for the sync that covers them).
    /// </summary>
    internal const int OverlapDepth = 4;

    private SqliteLogStore(string path, string fullPath, SqliteStoreOptions options, SqliteWriter? writer, WalFile? walFile = null, Action? sync = null)
    {
        _path = path;
        _options = options;
        _writer = writer;
        _walFile = walFile;
        if (writer is not null && (walFile is not null || sync is not null))
        {
            _wal = new WalSync(sync ?? walFile!.DataSync);
            writer.AfterCommit = _wal.SyncNow;
        }

        if (writer is not null) _claims = new ClaimCombiner(claims => writer.DrainClaims(claims, Now()));
        if (writer is not null && options.WalCheckpointPages > 0)
        {
            try
            {
                _checkpointer = WalCheckpointer.Start(fullPath, writer, options.WalCheckpointPages);
            }
            catch
            {
                _wal?.Dispose();
                throw;
            }
        }

        var access = options.ReadOnly ? SqliteAccess.ReadOnly : SqliteAccess.ReadWrite;
        _readers = new ReaderPool(options.ReaderConnections, () => OpenReader(fullPath, access, options.BusyTimeout));
    }

    /// <inheritdoc />
    public override string Name => _name ??= "sqlite:" + _path; // asked twice per activation read (checksum checks)

    /// <inheritdoc />
    /// <remarks>1, or <see cref="OverlapDepth"/> with <see cref="SqliteStoreOptions.OverlapWalSync"/>: the writer commits
    /// the next batch while the previous ones wait for their sync (the commits themselves still run one at a time).</remarks>
    public override int MaxConcurrentAppends => _wal is null ? 1 : OverlapDepth;

    /// <summary>Appends that took the writer's batch path, and those sent back to the per-group path by a fence (tests).</summary>
    internal (long Inserted, long Refused) BatchPath => _writer?.BatchPath ?? default;

    /// <summary>The WAL checkpointer (null read-only or with <see cref="SqliteStoreOptions.WalCheckpointPages"/> off; tests).</summary>
    internal WalCheckpointer? Checkpointer => _checkpointer;

    /// <summary>The writer connection's page cache limit in KiB (0 read-only; tests).</summary>
    internal long WriterCacheKiB => _writer?.CacheKiB() ?? 0;

    /// <summary>WAL syncs done by the overlapped sync (0 without <see cref="SqliteStoreOptions.OverlapWalSync"/>).</summary>
    internal long WalSyncs => _wal?.Syncs ?? 0;

    /// <summary>How to create or upgrade a store, for the messages of a read-only open.</summary>
    public const string CreateHint = "run mw db migrate --store sqlite:PATH, or start a silo of this build on it";

    /// <summary>
    /// Opens the store at <paramref name="path"/>. Unless <see cref="SqliteStoreOptions.ReadOnly"/>, the parent directory
    /// and the file are created when they do not exist and the schema is brought up to this build's version. Either way
    /// the schema is checked first, reading only: a file of another program (or of a newer middleware) is refused before
    /// anything changes it, so it is not even switched to WAL. Read-only, a missing file, an empty one and an older schema
    /// are refused too.
    /// </summary>
    /// <exception cref="StoreUnavailableException">The directory or file cannot be created or opened (read-only: does not exist).</exception>
    /// <exception cref="SchemaVersionException">The file is not a log store of this middleware, was written by a newer one, or its schema_version table is damaged; read-only: it is empty or older.</exception>
    public static SqliteLogStore Open(string path, SqliteStoreOptions? options = null) => Open(path, options, sync: null);

    /// <summary><see cref="Open(string, SqliteStoreOptions?)"/>; with <paramref name="sync"/> (tests) the overlapped sync calls it instead of fdatasync.</summary>
    internal static SqliteLogStore Open(string path, SqliteStoreOptions? options, Action? sync)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        options ??= new SqliteStoreOptions();
        string fullPath;
        try
        {
            fullPath = Path.GetFullPath(path);
            if (options.ReadOnly)
            {
                if (!File.Exists(fullPath))
                {
                    throw new StoreUnavailableException($"Cannot open the SQLite log store '{path}' read-only: the file does not exist ({fullPath}). " +
                        $"Check the path; a read-only command never creates a store (to create one, {CreateHint}).");
                }
            }
            else
            {
                var directory = Path.GetDirectoryName(fullPath);
                if (!string.IsNullOrEmpty(directory)) Directory.CreateDirectory(directory);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw CannotOpen(path, e.Message, e);
        }

        SqliteDb? db = null;
        WalFile? walFile = null;
        try
        {
            db = SqliteDb.Open(fullPath, options.ReadOnly ? SqliteAccess.ReadOnly : SqliteAccess.Create, options.BusyTimeout);
            var found = SchemaMigrator.ReadVersion(db);
            if (options.ReadOnly)
            {
                SchemaVersions.RequireCurrent(found, SchemaMigrator.CurrentVersion, SchemaMigrator.Location(path), CreateHint);
                db.Dispose();
                return new SqliteLogStore(path, fullPath, options, writer: null);
            }

            // Ours (or empty): WAL lets readers run beside the writer; then the missing scripts, under the write lock.
            db.EnableWal();
            SchemaMigrator.Migrate(db, options.TimeProvider.GetUtcNow().UtcTicks);
            if (options.WriterCacheMiB > 0) db.Exec(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"PRAGMA cache_size=-{(long)options.WriterCacheMiB * 1024}"));
            if (!options.OverlapWalSync)
            {
                // What an earlier process committed and had not synced yet (it was killed between its COMMIT and its fsync)
                // is made durable before this process reads it (docs/ARCHITECTURE.md, "Overlapped WAL sync").
                if (OperatingSystem.IsLinux()) WalFile.SyncOnce(fullPath);
                return new SqliteLogStore(path, fullPath, options, new SqliteWriter(db, options.BusyTimeout));
            }

            if (!OperatingSystem.IsLinux())
            {
                throw new ArgumentException($"SqliteStoreOptions.OverlapWalSync (or {SqliteStoreOptions.OverlapWalSyncVariable}=1) needs Linux, where an fsync " +
                    "through any descriptor of the -wal file writes what SQLite wrote through its own; turn it off on this system.", nameof(options));
            }

            // The commit writes its WAL frames without an fsync; the WAL sync thread makes them durable before any answer.
            db.Exec("PRAGMA synchronous=NORMAL");
            walFile = WalFile.Open(fullPath) ?? throw new SqliteCallException(14, $"'{fullPath}-wal' does not exist after the store was switched to WAL");
            walFile.DataSync();
            return new SqliteLogStore(path, fullPath, options, new SqliteWriter(db, options.BusyTimeout), walFile, sync);
        }
        catch (Exception e) when (e is SqliteCallException or IOException)
        {
            db?.Dispose();
            walFile?.Dispose();
            throw CannotOpen(path, e.Message, e);
        }
        catch
        {
            db?.Dispose();
            walFile?.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    protected override Task<ComponentHead?> GetHeadCoreAsync(string componentId, CancellationToken cancellationToken) =>
        Read(r => r.GetHead(componentId), cancellationToken);

    /// <inheritdoc />
    protected override Task<ClaimResult> ClaimCoreAsync(ClaimRequest request, CancellationToken cancellationToken) =>
        _writer is null || _claims is null ? Write(w => w.Claim(request, Now()), cancellationToken)
        : cancellationToken.IsCancellationRequested ? Task.FromCanceled<ClaimResult>(cancellationToken)
        : _claims.ClaimAsync(request);

    /// <inheritdoc />
    /// <remarks>
    /// The work runs synchronously on the calling thread (the caller is a dedicated group-commit thread) and
    /// the returned task is already complete. Cancellation is honoured only before the transaction starts.
    /// </remarks>
    /// <remarks>
    /// With <see cref="SqliteStoreOptions.OverlapWalSync"/> the transaction commits without an fsync and the task completes
    /// (its continuations on the pool) once a sync that started after the commit is done; waiting claims then do not ride in it.
    /// </remarks>
    protected override Task<IReadOnlyList<AppendStatus>> AppendCoreAsync(IReadOnlyList<AppendGroup> groups, CancellationToken cancellationToken)
    {
        if (_wal is not { } wal) return Write<IReadOnlyList<AppendStatus>>(w => w.Append(groups, Now(), _claims), cancellationToken);
        var writer = _writer ?? throw new InvalidOperationException($"The SQLite log store '{_path}' was opened read-only (SqliteStoreOptions.ReadOnly); it cannot write.");
        if (cancellationToken.IsCancellationRequested) return Task.FromCanceled<IReadOnlyList<AppendStatus>>(cancellationToken);
        return wal.AfterSync<IReadOnlyList<AppendStatus>>(writer.Append(groups, Now()));
    }

    /// <inheritdoc />
    public override bool SupportsClaimInAppend => _writer is not null;

    /// <inheritdoc />
    /// <remarks>The one writer connection runs the groups in order inside one transaction (<see cref="SqliteWriter.Append"/>).</remarks>
    public override bool SupportsGroupDependencies => _writer is not null;

    /// <inheritdoc />
    /// <remarks>As <see cref="AppendCoreAsync"/>: on the calling thread, one write transaction (<see cref="SqliteWriter.AppendClaiming"/>).</remarks>
    protected override Task<ClaimingAppendResult> AppendClaimingCoreAsync(IReadOnlyList<AppendGroup> groups, CancellationToken cancellationToken) =>
        Write(w => w.AppendClaiming(groups, Now(), _claims), cancellationToken);

    /// <inheritdoc />
    protected override Task<IReadOnlyList<LogRecord>> ReadCoreAsync(string componentId, long fromSeq, long toSeq, CancellationToken cancellationToken) =>
        Read<IReadOnlyList<LogRecord>>(r => r.Read(componentId, fromSeq, toSeq), cancellationToken);

    /// <inheritdoc />
    /// <remarks>The returned checkpoint's <see cref="CheckpointRecord.Dedup"/> is empty: dedup entries are looked up with <see cref="LogStoreBase.FindRequestAsync"/>.</remarks>
    protected override Task<CheckpointRecord?> GetCheckpointCoreAsync(string componentId, long atOrBeforeSeq, CancellationToken cancellationToken) =>
        Read(r => r.GetCheckpoint(componentId, atOrBeforeSeq), cancellationToken);

    /// <inheritdoc />
    /// <remarks>One read transaction on one reader connection (<see cref="SqliteReader.ReadForActivation"/>).</remarks>
    protected override Task<ActivationRead> ReadForActivationCoreAsync(string componentId, CancellationToken cancellationToken) =>
        Read(r => r.ReadForActivation(componentId), cancellationToken);

    /// <inheritdoc />
    /// <remarks>The same read transaction also probes the dedup key for <paramref name="requestId"/>.</remarks>
    protected override Task<ActivationRead> ReadForActivationCoreAsync(string componentId, string requestId, CancellationToken cancellationToken) =>
        Read(r => r.ReadForActivation(componentId, requestId), cancellationToken);

    /// <inheritdoc />
    protected override Task<DedupEntry?> FindRequestCoreAsync(string componentId, string requestId, CancellationToken cancellationToken) =>
        Read(r => r.FindRequest(componentId, requestId), cancellationToken);

    /// <inheritdoc />
    protected override Task<IReadOnlyList<DedupEntry>> ListDedupCoreAsync(string componentId, CancellationToken cancellationToken) =>
        Read(r => r.ListDedup(componentId), cancellationToken);

    /// <inheritdoc />
    protected override Task<IReadOnlyList<string>?> ListRequestIdsCoreAsync(string componentId, int limit, CancellationToken cancellationToken) =>
        Read(r => WithinLimit(r.ListRequestIds(componentId, limit), limit), cancellationToken);

    /// <inheritdoc />
    protected override Task<long> TruncateCoreAsync(string componentId, long beforeSeq, CancellationToken cancellationToken) =>
        Write(w => w.Truncate(componentId, beforeSeq), cancellationToken);

    /// <inheritdoc />
    protected override Task<IReadOnlyList<ComponentHead>> ListComponentsCoreAsync(CancellationToken cancellationToken) =>
        Read<IReadOnlyList<ComponentHead>>(r => r.ListComponents(), cancellationToken);

    /// <inheritdoc />
    protected override Task<IReadOnlyList<ComponentHead>> ListInDoubtCoreAsync(CancellationToken cancellationToken) =>
        Read<IReadOnlyList<ComponentHead>>(r => r.ListInDoubt(), cancellationToken);

    /// <inheritdoc />
    protected override Task<SiloEntry> JoinCoreAsync(string siloId, string address, string? httpAddress, long deadAfterMs, CancellationToken cancellationToken) =>
        Write(w => w.Join(siloId, address, httpAddress, deadAfterMs), cancellationToken);

    /// <inheritdoc />
    protected override Task<bool> HeartbeatCoreAsync(string siloId, int activations, CancellationToken cancellationToken) =>
        Write(w => w.Heartbeat(siloId, activations), cancellationToken);

    /// <inheritdoc />
    protected override Task LeaveCoreAsync(string siloId, CancellationToken cancellationToken) => Write(w => w.Leave(siloId), cancellationToken);

    /// <inheritdoc />
    protected override Task<IReadOnlyList<SiloEntry>> ListSilosCoreAsync(CancellationToken cancellationToken) =>
        Write<IReadOnlyList<SiloEntry>>(w => w.ListSilos(), cancellationToken);

    /// <inheritdoc />
    protected override Task<bool> DeclareDeadCoreAsync(string siloId, DateTimeOffset joinedAt, string declaredBy, CancellationToken cancellationToken) =>
        Write(w => w.DeclareDead(siloId, joinedAt.ToUnixTimeMilliseconds(), declaredBy), cancellationToken);

    /// <inheritdoc />
    /// <remarks>
    /// Queued with the claims (<see cref="ClaimCombiner.HandOverAsync"/>): it rides in the next write transaction of this
    /// process, a group commit's or a drain's, and is answered once that committed. Cancellation is honoured only before it is queued.
    /// </remarks>
    protected override Task<bool> HandOverCoreAsync(string componentId, long epoch, string fromSiloId, string? toSiloId, CancellationToken cancellationToken) =>
        _writer is null || _claims is null ? Write(w => w.HandOver(componentId, epoch, fromSiloId, toSiloId), cancellationToken)
        : cancellationToken.IsCancellationRequested ? Task.FromCanceled<bool>(cancellationToken)
        : _claims.HandOverAsync(componentId, epoch, fromSiloId, toSiloId);

    /// <inheritdoc />
    protected override Task<SessionReservation> OpenSessionCoreAsync(string sessionId, int reserve, string? tokenHash, CancellationToken cancellationToken) =>
        Write(w => w.OpenSession(sessionId, reserve, tokenHash), cancellationToken);

    /// <inheritdoc />
    protected override Task<SessionReservation> ReserveSessionCoreAsync(string sessionId, int reserve, CancellationToken cancellationToken) =>
        Write(w => w.ReserveSession(sessionId, reserve), cancellationToken);

    /// <inheritdoc />
    protected override Task<SessionEntry?> GetSessionCoreAsync(string sessionId, CancellationToken cancellationToken) =>
        Read(r => r.GetSession(sessionId), cancellationToken);

    /// <inheritdoc />
    protected override Task<IReadOnlyList<SessionEntry>> ListSessionsCoreAsync(int limit, CancellationToken cancellationToken) =>
        Read<IReadOnlyList<SessionEntry>>(r => r.ListSessions(limit), cancellationToken);

    /// <inheritdoc />
    protected override Task SetSessionItemCoreAsync(string sessionId, string key, string? value, CancellationToken cancellationToken) =>
        Write(w => w.SetSessionItem(sessionId, key, value), cancellationToken);

    /// <inheritdoc />
    protected override Task CloseSessionCoreAsync(string sessionId, CancellationToken cancellationToken) =>
        Write(w => w.CloseSession(sessionId), cancellationToken);

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
        _wal?.Dispose(); // syncs what waits, so its answers are released
        await _readers.DisposeAsync().ConfigureAwait(false);
        _checkpointer?.Dispose(); // before the writer: it removes its hook from the writer connection
        _writer?.Dispose();
        _walFile?.Dispose();
    }

    private long Now() => _options.TimeProvider.GetUtcNow().UtcTicks;

    /// <summary>Runs writer work on the calling thread; its exceptions escape to <see cref="LogStoreBase"/>, which words them.</summary>
    private Task<T> Write<T>(Func<SqliteWriter, T> work, CancellationToken cancellationToken)
    {
        var writer = _writer ?? throw new InvalidOperationException($"The SQLite log store '{_path}' was opened read-only (SqliteStoreOptions.ReadOnly); it cannot write.");
        if (cancellationToken.IsCancellationRequested) return Task.FromCanceled<T>(cancellationToken);
        var result = work(writer);
        _wal?.SyncNow();
        return Task.FromResult(result);
    }

    /// <summary>Runs a read on a reader connection; with the overlapped sync its result waits for a sync that started after it.</summary>
    private Task<T> Read<T>(Func<SqliteReader, T> read, CancellationToken cancellationToken) =>
        _wal is null ? _readers.RunAsync(read, cancellationToken).AsTask() : ReadSynced(read, cancellationToken);

    private async Task<T> ReadSynced<T>(Func<SqliteReader, T> read, CancellationToken cancellationToken)
    {
        var result = await _readers.RunAsync(read, cancellationToken).ConfigureAwait(false);
        return await _wal!.AfterSync(result).ConfigureAwait(false);
    }

    private static StoreUnavailableException CannotOpen(string path, string reason, Exception inner) =>
        new($"Cannot open the SQLite log store '{path}': {reason}. Make sure the directory exists or can be created, that this " +
            "process may write the file and its -wal and -shm companions, and that the path names a file, not a directory.", inner);

    private static SqliteReader OpenReader(string fullPath, SqliteAccess access, TimeSpan busyTimeout)
    {
        var db = SqliteDb.Open(fullPath, access, busyTimeout);
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
