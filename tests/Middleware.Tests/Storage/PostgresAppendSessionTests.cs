using System.Text;
using Middleware.Recovery.Log;
using Middleware.Recovery.Postgres;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;
using Middleware.Tests.Support;
using Npgsql;

namespace Middleware.Tests.Storage;

/// <summary>
/// Which server sessions run the appends, as a DBA sees it in <c>pg_stat_activity</c>: appends one after another run on one
/// session, kept open for them, however many connections the pool opened for reads and claims. Taken from the pool, the
/// appends went round every session the pool held (here 20 of 20; ~30 in the deposit benchmark), each with cold caches and
/// its first executions parsed and planned anew (bench/README.md, "PostgreSQL at 64 in flight
/// (session 13)"). A session the server ends costs at most the append that was on it. Under load the group-commit writer
/// keeps at most two appends in flight (one sent while the other waits for its flush), so 64 callers' records go in few,
/// large commits rather than many small ones ("PostgreSQL at 64 in flight (session 14)").
/// </summary>
[RequiresPostgres]
public sealed class PostgresAppendSessionTests
{
    private const string AppendStatement = "WITH g AS MATERIALIZED%";

    [StoreFact]
    public async Task Appends_one_after_another_run_on_one_server_session_not_round_the_pool()
    {
        var server = await PostgresServer.GetAsync();
        var database = await server.CreateDatabaseAsync();
        await using var source = NpgsqlDataSource.Create(database);
        await using var store = await PostgresLogStore.OpenAsync(source);
        var ids = Enumerable.Range(0, 40).Select(i => $"Session/{i:D2}").ToArray();
        var epochs = new Dictionary<string, long>();
        foreach (var id in ids) epochs[id] = (await store.ClaimAsync(new ClaimRequest(id, 0, "silo", ClaimMode.EpochOnly))).Claimed!.Epoch;

        // The pool holds twenty idle connections, as after a burst of activations' reads and claims.
        var opened = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => source.OpenConnectionAsync().AsTask()));
        foreach (var connection in opened) await connection.DisposeAsync();

        foreach (var id in ids) Assert.Equal(AppendStatus.Ok, (await store.AppendAsync([Group(id, epochs[id], 1)]))[0]);

        var sessions = Convert.ToInt64(await PostgresServer.ExecuteAsync(database,
            $"SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE '{AppendStatement}'"));
        Assert.True(sessions == 1, $"{ids.Length} appends one after another ran on {sessions} server sessions; expected one, kept for appends");
    }

    [StoreFact]
    public async Task An_append_session_the_server_ends_costs_at_most_the_append_on_it()
    {
        var server = await PostgresServer.GetAsync();
        var database = await server.CreateDatabaseAsync();
        await using var store = await PostgresLogStore.OpenAsync(database);
        const string Id = "Session/ended";
        var epoch = (await store.ClaimAsync(new ClaimRequest(Id, 0, "silo", ClaimMode.EpochOnly))).Claimed!.Epoch;
        Assert.Equal(AppendStatus.Ok, (await store.AppendAsync([Group(Id, epoch, 1)]))[0]);

        var ended = await PostgresServer.ExecuteAsync(database,
            $"SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE '{AppendStatement}') t");
        Assert.Equal(1L, Convert.ToInt64(ended));

        // The kept session is gone: the next append may fail (it never reached the server), the one after it must not.
        var failures = 0;
        try
        {
            Assert.Equal(AppendStatus.Ok, (await store.AppendAsync([Group(Id, epoch, 2)]))[0]);
        }
        catch (StoreUnavailableException)
        {
            failures++;
            Assert.Equal(AppendStatus.Ok, (await store.AppendAsync([Group(Id, epoch, 2)]))[0]);
        }

        Assert.Equal(AppendStatus.Ok, (await store.AppendAsync([Group(Id, epoch, 3)]))[0]);
        var records = await store.ReadAsync(Id, 1, long.MaxValue);
        Assert.Equal([1L, 2L, 3L], records.Select(r => r.Seq));
        Assert.InRange(failures, 0, 1);
    }

    [StoreFact]
    public async Task Sixty_four_callers_through_the_group_commit_writer_keep_at_most_two_appends_in_flight()
    {
        var server = await PostgresServer.GetAsync();
        var database = await server.CreateDatabaseAsync();
        await using var store = await PostgresLogStore.OpenAsync(database);
        Assert.Equal(2, store.MaxConcurrentAppends);
        const int Callers = 64, Turns = 40;
        var ids = Enumerable.Range(0, Callers).Select(i => $"Caller/{i:D2}").ToArray();
        var epochs = new long[Callers];
        for (var i = 0; i < Callers; i++) epochs[i] = (await store.ClaimAsync(new ClaimRequest(ids[i], 0, "silo", ClaimMode.EpochOnly))).Claimed!.Epoch;

        string commits;
        await using (var writer = new GroupCommitWriter(store, maxBatch: 1024))
        {
            // Each caller waits for its record to be durable before it sends the next, as a client with one request in flight.
            await Task.WhenAll(Enumerable.Range(0, Callers).Select(c => Task.Run(async () =>
            {
                for (var seq = 1L; seq <= Turns; seq++)
                    Assert.Equal(AppendStatus.Ok, await writer.Enqueue(ids[c], epochs[c], new LogRecord(seq, epochs[c], RecordKind.Turn, Encoding.UTF8.GetBytes($"{c}:{seq}"))));
            })));
            commits = $"{writer.Records} records in {writer.Batches} commits";
        }

        // Every append runs on a connection of its own (a kept one, or one opened when none is free), and a session keeps
        // its last statement in pg_stat_activity after it went back to the pool: a third append in flight shows as a third session.
        var sessions = Convert.ToInt64(await PostgresServer.ExecuteAsync(database,
            $"SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE '{AppendStatement}'"));
        Assert.True(sessions is >= 1 and <= 2, $"the appends of 64 callers ran on {sessions} server sessions ({commits}); expected at most two");
        foreach (var id in ids) Assert.Equal(Turns, (await store.GetHeadAsync(id))!.LastSeq);
    }

    private static AppendGroup Group(string id, long epoch, long seq) =>
        new(id, epoch, [new LogRecord(seq, epoch, RecordKind.Turn, Encoding.UTF8.GetBytes($"{id}:{seq}"))]);
}
