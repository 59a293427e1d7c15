using System.Text.Json;
using Bank;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Sqlite;

namespace Middleware.Tests.Admin;

/// <summary>The command line in-process: exit codes, one-line errors, and the outputs of each command.</summary>
public sealed class AdminCliTests : IDisposable
{
    private readonly AdminFixture _fx = new();

    private static void AssertOneLineError((int Code, string Out, string Err) run, string mentions)
    {
        Assert.Equal(2, run.Code);
        Assert.Equal("", run.Out);
        var line = Assert.Single(run.Err.TrimEnd().Split('\n'));
        Assert.StartsWith("mw: ", line, StringComparison.Ordinal);
        Assert.Contains(mentions, line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bad_store_strings_give_one_line_and_exit_2()
    {
        AssertOneLineError(await AdminFixture.Mw("components", "list", "--store", "bogus"), "not a store connection string");
        AssertOneLineError(await AdminFixture.Mw("components", "list", "--store", "sqlite:"), "has no path");
        AssertOneLineError(await AdminFixture.Mw("components", "list", "--store", "sqlite:/no/such/dir/x.db"), "No SQLite store at");
        // A server store that cannot be reached: one line naming the store and the fix, never the password.
        var unreachable = await AdminFixture.Mw("components", "list", "--store", "postgres:Host=127.0.0.1;Port=1;Username=u;Password=secret-pw;Database=d");
        AssertOneLineError(unreachable, "Cannot open the PostgreSQL log store");
        Assert.DoesNotContain("secret-pw", unreachable.Err);
        Assert.False(File.Exists("/no/such/dir/x.db"));
    }

    [Fact]
    public async Task Missing_assemblies_unknown_ids_and_usage_errors_give_one_line_and_exit_2()
    {
        await _fx.WriteBankAsync();
        AssertOneLineError(await _fx.MwOnStore("audit", "--all", "--components", "/no/such/App.dll"), "not found");
        AssertOneLineError(await _fx.MwOnStore("components", "show", "Account/nobody"), "No component 'Account/nobody'");
        AssertOneLineError(await _fx.MwOnStore("log", "nobody"), "Type/key");
        AssertOneLineError(await _fx.MwOnStore("state", "Account/nobody", "--components", AdminFixture.BankDll), "No component");
        AssertOneLineError(await _fx.MwOnStore("audit", "--components", AdminFixture.BankDll), "exactly one");
        AssertOneLineError(await _fx.MwOnStore("components", "list", "--frobnicate"), "--frobnicate");
        AssertOneLineError(await _fx.MwOnStore("audit", "--type", "Nothing", "--components", AdminFixture.BankDll), "No components of type 'Nothing'");
    }

    [Fact]
    public async Task Audit_of_clean_logs_exits_0_and_its_json_shape_is_pinned()
    {
        await _fx.WriteBankAsync();

        var table = await _fx.MwOnStore("audit", "--all", "--components", AdminFixture.BankDll);
        Assert.Equal(0, table.Code);
        Assert.Contains("clean", table.Out, StringComparison.Ordinal);

        var run = await _fx.MwOnStore("audit", "--all", "--from-genesis", "--components", AdminFixture.BankDll, "--json");
        Assert.Equal(0, run.Code);
        var doc = JsonDocument.Parse(run.Out).RootElement;
        Assert.Equal(["mode", "clean", "components", "turns", "divergent", "skipped", "seconds", "turnsPerSecond", "divergences", "skippedComponents", "inDoubt", "verified", "unverified", "dedupChecked"], Names(doc));
        Assert.Equal("genesis", doc.GetProperty("mode").GetString());
        Assert.True(doc.GetProperty("clean").GetBoolean());
        Assert.Equal(60, doc.GetProperty("turns").GetInt64());
        // A store written by this build: every record, checkpoint and dedup entry verifies; the dedup entries match the log.
        Assert.Equal(0, doc.GetProperty("unverified").GetInt64());
        Assert.True(doc.GetProperty("verified").GetInt64() > 60);
        Assert.True(doc.GetProperty("dedupChecked").GetInt64() > 0);
    }

    [Fact]
    public async Task Audit_exits_1_and_names_the_divergence_when_the_logs_were_written_by_other_code()
    {
        await _fx.WriteAsync(new ComponentRegistry().Add<IBonusAccount, BonusAccount>(), 1000, async rt =>
        {
            await rt.Call<IBonusAccount>("x", "d1").Deposit(5);
            await rt.Call<IBonusAccount>("x", "d2").Deposit(7);
        });

        var run = await _fx.MwOnStore("audit", "Account/x", "--components", AdminFixture.BankDll, "--json");

        Assert.Equal(1, run.Code);
        var d = Assert.Single(JsonDocument.Parse(run.Out).RootElement.GetProperty("divergences").EnumerateArray());
        Assert.Equal(["component", "seq", "kind", "method", "args", "expected", "actual"], Names(d));
        Assert.Equal("Account/x", d.GetProperty("component").GetString());
        Assert.Equal(1, d.GetProperty("seq").GetInt64());
        Assert.Equal("reply", d.GetProperty("kind").GetString());
        Assert.Equal("Deposit", d.GetProperty("method").GetString());
        Assert.Equal("[5]", JsonSerializer.Serialize(d.GetProperty("args")));
        Assert.Equal("reply 6", d.GetProperty("expected").GetString());
        Assert.Equal("reply 5", d.GetProperty("actual").GetString());

        var table = await _fx.MwOnStore("audit", "--all", "--components", AdminFixture.BankDll);
        Assert.Equal(1, table.Code);
        Assert.Contains("DIVERGENT", table.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Components_log_and_state_json_shapes_are_pinned()
    {
        await _fx.WriteBankAsync();

        var list = JsonDocument.Parse((await _fx.MwOnStore("components", "list", "--json")).Out).RootElement;
        var first = list.GetProperty("components").EnumerateArray().First();
        Assert.Equal(["id", "type", "owner", "epoch", "lastSeq", "checkpointSeq", "lastActivity"], Names(first));
        Assert.Equal("Account/a0", first.GetProperty("id").GetString());
        // 20 turns plus a partial record before each of the 4 successful withdrawals' ledger calls.
        Assert.Equal(24, first.GetProperty("lastSeq").GetInt64());
        Assert.Equal(17, first.GetProperty("checkpointSeq").GetInt64());

        var log = JsonDocument.Parse((await _fx.MwOnStore("log", "Account/a0", "--from", "1", "--to", "2", "--json")).Out).RootElement;
        Assert.Equal(["component", "firstSeq", "lastSeq", "records"], Names(log));
        var records = log.GetProperty("records").EnumerateArray().ToList();
        Assert.Equal([1L, 2L], records.Select(r => r.GetProperty("seq").GetInt64()));
        Assert.Equal(["seq", "kind", "epoch", "committedAt", "requestId", "sessionId", "caller", "method", "args", "recorded", "turnSeq", "outbound", "reply", "error", "checksum"], Names(records[0]));
        Assert.Equal("utcNow", records[0].GetProperty("recorded")[0].GetProperty("kind").GetString());
        Assert.Equal("verified", records[0].GetProperty("checksum").GetString());

        var state = JsonDocument.Parse((await _fx.MwOnStore("state", "Account/a0", "--components", AdminFixture.BankDll, "--seq", "2", "--json")).Out).RootElement;
        Assert.Equal(["component", "seq", "checkpointSeq", "committedAt", "state"], Names(state));
        Assert.Equal(10, state.GetProperty("state").GetProperty("Balance").GetInt64()); // r0 deposits 10, r3 withdraws 53 and is refused

        var asOf = records[1].GetProperty("committedAt").GetString()!;
        var atTime = JsonDocument.Parse((await _fx.MwOnStore("state", "Account/a0", "--components", AdminFixture.BankDll, "--as-of", asOf, "--json")).Out).RootElement;
        Assert.Equal(2, atTime.GetProperty("seq").GetInt64());
    }

    [Fact]
    public async Task Checkpoint_then_truncate_refuses_without_a_checkpoint_or_an_audit_and_cuts_with_one()
    {
        await _fx.WriteBankAsync(checkpointEvery: 1000);
        AssertOneLineError(await _fx.MwOnStore("truncate", "Account/a1", "--before", "10", "--force"), "no checkpoint at or after seq 9");
        var cp = await _fx.MwOnStore("checkpoint", "Account/a1", "--components", AdminFixture.BankDll, "--json");
        Assert.Equal(0, cp.Code);
        Assert.Equal(24, JsonDocument.Parse(cp.Out).RootElement.GetProperty("checkpointSeq").GetInt64());

        AssertOneLineError(await _fx.MwOnStore("truncate", "Account/a1", "--before", "10"), "--components");
        var cut = await _fx.MwOnStore("truncate", "Account/a1", "--before", "10", "--components", AdminFixture.BankDll, "--json");
        Assert.Equal(0, cut.Code);
        Assert.Equal(9, JsonDocument.Parse(cut.Out).RootElement.GetProperty("deleted").GetInt64());

        Assert.Equal(0, (await _fx.MwOnStore("audit", "--all", "--from-genesis", "--components", AdminFixture.BankDll)).Code);
        AssertOneLineError(await _fx.MwOnStore("state", "Account/a1", "--components", AdminFixture.BankDll, "--seq", "5"), "cannot be rebuilt");
        await using var store = SqliteLogStore.Open(_fx.Db);
        Assert.Equal(15, (await store.ReadAsync("Account/a1", 1, 100)).Count);
    }

    [Fact]
    public async Task Truncate_refuses_a_range_that_no_longer_replays_unless_forced()
    {
        await _fx.WriteAsync(new ComponentRegistry().Add<IBonusAccount, BonusAccount>(), 3, async rt =>
        {
            for (var i = 0; i < 7; i++) await rt.Call<IBonusAccount>("x", $"d{i}").Deposit(5);
        });

        AssertOneLineError(await _fx.MwOnStore("truncate", "Account/x", "--before", "4", "--components", AdminFixture.BankDll), "do not replay");
        Assert.Equal(0, (await _fx.MwOnStore("truncate", "Account/x", "--before", "4", "--force")).Code);
    }

    [Fact]
    public async Task Db_migrate_creates_a_store_and_verify_reports_its_version()
    {
        AssertOneLineError(await _fx.MwOnStore("db", "verify"), "No SQLite store");
        Assert.Equal(0, (await _fx.MwOnStore("db", "migrate")).Code);
        var verify = await _fx.MwOnStore("db", "verify", "--json");
        Assert.Equal(0, verify.Code);
        var doc = JsonDocument.Parse(verify.Out).RootElement;
        Assert.Equal(["store", "schemaVersion", "expectedVersion", "upToDate", "scripts"], Names(doc));
        Assert.True(doc.GetProperty("upToDate").GetBoolean());
        Assert.Equal(doc.GetProperty("expectedVersion").GetInt32(), doc.GetProperty("schemaVersion").GetInt32());
    }

    private static List<string> Names(JsonElement e) => e.EnumerateObject().Select(p => p.Name).ToList();

    public void Dispose() => _fx.Dispose();
}
