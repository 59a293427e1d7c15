using Middleware.Recovery.Storage;

namespace Middleware.Recovery.TestKit;

/// <summary>The virtual sessions of <see cref="IClusterStore"/>: reservations of request numbers, opens, items, closing.</summary>
public abstract partial class ClusterStoreContract<TStores>
{
    [StoreFact]
    public async Task A_new_session_reserves_from_one_and_each_resume_continues_above()
    {
        var created = await Cluster.OpenSessionAsync(null, 10);
        var id = created.Session.SessionId;
        Assert.Matches("^[0-9a-f]{32}$", id);
        Assert.Equal((1L, 10L), (created.First, created.Last));
        Assert.Equal((SessionStatus.Open, 10L, 1), (created.Session.Status, created.Session.Reserved, created.Session.Opens));
        Assert.InRange(created.Session.CreatedAt, ExpectedNow - TimeSpan.FromMinutes(1), ExpectedNow + TimeSpan.FromMinutes(1));
        Assert.Empty(created.Session.Items);

        await PassAsync(TimeSpan.FromMilliseconds(20));
        var resumed = await Cluster.OpenSessionAsync(id, 5);
        Assert.Equal((11L, 15L), (resumed.First, resumed.Last));
        Assert.Equal((15L, 2, created.Session.CreatedAt), (resumed.Session.Reserved, resumed.Session.Opens, resumed.Session.CreatedAt));
        Assert.True(resumed.Session.LastOpenedAt > created.Session.LastOpenedAt);
        Assert.Equal(resumed.Session with { Items = null! }, (await Cluster.GetSessionAsync(id))! with { Items = null! });

        // A client may choose the id of a new session.
        var chosen = await Cluster.OpenSessionAsync("client-chosen-1", 3);
        Assert.Equal(("client-chosen-1", 1L, 3L, 1), (chosen.Session.SessionId, chosen.First, chosen.Last, chosen.Session.Opens));
        Assert.Null(await Cluster.GetSessionAsync("never-opened"));
    }

    [StoreFact]
    public async Task A_session_keeps_the_token_hash_it_was_created_with_and_a_resume_does_not_change_it()
    {
        var hash = new string('a', 32) + new string('0', 32);
        var created = await Cluster.OpenSessionAsync("tokened", 3, hash);
        Assert.Equal(hash, created.Session.TokenHash);
        var resumed = await Cluster.OpenSessionAsync("tokened", 3, new string('b', 64));
        Assert.Equal((hash, 4L), (resumed.Session.TokenHash, resumed.First));
        Assert.Equal(hash, (await Cluster.GetSessionAsync("tokened"))!.TokenHash);
        Assert.Equal(hash, Assert.Single(await Cluster.ListSessionsAsync(), s => s.SessionId == "tokened").TokenHash);
        Assert.Equal(hash, (await Cluster.ReserveSessionAsync("tokened", 2)).Session.TokenHash);

        // No hash: a session without one (as every session was before schema version 4).
        Assert.Null((await Cluster.OpenSessionAsync("untokened", 1)).Session.TokenHash);
        Assert.Null((await Cluster.GetSessionAsync("untokened"))!.TokenHash);
        await Assert.ThrowsAsync<ArgumentException>(() => Cluster.OpenSessionAsync("bad-hash", 1, "the-token-itself"));
        Assert.Null(await Cluster.GetSessionAsync("bad-hash"));
    }

    [StoreFact]
    public async Task Concurrent_opens_of_one_session_get_disjoint_contiguous_ranges()
    {
        var other = await OtherAsync();
        var first = await Cluster.OpenSessionAsync("busy", 3);
        var results = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => Task.Run(() => (i % 2 == 0 ? Cluster : other).OpenSessionAsync("busy", 7))));

        var numbers = results.SelectMany(r => LongRange(r.First, r.Last)).Order().ToList();
        Assert.All(results, r => Assert.Equal(6, r.Last - r.First));
        Assert.Equal(LongRange(4, 143), numbers); // no overlap, no gap, all above the first reservation
        Assert.Equal((1L, 3L), (first.First, first.Last));
        var stored = await Cluster.GetSessionAsync("busy");
        Assert.Equal((143L, 21), (stored!.Reserved, stored.Opens));
    }

    [StoreFact]
    public async Task A_closed_session_is_never_reopened()
    {
        var opened = await Cluster.OpenSessionAsync("done", 4);
        await Cluster.CloseSessionAsync("done");
        await Cluster.CloseSessionAsync("done"); // closing twice is harmless

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => Cluster.OpenSessionAsync("done", 1));
        Assert.Contains("'done'", error.Message);
        Assert.Contains("is closed", error.Message);
        Assert.Contains("new session", error.Message);
        var stored = await Cluster.GetSessionAsync("done");
        Assert.Equal((SessionStatus.Closed, 4L, 1), (stored!.Status, stored.Reserved, stored.Opens));
        Assert.Equal(opened.Session.LastOpenedAt, stored.LastOpenedAt);

        var unknown = await Assert.ThrowsAsync<KeyNotFoundException>(() => Cluster.CloseSessionAsync("never-opened"));
        Assert.Contains("never-opened", unknown.Message);
    }

    [StoreFact]
    public async Task Session_ids_and_reservations_outside_the_rules_are_refused()
    {
        foreach (var reserve in new[] { 0, -1, ClusterRules.MaxReserve + 1 })
            await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Cluster.OpenSessionAsync("s", reserve));
        Assert.Equal(1_000_000L, (await Cluster.OpenSessionAsync("big", 1_000_000)).Last);

        var colon = await Assert.ThrowsAsync<ArgumentException>(() => Cluster.OpenSessionAsync("user:1", 1));
        Assert.Contains("must not contain ':'", colon.Message);
        var empty = await Assert.ThrowsAsync<ArgumentException>(() => Cluster.OpenSessionAsync("", 1));
        Assert.Contains("non-empty", empty.Message);
        Assert.Null(await Cluster.GetSessionAsync("s"));
    }

    [StoreFact]
    public async Task Session_items_are_set_replaced_removed_and_returned_with_the_session()
    {
        await Cluster.OpenSessionAsync("s-1", 1);
        await Cluster.SetSessionItemAsync("s-1", "user", "ann");
        await Cluster.SetSessionItemAsync("s-1", "tenant", "acme");
        await Cluster.SetSessionItemAsync("s-1", "user", "bob");
        await Cluster.SetSessionItemAsync("s-1", "tenant", null);
        await Cluster.SetSessionItemAsync("s-1", "absent", null); // removing what is not there is harmless

        Assert.Equal(new Dictionary<string, string> { ["user"] = "bob" }, (await Cluster.GetSessionAsync("s-1"))!.Items);
        await Cluster.SetSessionItemAsync("s-1", "lang", "fr");
        var resumed = await Cluster.OpenSessionAsync("s-1", 1);
        Assert.Equal(new Dictionary<string, string> { ["lang"] = "fr", ["user"] = "bob" }, resumed.Session.Items);

        var error = await Assert.ThrowsAsync<KeyNotFoundException>(() => Cluster.SetSessionItemAsync("s-unknown", "user", "x"));
        Assert.Contains("s-unknown", error.Message);
        Assert.Null(await Cluster.GetSessionAsync("s-unknown"));
    }

    [StoreFact]
    public async Task Sessions_are_listed_latest_opened_first_up_to_the_limit()
    {
        await Cluster.OpenSessionAsync("s-1", 1);
        await PassAsync(TimeSpan.FromMilliseconds(20));
        await Cluster.OpenSessionAsync("s-2", 1);
        await PassAsync(TimeSpan.FromMilliseconds(20));
        await Cluster.OpenSessionAsync("s-3", 1);
        await Cluster.SetSessionItemAsync("s-3", "k", "v");
        await PassAsync(TimeSpan.FromMilliseconds(20));
        await Cluster.OpenSessionAsync("s-1", 1);

        var all = await Cluster.ListSessionsAsync();
        Assert.Equal(["s-1", "s-3", "s-2"], all.Select(s => s.SessionId));
        Assert.Equal((2L, 2), (all[0].Reserved, all[0].Opens));
        Assert.Equal("v", all[1].Items["k"]);
        Assert.Equal(["s-1", "s-3"], (await Cluster.ListSessionsAsync(limit: 2)).Select(s => s.SessionId));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Cluster.ListSessionsAsync(limit: 0));
    }

    [StoreFact]
    public async Task Further_blocks_of_an_open_session_continue_its_numbers_without_counting_as_opens()
    {
        var opened = await Cluster.OpenSessionAsync("s-1", 10);
        await PassAsync(TimeSpan.FromMilliseconds(20));
        var more = await Cluster.ReserveSessionAsync("s-1", 20);
        Assert.Equal((11L, 30L), (more.First, more.Last));
        Assert.Equal((30L, 1, opened.Session.LastOpenedAt), (more.Session.Reserved, more.Session.Opens, more.Session.LastOpenedAt));
        Assert.Equal((31L, 35L), ((await Cluster.ReserveSessionAsync("s-1", 5)).First, (await Cluster.GetSessionAsync("s-1"))!.Reserved));

        // A resume is an open again, and every kind of reservation stays disjoint from the others, across instances.
        var other = await OtherAsync();
        var results = await Task.WhenAll(Enumerable.Range(0, 12).Select(i => Task.Run(() => i % 3 == 0
            ? (i % 2 == 0 ? Cluster : other).OpenSessionAsync("s-1", 4)
            : (i % 2 == 0 ? Cluster : other).ReserveSessionAsync("s-1", 4))));
        Assert.Equal(LongRange(36, 83), results.SelectMany(r => LongRange(r.First, r.Last)).Order().ToList());
        var stored = await Cluster.GetSessionAsync("s-1");
        Assert.Equal((83L, 1 + 4), (stored!.Reserved, stored.Opens));

        var unknown = await Assert.ThrowsAsync<KeyNotFoundException>(() => Cluster.ReserveSessionAsync("never-opened", 5));
        Assert.Contains("open it first", unknown.Message);
        Assert.Null(await Cluster.GetSessionAsync("never-opened"));
        await Cluster.CloseSessionAsync("s-1");
        Assert.Contains("is closed", (await Assert.ThrowsAsync<InvalidOperationException>(() => Cluster.ReserveSessionAsync("s-1", 5))).Message);
        Assert.Equal(83L, (await Cluster.GetSessionAsync("s-1"))!.Reserved);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Cluster.ReserveSessionAsync("s-1", 0));
        await Assert.ThrowsAsync<ArgumentException>(() => Cluster.ReserveSessionAsync("a:b", 1));
    }

    private static List<long> LongRange(long from, long toInclusive) =>
        Enumerable.Range(0, (int)(toInclusive - from + 1)).Select(i => from + i).ToList();
}
