using System.Text.Json;
using Bank;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Recovery.Log;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Sqlite;
using Middleware.Recovery.Storage;
using Middleware.Tests.Support;

namespace Middleware.Tests.Admin;

/// <summary>
/// The cluster commands in-process on a SQLite store: <c>cluster status</c> and <c>sessions</c> on cluster tables written
/// through <see cref="IClusterStore"/>, read-only <c>outcome</c> on logs written through a <see cref="LocalRuntime"/>
/// (commits, errors, fences, the dedup table after truncation), and <c>checkpoint</c> refusing a live silo's component.
/// </summary>
public sealed class AdminClusterTests : IDisposable
{
    private readonly AdminFixture _fx = new();

    [Fact]
    public async Task Cluster_status_shows_live_dead_and_left_silos_with_what_they_own_and_its_json_shape_is_pinned()
    {
        await using (var store = SqliteLogStore.Open(_fx.Db))
        {
            var cluster = (IClusterStore)store;
            await cluster.JoinAsync("silo-a", "127.0.0.1:1001", "127.0.0.1:2001", TimeSpan.FromMinutes(5));
            await cluster.JoinAsync("silo-b", "127.0.0.1:1002", null, TimeSpan.FromMilliseconds(300));
            await cluster.JoinAsync("silo-c", "127.0.0.1:1003", null, TimeSpan.FromMinutes(5));
            Assert.True(await cluster.HeartbeatAsync("silo-a", 3));
            Assert.NotNull((await cluster.ClaimAsync(new ClaimRequest("Account/x", 0, "silo-a", ClaimMode.RespectLiveSilo))).Claimed);
            Assert.NotNull((await cluster.ClaimAsync(new ClaimRequest("Account/y", 0, "silo-a", ClaimMode.RespectLiveSilo))).Claimed);
            Assert.NotNull((await cluster.ClaimAsync(new ClaimRequest("Account/z", 0, "silo-b", ClaimMode.RespectLiveSilo))).Claimed);
            await cluster.LeaveAsync("silo-c");
            await Eventually.TrueAsync(async () => !(await cluster.ListSilosAsync()).Single(s => s.SiloId == "silo-b").IsLive,
                "the store to list silo-b dead (its 300 ms window passed without a heartbeat)");
        }

        var run = await _fx.MwOnStore("cluster", "status", "--json");
        Assert.Equal(0, run.Code);
        var doc = JsonDocument.Parse(run.Out).RootElement;
        Assert.Equal(["store", "live", "total", "components", "componentsWithoutLiveOwner", "noMirror", "silos", "misplaced"], Names(doc));
        Assert.StartsWith("only one live silo (silo-a)", doc.GetProperty("noMirror").GetString(), StringComparison.Ordinal);
        Assert.Equal(1, doc.GetProperty("live").GetInt32());
        Assert.Equal(3, doc.GetProperty("total").GetInt32());
        Assert.Equal(3, doc.GetProperty("components").GetInt32());
        Assert.Equal(1, doc.GetProperty("componentsWithoutLiveOwner").GetInt32()); // z: its owner is dead
        var silos = doc.GetProperty("silos").EnumerateArray().ToDictionary(s => s.GetProperty("siloId").GetString()!);
        Assert.Equal(["siloId", "address", "httpAddress", "status", "heartbeatAgeSeconds", "deadAfterSeconds", "activations", "componentsOwned", "joinedAt", "mirror", "rendezvousShare", "misplaced"], Names(silos["silo-a"]));
        // The spread: with one live silo, rendezvous places every component there; z's dead owner has no share.
        Assert.Equal(3, silos["silo-a"].GetProperty("rendezvousShare").GetInt32());
        Assert.Equal(0, silos["silo-a"].GetProperty("misplaced").GetInt32());
        Assert.Equal(JsonValueKind.Null, silos["silo-b"].GetProperty("rendezvousShare").ValueKind);
        Assert.Equal(0, doc.GetProperty("misplaced").GetInt32());
        // silo-a is live in the table but no process listens at its addresses: its mirror load is unknown, and says why.
        var load = silos["silo-a"].GetProperty("mirror");
        Assert.Equal(["standbys", "diverged", "maxLagRecords", "maxLagMs", "mirroredComponents", "lastShipLagMs", "error"], Names(load));
        Assert.Equal(JsonValueKind.Null, load.GetProperty("standbys").ValueKind);
        Assert.Contains("$mirror.list", load.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Contains("/metrics at 127.0.0.1:2001", load.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(JsonValueKind.Null, silos["silo-b"].GetProperty("mirror").ValueKind); // not live: not asked
        Assert.Equal("live", silos["silo-a"].GetProperty("status").GetString());
        Assert.Equal("127.0.0.1:1001", silos["silo-a"].GetProperty("address").GetString());
        Assert.Equal("127.0.0.1:2001", silos["silo-a"].GetProperty("httpAddress").GetString());
        Assert.Equal(3, silos["silo-a"].GetProperty("activations").GetInt32());
        Assert.Equal(2, silos["silo-a"].GetProperty("componentsOwned").GetInt32());
        Assert.True(silos["silo-a"].GetProperty("heartbeatAgeSeconds").GetDouble() < 60);
        Assert.Equal(300, silos["silo-a"].GetProperty("deadAfterSeconds").GetDouble());
        Assert.Equal("dead", silos["silo-b"].GetProperty("status").GetString());
        Assert.True(silos["silo-b"].GetProperty("heartbeatAgeSeconds").GetDouble() >= 0.3);
        Assert.Equal(1, silos["silo-b"].GetProperty("componentsOwned").GetInt32());
        Assert.Equal(JsonValueKind.Null, silos["silo-b"].GetProperty("httpAddress").ValueKind);
        Assert.Equal("left", silos["silo-c"].GetProperty("status").GetString());
        Assert.Equal(0, silos["silo-c"].GetProperty("componentsOwned").GetInt32());
        Assert.Equal("silo-a", doc.GetProperty("silos")[0].GetProperty("siloId").GetString()); // live first

        var table = await _fx.MwOnStore("cluster", "status");
        Assert.Equal(0, table.Code);
        Assert.Contains("1 live of 3 silo(s)", table.Out, StringComparison.Ordinal);
        Assert.Contains("│ silo-b ", table.Out, StringComparison.Ordinal);
        Assert.Matches(@"silo-a\s+│ 127\.0\.0\.1:1001 │ live\s+│ \d+\.\d s", table.Out);
        Assert.Contains("no mirror: only one live silo (silo-a)", table.Out, StringComparison.Ordinal);
        Assert.Matches(@"│ silo-a\s+│ -\s+│ -\s+│", table.Out); // its mirror load: unknown
        Assert.Contains("note: silo-a: $mirror.list: ", table.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cluster_status_of_a_store_without_silos_says_so()
    {
        await _fx.WriteBankAsync();
        var run = await _fx.MwOnStore("cluster", "status");
        Assert.Equal(0, run.Code);
        Assert.Equal("0 live of 0 silo(s); 3 component(s), 3 without a live owner, 0 owned away from their rendezvous silo", run.Out.Trim());
    }

    [Fact]
    public async Task Sessions_list_and_show_report_reservations_opens_and_items_and_their_json_shapes_are_pinned()
    {
        string generated;
        await using (var store = SqliteLogStore.Open(_fx.Db))
        {
            var cluster = (IClusterStore)store;
            var first = await cluster.OpenSessionAsync(null, 100);
            generated = first.Session.SessionId;
            await cluster.SetSessionItemAsync(generated, "customer", "ada");
            await cluster.SetSessionItemAsync(generated, "channel", "web");
            await cluster.OpenSessionAsync(generated, 50); // a resume: 150 reserved, opened twice
            await cluster.OpenSessionAsync("named", 10);
            await cluster.CloseSessionAsync("named");
        }

        var list = await _fx.MwOnStore("sessions", "list", "--json");
        Assert.Equal(0, list.Code);
        var doc = JsonDocument.Parse(list.Out).RootElement;
        Assert.Equal(["limit", "sessions"], Names(doc));
        var sessions = doc.GetProperty("sessions").EnumerateArray().ToDictionary(s => s.GetProperty("sessionId").GetString()!);
        Assert.Equal(2, sessions.Count);
        Assert.Equal(["sessionId", "status", "reserved", "opens", "createdAt", "lastOpenedAt", "items"], Names(sessions[generated]));
        Assert.Equal("open", sessions[generated].GetProperty("status").GetString());
        Assert.Equal(150, sessions[generated].GetProperty("reserved").GetInt64());
        Assert.Equal(2, sessions[generated].GetProperty("opens").GetInt32());
        Assert.Equal("closed", sessions["named"].GetProperty("status").GetString());
        Assert.Equal(10, sessions["named"].GetProperty("reserved").GetInt64());

        var limited = JsonDocument.Parse((await _fx.MwOnStore("sessions", "list", "--limit", "1", "--json")).Out).RootElement;
        Assert.Single(limited.GetProperty("sessions").EnumerateArray());

        var show = await _fx.MwOnStore("sessions", "show", generated, "--json");
        Assert.Equal(0, show.Code);
        var one = JsonDocument.Parse(show.Out).RootElement;
        Assert.Equal(["sessionId", "status", "reserved", "opens", "createdAt", "lastOpenedAt", "items"], Names(one));
        Assert.Equal("""{"channel":"web","customer":"ada"}""", JsonSerializer.Serialize(one.GetProperty("items")));
        Assert.True(one.GetProperty("lastOpenedAt").GetDateTime() >= one.GetProperty("createdAt").GetDateTime());

        var table = await _fx.MwOnStore("sessions", "show", generated);
        Assert.Equal(0, table.Code);
        Assert.Contains("│ customer │ ada   │", table.Out, StringComparison.Ordinal);
        Assert.Contains($"2 item(s); request ids {generated}:1 .. {generated}:150 reserved", table.Out, StringComparison.Ordinal);
        var listTable = await _fx.MwOnStore("sessions", "list");
        Assert.Contains("2 session(s)", listTable.Out, StringComparison.Ordinal);
        Assert.Contains("channel=web, customer=ada", listTable.Out, StringComparison.Ordinal);

        AssertOneLineError(await _fx.MwOnStore("sessions", "show", "nobody"), "No session 'nobody'");
        AssertOneLineError(await _fx.MwOnStore("sessions", "show", generated + ":7"), $"is a request id (SESSION:n), not a session id; try mw sessions show {generated}.");
        AssertOneLineError(await _fx.MwOnStore("sessions", "list", "--limit", "0"), "--limit");
        AssertOneLineError(await _fx.MwOnStore("sessions", "show"), "Required argument missing");
    }

    [Fact]
    public async Task Outcome_reads_commits_errors_fences_and_absence_from_the_log_without_writing()
    {
        var account = new ComponentId("Account", "o");
        await _fx.WriteAsync(new ComponentRegistry().Add<IAccount, Account>(), 1000, async rt =>
        {
            Assert.Equal(5, await rt.Call<IAccount>("o", "s1:1").Deposit(5));
            Assert.Equal(12, await rt.Call<IAccount>("o", "s1:2").Deposit(7));
            Assert.False((await rt.GetOutcomeAsync(account, "s1:3", CancellationToken.None)).Committed); // writes a fence
            await Assert.ThrowsAsync<InsufficientFundsException>(() => rt.Call<IAccount>("o", "s1:4").Withdraw(1000));
        });
        var before = await HeadAsync("Account/o");

        var committed = await _fx.MwOnStore("outcome", "s1:2", "--component", "Account/o", "--json");
        Assert.Equal(0, committed.Code);
        var doc = JsonDocument.Parse(committed.Out).RootElement;
        Assert.Equal(["component", "requestId", "outcome", "committed", "source", "seq", "committedAt", "reply", "error", "partialSeq"], Names(doc));
        Assert.Equal("committed", doc.GetProperty("outcome").GetString());
        Assert.True(doc.GetProperty("committed").GetBoolean());
        Assert.Equal("log", doc.GetProperty("source").GetString());
        Assert.Equal(2, doc.GetProperty("seq").GetInt64());
        Assert.Equal(12, doc.GetProperty("reply").GetInt64());
        Assert.Equal(JsonValueKind.Null, doc.GetProperty("error").ValueKind);
        Assert.NotEqual(JsonValueKind.Null, doc.GetProperty("committedAt").ValueKind);

        var error = JsonDocument.Parse((await _fx.MwOnStore("outcome", "s1:4", "--component", "Account/o", "--json")).Out).RootElement;
        Assert.Equal("committed", error.GetProperty("outcome").GetString());
        Assert.Equal("Bank.InsufficientFundsException", error.GetProperty("error").GetProperty("type").GetString());

        var fenced = JsonDocument.Parse((await _fx.MwOnStore("outcome", "s1:3", "--component", "Account/o", "--json")).Out).RootElement;
        Assert.Equal("fenced", fenced.GetProperty("outcome").GetString());
        Assert.False(fenced.GetProperty("committed").GetBoolean());
        Assert.Equal("log", fenced.GetProperty("source").GetString());
        Assert.Equal(3, fenced.GetProperty("seq").GetInt64());

        var absent = JsonDocument.Parse((await _fx.MwOnStore("outcome", "s1:9", "--component", "Account/o", "--json")).Out).RootElement;
        Assert.Equal("notCommitted", absent.GetProperty("outcome").GetString());
        Assert.Equal(JsonValueKind.Null, absent.GetProperty("source").ValueKind);
        Assert.Equal(JsonValueKind.Null, absent.GetProperty("seq").ValueKind);

        var text = await _fx.MwOnStore("outcome", "s1:2", "--component", "Account/o");
        Assert.Matches(@"^s1:2 on Account/o: committed at seq 2 \(\d{4}-\d\d-\d\dT[\d:.]+Z\): reply 12$", text.Out.Trim());
        Assert.StartsWith("s1:3 on Account/o: not committed; fenced at seq 3", (await _fx.MwOnStore("outcome", "s1:3", "--component", "Account/o")).Out, StringComparison.Ordinal);
        Assert.Equal("s1:9 on Account/o: not committed (not fenced; only the owner can fence it: use --fence)",
            (await _fx.MwOnStore("outcome", "s1:9", "--component", "Account/o")).Out.Trim());

        // Read-only: nothing was claimed or written.
        Assert.Equal(before, await HeadAsync("Account/o"));

        // mw log shows the fence record for what it is.
        var log = JsonDocument.Parse((await _fx.MwOnStore("log", "Account/o", "--json")).Out).RootElement;
        var kinds = log.GetProperty("records").EnumerateArray().Select(r => r.GetProperty("kind").GetString()).ToList();
        Assert.Equal(["turn", "turn", "fence", "turn"], kinds);
    }

    [Fact]
    public async Task Outcome_reports_a_turn_in_doubt_as_such_and_never_as_not_committed()
    {
        await _fx.WriteAsync(new ComponentRegistry().Add<IAccount, Account>(), 1000, async rt => await rt.Call<IAccount>("q", "s1:1").Deposit(50));
        await using (var store = SqliteLogStore.Open(_fx.Db))
        {
            // The partial record a withdrawal forces before its ledger call, with no final record after it.
            var epoch = (await store.GetHeadAsync("Account/q"))!.Epoch;
            var partial = new TurnRecord("s1:2", "s1", null, "Withdraw", "[20]"u8.ToArray(), [], ComponentReply.Void) { TurnSeq = 2, IsPartial = true };
            await store.AppendAsync([new AppendGroup("Account/q", epoch, [new LogRecord(2, epoch, RecordKind.PartialTurn, RecordCodec.EncodeTurn(partial))])]);
        }

        var doc = JsonDocument.Parse((await _fx.MwOnStore("outcome", "s1:2", "--component", "Account/q", "--json")).Out).RootElement;
        Assert.Equal("inDoubt", doc.GetProperty("outcome").GetString());
        Assert.False(doc.GetProperty("committed").GetBoolean());
        Assert.Equal(2, doc.GetProperty("partialSeq").GetInt64());
        var text = (await _fx.MwOnStore("outcome", "s1:2", "--component", "Account/q")).Out.Trim();
        Assert.StartsWith("s1:2 on Account/q: in doubt: its turn started (partial record at seq 2)", text, StringComparison.Ordinal);
        Assert.Contains("never fenced", text);
    }

    [Fact]
    public async Task Outcome_finds_checkpointed_requests_and_fences_in_the_dedup_table_after_the_log_is_truncated()
    {
        var account = new ComponentId("Account", "d");
        await _fx.WriteAsync(new ComponentRegistry().Add<IAccount, Account>(), 1000, async rt =>
        {
            Assert.Equal(5, await rt.Call<IAccount>("d", "t:1").Deposit(5));
            Assert.False((await rt.GetOutcomeAsync(account, "t:2", CancellationToken.None)).Committed);
            Assert.Equal(8, await rt.Call<IAccount>("d", "t:3").Deposit(3));
        });
        Assert.Equal(0, (await _fx.MwOnStore("checkpoint", "Account/d", "--components", AdminFixture.BankDll)).Code);
        Assert.Equal(0, (await _fx.MwOnStore("truncate", "Account/d", "--before", "4", "--force")).Code);

        var committed = JsonDocument.Parse((await _fx.MwOnStore("outcome", "t:1", "--component", "Account/d", "--json")).Out).RootElement;
        Assert.Equal("committed", committed.GetProperty("outcome").GetString());
        Assert.Equal("dedup", committed.GetProperty("source").GetString());
        Assert.Equal(1, committed.GetProperty("seq").GetInt64());
        Assert.Equal(5, committed.GetProperty("reply").GetInt64());
        Assert.Equal(JsonValueKind.Null, committed.GetProperty("committedAt").ValueKind); // its record was truncated

        var fenced = JsonDocument.Parse((await _fx.MwOnStore("outcome", "t:2", "--component", "Account/d", "--json")).Out).RootElement;
        Assert.Equal("fenced", fenced.GetProperty("outcome").GetString());
        Assert.Equal("dedup", fenced.GetProperty("source").GetString());

        Assert.Contains("from the dedup table", (await _fx.MwOnStore("outcome", "t:3", "--component", "Account/d")).Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Outcome_without_a_component_scans_every_component_and_says_it_is_slow()
    {
        await _fx.WriteBankAsync();
        var scan = await _fx.MwOnStore("outcome", "r4", "--json");
        Assert.Equal(0, scan.Code);
        Assert.Contains("slow", scan.Err, StringComparison.Ordinal);
        var doc = JsonDocument.Parse(scan.Out).RootElement;
        Assert.Equal(["requestId", "componentsScanned", "found"], Names(doc));
        Assert.Equal(3, doc.GetProperty("componentsScanned").GetInt32());
        var hit = Assert.Single(doc.GetProperty("found").EnumerateArray());
        Assert.Equal("Account/a1", hit.GetProperty("component").GetString()); // r4 went to a(4 % 3)
        Assert.Equal("committed", hit.GetProperty("outcome").GetString());

        var none = await _fx.MwOnStore("outcome", "never-sent");
        Assert.Equal(0, none.Code);
        Assert.StartsWith("never-sent: not found in any of 3 component(s): not committed anywhere", none.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Checkpoint_is_refused_while_a_live_silo_owns_the_component_and_releases_what_it_claimed()
    {
        await _fx.WriteBankAsync(checkpointEvery: 1000);
        await using (var store = SqliteLogStore.Open(_fx.Db))
        {
            var cluster = (IClusterStore)store;
            await cluster.JoinAsync("silo-a", "127.0.0.1:1001", null, TimeSpan.FromMinutes(5));
            var head = await store.GetHeadAsync("Account/a1");
            Assert.NotNull((await cluster.ClaimAsync(new ClaimRequest("Account/a1", head!.Epoch, "silo-a", ClaimMode.RespectLiveSilo))).Claimed);
        }

        var owned = await HeadAsync("Account/a1");
        AssertOneLineError(await _fx.MwOnStore("checkpoint", "Account/a1", "--components", AdminFixture.BankDll), "owned by the live silo silo-a");
        Assert.Equal(owned, await HeadAsync("Account/a1")); // not claimed: the silo is not fenced

        await using (var store = SqliteLogStore.Open(_fx.Db)) await ((IClusterStore)store).LeaveAsync("silo-a");
        var cp = await _fx.MwOnStore("checkpoint", "Account/a1", "--components", AdminFixture.BankDll, "--json");
        Assert.Equal(0, cp.Code);
        var after = await HeadAsync("Account/a1");
        Assert.Equal(after!.LastSeq, after.CheckpointSeq);
        Assert.Null(after.Owner); // released again: the next request places it on a live silo
        Assert.Equal(owned!.Epoch + 1, after.Epoch);
    }

    [Fact]
    public async Task Cluster_commands_with_bad_arguments_give_one_line_and_exit_2()
    {
        await _fx.WriteBankAsync();
        AssertOneLineError(await _fx.MwOnStore("outcome", "r1", "--fence"), "--fence needs --component");
        AssertOneLineError(await _fx.MwOnStore("outcome", "r1", "--component", "nobody"), "Type/key");
        AssertOneLineError(await _fx.MwOnStore("outcome", "r1", "--component", "Account/nobody"), "No component 'Account/nobody'");
        AssertOneLineError(await _fx.MwOnStore("outcome", "r1", "--component", "Account/a0", "--fence"), "No live silo");
        AssertOneLineError(await _fx.MwOnStore("move", "Account/a0"), "--to");
        AssertOneLineError(await _fx.MwOnStore("move", "Account/a0", "--to", "silo-x"), "No live silo");
        AssertOneLineError(await _fx.MwOnStore("move", "Account/nobody", "--to", "silo-x"), "No component 'Account/nobody'");
        AssertOneLineError(await AdminFixture.Mw("cluster", "status", "--store", "bogus"), "not a store connection string");
        AssertOneLineError(await AdminFixture.Mw("sessions", "list", "--store", "memory:"), "memory:");

        await using (var store = SqliteLogStore.Open(_fx.Db))
            await ((IClusterStore)store).JoinAsync("silo-a", "127.0.0.1:1001", null, TimeSpan.FromMinutes(5));
        var refused = await _fx.MwOnStore("move", "Account/a0", "--to", "silo-x");
        AssertOneLineError(refused, "'silo-x' is not a live silo");
        Assert.Contains("silo-a (127.0.0.1:1001)", refused.Err, StringComparison.Ordinal);
    }

    private async Task<ComponentHead?> HeadAsync(string id)
    {
        await using var store = SqliteLogStore.Open(_fx.Db);
        return await store.GetHeadAsync(id);
    }

    internal static void AssertOneLineError((int Code, string Out, string Err) run, string mentions)
    {
        Assert.True(run.Code == 2, $"exit code {run.Code}; stdout: {run.Out}; stderr: {run.Err}");
        Assert.Equal("", run.Out);
        var line = Assert.Single(run.Err.TrimEnd().Split('\n'));
        Assert.StartsWith("mw: ", line, StringComparison.Ordinal);
        Assert.Contains(mentions, line, StringComparison.Ordinal);
    }

    private static List<string> Names(JsonElement e) => e.EnumerateObject().Select(p => p.Name).ToList();

    public void Dispose() => _fx.Dispose();
}
