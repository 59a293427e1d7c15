namespace Middleware.Recovery.Sqlite;

/// <summary>Settings of a <see cref="SqliteLogStore"/>. The defaults suit one process writing one file.</summary>
public sealed class SqliteStoreOptions
{
    /// <summary>
    /// How long a statement waits for another connection's lock (another process on the same file, or a WAL
    /// checkpoint) before the operation fails with a <see cref="Storage.StoreUnavailableException"/>. Default 5 seconds.
    /// </summary>
    public TimeSpan BusyTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The most reader connections open at once; reads beyond that wait for a free one. Default 4.</summary>
    public int ReaderConnections { get; init; } = 4;

    /// <summary>
    /// Open for reading only (tools that inspect a store): every connection is SQLITE_OPEN_READONLY, a missing file or
    /// directory is not created, the schema is checked but never created or upgraded (a missing, empty or older store is
    /// refused), the journal mode is left as it is, and every write operation throws <see cref="InvalidOperationException"/>.
    /// Default false: the store creates the file and brings its schema up to date.
    /// </summary>
    public bool ReadOnly { get; init; }

    /// <summary>
    /// The page cache of the writer connection, in MiB (SQLite's own default is 2). The writer is the one thread every
    /// claim and append goes through; with many components its probes of the id index and the heads table miss a small
    /// cache and go to the file on every transaction (reader connections lose their cache whenever the file changed, so
    /// only the writer's is kept warm). A million components need about 55 MiB of those pages (heads about 22, the id
    /// index about 31): with 32 MiB, a warm turn on a random one of them read one page from the file (bench/README.md,
    /// "Warm at a million live components (session 13)"). Filled only as pages are touched, so a store with few components
    /// uses what it touches. Default 128; 0 (or less) leaves SQLite's default.
    /// </summary>
    public int WriterCacheMiB { get; init; } = 128;

    /// <summary>
    /// Overlap the WAL's fsync with the next commit (Linux only): the writer commits with <c>synchronous=NORMAL</c> and a
    /// second thread fsyncs the <c>-wal</c> file; an append's replies, a claim's answer and every read's result are released
    /// only after a sync that started after their transaction ended, so an acknowledged turn is as durable as with the
    /// default (<c>synchronous=FULL</c>, one fsync inside every commit). The local engine's turns per second then stop being
    /// bound by commit plus fsync in series (bench/README.md, "Overlapped WAL sync"). Reads wait for a sync (at most one
    /// fsync more), and claims no longer ride in an append's transaction. Every process that opens the same file must use
    /// the same setting (a process without it may answer from another's record before that record's sync). Default: the
    /// environment variable <see cref="OverlapWalSyncVariable"/> (<c>1</c>/<c>true</c> or <c>0</c>/<c>false</c>), else false.
    /// </summary>
    public bool OverlapWalSync { get; init; } = OverlapWalSyncFromEnvironment();

    /// <summary>The environment variable that sets <see cref="OverlapWalSync"/>'s default.</summary>
    public const string OverlapWalSyncVariable = "MIDDLEWARE_SQLITE_OVERLAP_SYNC";

    /// <summary><see cref="OverlapWalSyncVariable"/> read; a value other than 1, 0, true, false (or empty) is refused naming them.</summary>
    internal static bool OverlapWalSyncFromEnvironment() =>
        Environment.GetEnvironmentVariable(OverlapWalSyncVariable)?.Trim().ToLowerInvariant() switch
        {
            null or "" or "0" or "false" => false,
            "1" or "true" => true,
            var other => throw new ArgumentException(
                $"{OverlapWalSyncVariable}='{other}' is not a setting: use 1 (or true) to overlap the SQLite store's WAL sync with the next commit, 0 (or false, or unset) for a sync inside every commit."),
        };

    /// <summary>
    /// WAL checkpoints off the writer thread: every this many pages written to the WAL, a thread of the store
    /// (<c>wal-checkpoint</c>, its own connection) copies them into the database file with a PASSIVE checkpoint, which
    /// takes no lock the writer waits for; once the WAL holds four times as many pages, that thread briefly takes the
    /// writer lock to let the WAL start again from its beginning (so the file stays bounded under steady load). SQLite's
    /// own automatic checkpoint is off on the writer connection: it ran inside the COMMIT that crossed 1000 pages, on the
    /// one thread every append goes through, copying and fsyncing there. Default 1000 (SQLite's threshold). 0 (or less)
    /// keeps SQLite's automatic checkpoint on the writer thread, as before session 11.
    /// </summary>
    public int WalCheckpointPages { get; init; } = 1000;

    /// <summary>The clock that stamps committed_at, created_at and claimed_at. Default: the system clock.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}
