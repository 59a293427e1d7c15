using Microsoft.Data.Sqlite;
using Middleware.Recovery.Log;
using Middleware.Recovery.Sqlite;
using Middleware.Recovery.Storage;
using Middleware.Tests.Support;

namespace Middleware.Tests.Storage;

/// <summary>
/// The SQLite store's WAL checkpoints on their own thread (<see cref="SqliteStoreOptions.WalCheckpointPages"/>): the WAL
/// stays bounded under steady appends and again once a reader that held an old snapshot lets go (while it holds it, its
/// snapshot stays what it was and appends go on), and what was committed but never checkpointed is all there when the
/// files are opened as a killed process leaves them.
/// </summary>
public sealed class SqliteWalCheckpointTests : IDisposable
{
    private const int Pages = 16;
    private const int PageBytes = 4096 + 24; // a WAL frame: a 24-byte header and one page
    private readonly string _dir = Directory.CreateTempSubdirectory("mw-walckpt-").FullName;
    private long _seq;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private string DbPath => Path.Combine(_dir, "log.db");

    private long WalBytes => new FileInfo(DbPath + "-wal").Length;

    [Fact]
    public async Task The_wal_stays_bounded_under_steady_appends_and_every_record_reads_back()
    {
        await using var store = SqliteLogStore.Open(DbPath, new SqliteStoreOptions { WalCheckpointPages = Pages });
        var checkpointer = store.Checkpointer ?? throw new InvalidOperationException("no checkpointer");
        var epoch = await ClaimAsync(store, "C/1");

        long maxWal = 0;
        for (var i = 0; i < 1000; i++)
        {
            await AppendAsync(store, "C/1", epoch, records: 4);
            maxWal = Math.Max(maxWal, WalBytes);
        }

        await WaitForAsync(() => checkpointer.Counts.Restarts > 0, "a restart of the WAL");
        // The limit and what was written while the thread woke and ran its checkpoints, which on a loaded machine may take
        // hundreds of frames (a CI run saw 1,132 at the busy start of the suite; a fast host running this tight loop alone
        // saw up to 1,445, a third of what it wrote): the bound is half of the frames the checkpointer copied (all the test wrote
        // but the last few, about 4,000-5,000), or 16 times the limit if that is more. A WAL that never restarts holds them all.
        var framesCopied = checkpointer.Counts.FramesCopied;
        var bound = Math.Max(16 * checkpointer.LimitPages, framesCopied / 2) * (long)PageBytes + 32;
        Assert.True(framesCopied > 2 * 16 * checkpointer.LimitPages, $"the test wrote too few frames to tell: {checkpointer.Counts}");
        Assert.True(maxWal <= bound, $"the WAL reached {maxWal} bytes, over {bound}; checkpoints {checkpointer.Counts}");
        Assert.True(checkpointer.Counts.FramesCopied > 0, $"no frame was copied by the checkpointer: {checkpointer.Counts}");
        Assert.Null(checkpointer.LastError);

        var records = await store.ReadAsync("C/1", 1, _seq);
        Assert.Equal(_seq, records.Count);
        Assert.Equal(Enumerable.Range(1, (int)_seq).Select(i => (long)i), records.Select(r => r.Seq));
    }

    [Fact]
    public async Task A_reader_holding_an_old_snapshot_keeps_it_and_the_wal_is_bounded_again_once_it_lets_go()
    {
        await using var store = SqliteLogStore.Open(DbPath, new SqliteStoreOptions { WalCheckpointPages = Pages });
        var checkpointer = store.Checkpointer ?? throw new InvalidOperationException("no checkpointer");
        var epoch = await ClaimAsync(store, "C/1");
        await AppendAsync(store, "C/1", epoch, records: 4);

        // Another connection (as another process or a tool would) holds a read transaction open on an early snapshot.
        await using (var reader = new SqliteConnection($"Data Source={DbPath};Mode=ReadOnly;Pooling=False"))
        {
            reader.Open();
            await using var tx = reader.BeginTransaction(deferred: true);
            var held = CountLog(reader, tx);

            for (var i = 0; i < 300; i++) await AppendAsync(store, "C/1", epoch, records: 4);

            // The snapshot is what it was; the WAL had to keep what the reader may still read.
            Assert.Equal(held, CountLog(reader, tx));
            Assert.True(WalBytes > checkpointer.LimitPages * (long)PageBytes, $"the WAL ({WalBytes} bytes) did not grow past the limit while a reader held it");
        }

        // Let go: the next restart succeeds and the file is reused from its start, so it grows no more.
        var restarts = checkpointer.Counts.Restarts;
        for (var i = 0; i < 2000 && checkpointer.Counts.Restarts == restarts; i++) await AppendAsync(store, "C/1", epoch, records: 4);
        await WaitForAsync(() => checkpointer.Counts.Restarts > restarts, "a restart after the reader let go");
        var sizeAfterRestart = WalBytes;
        var copiedBefore = checkpointer.Counts.FramesCopied;
        for (var i = 0; i < 400; i++) await AppendAsync(store, "C/1", epoch, records: 4);
        // The file is reused from its start, so it grows no more, but for the frames a commit loop as tight as this one
        // writes while the checkpointer's thread wakes, syncs and waits for the writer lock (on a fast host up to a few
        // hundred): at most half of the frames written meanwhile (about 2,000), all of which a WAL that never restarted
        // again would add.
        var copied = checkpointer.Counts.FramesCopied - copiedBefore;
        var allowed = sizeAfterRestart + copied / 2 * PageBytes;
        Assert.True(copied > 0, $"no frame was copied after the reader let go: {checkpointer.Counts}");
        Assert.True(WalBytes <= allowed, $"the WAL grew from {sizeAfterRestart} to {WalBytes} bytes after the reader let go and the WAL restarted, over {allowed} ({copied} frames copied meanwhile)");
        Assert.Equal(_seq, (await store.ReadAsync("C/1", 1, _seq)).Count);
    }

    [Fact]
    public async Task Commits_never_checkpointed_are_all_there_when_the_files_are_opened_as_a_killed_process_leaves_them()
    {
        // A threshold never reached: no checkpoint runs, every committed frame is only in the WAL.
        var store = SqliteLogStore.Open(DbPath, new SqliteStoreOptions { WalCheckpointPages = 1_000_000 });
        try
        {
            var epoch = await ClaimAsync(store, "C/1");
            var checkpoint = new CheckpointRecord(0, epoch, "{\"Balance\":7}"u8.ToArray(), "h")
            {
                Dedup = [new DedupEntry("req-b", 2, 22, "2"u8.ToArray()), new DedupEntry("req-a", 1, 11, "1"u8.ToArray())],
            };
            for (var i = 0; i < 50; i++) await AppendAsync(store, "C/1", epoch, records: 4);
            Assert.Equal([AppendStatus.Ok], await store.AppendAsync([new AppendGroup("C/1", epoch, [], checkpoint with { Seq = _seq })]));
            Assert.Equal(0, store.Checkpointer!.Counts.Checkpoints);

            // What a SIGKILL leaves: the database file and the WAL as they are now (the page cache survives the process);
            // no checkpoint at close, no -shm (rebuilt from the WAL by the next opener).
            var copy = Directory.CreateDirectory(Path.Combine(_dir, "killed")).FullName;
            File.Copy(DbPath, Path.Combine(copy, "log.db"));
            File.Copy(DbPath + "-wal", Path.Combine(copy, "log.db-wal"));
            Assert.True(new FileInfo(Path.Combine(copy, "log.db-wal")).Length > 0);

            await using var reopened = SqliteLogStore.Open(Path.Combine(copy, "log.db"));
            Assert.Equal(_seq, (await reopened.GetHeadAsync("C/1"))!.LastSeq);
            Assert.Equal(_seq, (await reopened.ReadAsync("C/1", 1, _seq)).Count);
            var found = await reopened.FindRequestAsync("C/1", "req-a");
            Assert.NotNull(found);
            Assert.Equal((1L, 11L, "1"), (found.Seq, found.ArgsHash, System.Text.Encoding.UTF8.GetString(found.Reply.Span)));
            Assert.Equal(["req-a", "req-b"], (await reopened.ListDedupAsync("C/1")).Select(d => d.RequestId));
            Assert.Equal(_seq, (await reopened.GetCheckpointAsync("C/1", long.MaxValue))!.Seq);
        }
        finally
        {
            await store.DisposeAsync();
        }
    }

    [Fact]
    public async Task Zero_keeps_sqlite_s_own_checkpoints_and_no_thread()
    {
        await using var store = SqliteLogStore.Open(DbPath, new SqliteStoreOptions { WalCheckpointPages = 0 });
        Assert.Null(store.Checkpointer);
        var epoch = await ClaimAsync(store, "C/1");
        for (var i = 0; i < 20; i++) await AppendAsync(store, "C/1", epoch, records: 4);
        Assert.Equal(_seq, (await store.ReadAsync("C/1", 1, _seq)).Count);
    }

    private static async Task<long> ClaimAsync(ILogStore store, string id) =>
        (await store.ClaimAsync(new ClaimRequest(id, 0, "me", ClaimMode.EpochOnly))).Claimed!.Epoch;

    /// <summary>Appends <paramref name="records"/> records of 1 KiB each (about a page each in the WAL) in one transaction.</summary>
    private async Task AppendAsync(ILogStore store, string id, long epoch, int records)
    {
        var list = new List<LogRecord>();
        for (var i = 0; i < records; i++) list.Add(new LogRecord(++_seq, epoch, RecordKind.Turn, new byte[1024]));
        Assert.Equal([AppendStatus.Ok], await store.AppendAsync([new AppendGroup(id, epoch, list)]));
    }

    private static long CountLog(SqliteConnection connection, SqliteTransaction tx)
    {
        using var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = "SELECT count(*) FROM log";
        return (long)command.ExecuteScalar()!;
    }

    private static async Task WaitForAsync(Func<bool> condition, string what)
    {
        await Eventually.TrueAsync(condition, what);
    }
}
