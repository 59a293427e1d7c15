using System.Text;
using Bank;
using Microsoft.Data.Sqlite;
using Middleware.Recovery.Log;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Sqlite;
using Middleware.Recovery.Storage;
using Middleware.Tests.Support;

namespace Middleware.Tests.Storage;

/// <summary>
/// The SQLite store with <see cref="SqliteStoreOptions.OverlapWalSync"/>, whose WAL sync is replaced by a gate the test
/// opens sync by sync: an append's statuses, a read's result and a turn's reply are released only by a sync that started
/// after their transaction ended, in order; a failed sync fails what waits and everything after it.
/// </summary>
public sealed class SqliteOverlappedSyncTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mw-overlap-").FullName;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private string DbPath => Path.Combine(_dir, "log.db");

    private static SqliteStoreOptions Overlapped => new() { OverlapWalSync = true };

    [Fact]
    public async Task An_append_is_released_only_by_a_sync_that_started_after_its_commit()
    {
        var gate = new SyncGate();
        await using var store = SqliteLogStore.Open(DbPath, Overlapped, gate.Sync);
        gate.Allow(); // the claim's own sync (a claim syncs on its caller's thread before it answers)
        var epoch = (await store.ClaimAsync(new ClaimRequest("C/1", 0, "me", ClaimMode.EpochOnly))).Claimed!.Epoch;
        Assert.Equal(1, gate.Started);

        var first = store.AppendAsync([Group("C/1", epoch, 1)]);
        await gate.WaitStartedAsync(2); // the sync covering the first append is running (held at the gate)
        Assert.False(first.IsCompleted, "the first append's status was released before its sync completed");

        // Committed while that sync runs: that sync started before this commit, so it must not release it.
        var second = store.AppendAsync([Group("C/1", epoch, 2)]);
        var head = store.GetHeadAsync("C/1"); // sees seq 2, which is not durable yet
        Assert.False(second.IsCompleted);

        gate.Allow();
        Assert.Equal([AppendStatus.Ok], await first);
        await gate.WaitStartedAsync(3); // the next sync has begun and is held
        Assert.False(second.IsCompleted, "the second append was released by a sync that started before its commit");
        Assert.False(head.IsCompleted, "a read of a record not yet synced was answered before a sync covered it");

        gate.Allow();
        Assert.Equal([AppendStatus.Ok], await second);
        Assert.Equal(2, (await head)!.LastSeq);
    }

    [Fact]
    public async Task A_failed_sync_fails_what_waits_and_every_later_write_and_read()
    {
        var gate = new SyncGate();
        await using var store = SqliteLogStore.Open(DbPath, Overlapped, gate.Sync);
        gate.Allow();
        var epoch = (await store.ClaimAsync(new ClaimRequest("C/1", 0, "me", ClaimMode.EpochOnly))).Claimed!.Epoch;

        gate.FailNext = true;
        var append = store.AppendAsync([Group("C/1", epoch, 1)]);
        gate.Allow();
        var failed = await Assert.ThrowsAsync<StoreUnavailableException>(() => append);
        Assert.Contains("syncing the WAL to disk failed", failed.Message);

        // No later answer: a sync after a failed one proves nothing about the pages the failure may have dropped.
        gate.Allow(10);
        await Assert.ThrowsAsync<StoreUnavailableException>(() => store.AppendAsync([Group("C/1", epoch, 2)]));
        await Assert.ThrowsAsync<StoreUnavailableException>(() => store.GetHeadAsync("C/1"));
        await Assert.ThrowsAsync<StoreUnavailableException>(() => store.ClaimAsync(new ClaimRequest("C/2", 0, "me", ClaimMode.EpochOnly)));
    }

    [Fact]
    public async Task A_turn_reply_waits_for_the_sync_and_a_duplicate_of_it_too()
    {
        var gate = new SyncGate { Held = false };
        await using (var store = SqliteLogStore.Open(DbPath, Overlapped, gate.Sync))
        await using (var runtime = new LocalRuntime(store, new ComponentRegistry().Add<IAccount, Account>()))
        {
            Assert.Equal(5, await runtime.Call<IAccount>("a", "r:1").Deposit(5));

            gate.Held = true;
            var reply = runtime.Call<IAccount>("a", "r:2").Deposit(7);
            await WaitCommittedAsync(2); // another connection sees the record: it is committed, its sync is held
            var duplicate = runtime.Call<IAccount>("a", "r:2").Deposit(7);
            Assert.False(reply.IsCompleted, "a turn's reply left before the sync that covers its record");
            Assert.False(duplicate.IsCompleted, "a duplicate was answered before the original's record was synced");
            gate.Held = false;
            gate.Allow(100);
            Assert.Equal(12, await reply);
            Assert.Equal(12, await duplicate);
        }

        await using var reopened = SqliteLogStore.Open(DbPath);
        Assert.Equal(2, (await reopened.ListComponentsAsync()).Single().LastSeq);
    }

    /// <summary>Waits until a plain SQLite connection (not the store's) sees the only component's head at <paramref name="seq"/>.</summary>
    private async Task WaitCommittedAsync(long seq)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            await using (var connection = new SqliteConnection($"Data Source={DbPath};Pooling=False"))
            {
                connection.Open();
                using var query = connection.CreateCommand();
                query.CommandText = "SELECT coalesce(max(last_seq), 0) FROM heads";
                if ((long)query.ExecuteScalar()! >= seq) return;
            }

            await Task.Delay(5, timeout.Token);
        }
    }

    [Fact]
    public async Task The_setting_is_read_from_the_environment_and_a_wrong_value_names_the_accepted_ones()
    {
        var before = Environment.GetEnvironmentVariable(SqliteStoreOptions.OverlapWalSyncVariable);
        try
        {
            Environment.SetEnvironmentVariable(SqliteStoreOptions.OverlapWalSyncVariable, "yes");
            var wrong = Assert.Throws<ArgumentException>(() => SqliteStoreOptions.OverlapWalSyncFromEnvironment());
            Assert.Contains("use 1 (or true)", wrong.Message);
            Environment.SetEnvironmentVariable(SqliteStoreOptions.OverlapWalSyncVariable, "1");
            Assert.True(SqliteStoreOptions.OverlapWalSyncFromEnvironment());
        }
        finally
        {
            Environment.SetEnvironmentVariable(SqliteStoreOptions.OverlapWalSyncVariable, before);
        }

        // And the real fdatasync path: an append survives a reopen, and the store says it overlaps two batches or more.
        await using (var store = SqliteLogStore.Open(DbPath, Overlapped))
        {
            Assert.True(store.MaxConcurrentAppends > 1);
            var epoch = (await store.ClaimAsync(new ClaimRequest("C/1", 0, "me", ClaimMode.EpochOnly))).Claimed!.Epoch;
            Assert.Equal([AppendStatus.Ok], await store.AppendAsync([Group("C/1", epoch, 1)]));
            Assert.True(store.WalSyncs >= 1);
        }

        await using var reopened = SqliteLogStore.Open(DbPath);
        Assert.Equal(1, (await reopened.GetHeadAsync("C/1"))!.LastSeq);
    }

    private static AppendGroup Group(string id, long epoch, long seq) =>
        new(id, epoch, [new LogRecord(seq, epoch, RecordKind.Turn, Encoding.UTF8.GetBytes($"{id} {seq}"))]);

    /// <summary>A fake WAL sync: each call counts as started, then (while held) waits for a permit; it throws once when told to.</summary>
    private sealed class SyncGate
    {
        private readonly SemaphoreSlim _permits = new(0);
        private int _started;

        public int Started => Volatile.Read(ref _started);

        public volatile bool FailNext;

        /// <summary>True (the default): a sync waits for a permit; false: it passes at once.</summary>
        public volatile bool Held = true;

        public void Sync()
        {
            Interlocked.Increment(ref _started);
            if (Held) _permits.Wait();
            if (FailNext)
            {
                FailNext = false;
                throw new IOException("injected: fdatasync failed (EIO)");
            }
        }

        public void Allow(int permits = 1) => _permits.Release(permits);

        public Task WaitStartedAsync(int count) => Eventually.TrueAsync(() => Started >= count, $"{count} syncs to start");
    }
}

/// <summary>The SQLite store with the overlapped WAL sync, for the storage contracts.</summary>
public sealed class SqliteOverlappedStores : StoreFactory
{
    private readonly SqliteStores _files = new();

    public override bool CanReopen => true;

    public override bool IsSharedAcrossProcesses => true;

    public override Task<ILogStore> CreateStoreAsync() => OpenStoreAsync();

    public override Task<ILogStore> OpenStoreAsync() =>
        Task.FromResult<ILogStore>(SqliteLogStore.Open(_files.DbPath, new SqliteStoreOptions { OverlapWalSync = true }));

    public override Task CleanupAsync() => _files.CleanupAsync();
}

/// <summary>The storage contract against SQLite with the overlapped WAL sync.</summary>
public sealed class SqliteOverlappedLogStoreContractTests : LogStoreContract<SqliteOverlappedStores>;

/// <summary>The cluster contract against SQLite with the overlapped WAL sync.</summary>
public sealed class SqliteOverlappedClusterStoreContractTests : ClusterStoreContract<SqliteOverlappedStores>;
