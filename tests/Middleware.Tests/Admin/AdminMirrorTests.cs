using System.Text.Json;
using Bank;
using Middleware.Admin.Cli;
using Middleware.Admin.Cluster;
using Middleware.Inspection;
using Middleware.Admin.Output;
using Middleware.Protocol;
using Middleware.Recovery.Sqlite;
using Middleware.Recovery.Storage;
using Middleware.Silo;
using Middleware.Tests.Cluster;
using Middleware.Tests.Silo;
using Xunit.Abstractions;
using Middleware.Tests.Support;

namespace Middleware.Tests.Admin;

/// <summary>
/// <c>mw mirrors</c> and the mirror load of <c>mw cluster status</c> (issue 14, item 8) against real silo processes on
/// one SQLite store (the bank's accounts are [Mirrored]), the tool running in-process beside them; and, without silos,
/// the placement the tool expects against the silos' own, and how ids with control characters are shown.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class AdminMirrorTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Mirrors_shows_each_accounts_owner_and_its_caught_up_standby_on_the_expected_mirror_and_cluster_status_counts_them()
    {
        await using var cluster = await ClusterFixture.StartAsync(count: 3);
        await using var client = await cluster.ConnectAsync();
        var keys = Enumerable.Range(0, 4).Select(i => $"mi-{Guid.NewGuid():N}"[..12] + i).ToArray();
        foreach (var key in keys)
            for (var i = 1; i <= 3; i++) await client.GetComponent<IAccount>(key).Deposit(i);
        var component = $"Account/{keys[0]}";

        // The standby applies what the owner shipped: eventually its applied seq is the log's last seq.
        var row = await EventuallyAsync(async () =>
        {
            var run = await AdminFixture.Mw("mirrors", component, "--store", cluster.Store, "--json");
            Assert.True(run.Code == 0, run.Err);
            var doc = JsonDocument.Parse(run.Out).RootElement;
            var rows = doc.GetProperty("mirrors").EnumerateArray().ToList();
            return rows is [var only] && only.GetProperty("state").GetString() == "ok" ? only.Clone() : (JsonElement?)null;
        }, $"the standby of {component} to catch up");

        Assert.Equal(
            ["component", "owner", "ownerLive", "mirror", "expectedMirror", "shippedBy", "appliedSeq", "lastSeq", "lagRecords", "lagMs",
             "lastAppliedAt", "lastAppliedAgeSeconds", "divergedAtSeq", "state"],
            row.EnumerateObject().Select(p => p.Name));
        var head = await cluster.HeadOfAsync(component);
        var owner = head!.Owner!;
        Assert.Equal(component, row.GetProperty("component").GetString());
        Assert.Equal(owner, row.GetProperty("owner").GetString());
        Assert.True(row.GetProperty("ownerLive").GetBoolean());
        var mirror = row.GetProperty("mirror").GetString();
        Assert.NotEqual(owner, mirror);
        Assert.Contains(cluster.Silos, s => s.SiloId == mirror);
        Assert.Equal(mirror, row.GetProperty("expectedMirror").GetString());
        var live = (await cluster.SilosAsync()).Where(s => s.IsLive).ToList();
        Assert.Equal(MirrorPlacement.MirrorOf(component, live, owner)!.SiloId, mirror); // the silos' own placement
        Assert.Equal(owner, row.GetProperty("shippedBy").GetString());
        Assert.Equal(head.LastSeq, row.GetProperty("appliedSeq").GetInt64());
        Assert.Equal(head.LastSeq, row.GetProperty("lastSeq").GetInt64());
        Assert.Equal(0, row.GetProperty("lagRecords").GetInt64());
        Assert.Equal(0, row.GetProperty("lagMs").GetDouble());
        Assert.Equal(JsonValueKind.Null, row.GetProperty("divergedAtSeq").ValueKind);
        Assert.True(row.GetProperty("lastAppliedAgeSeconds").GetDouble() < Patience.TotalSeconds);

        // The table: the same row for people.
        var table = await AdminFixture.Mw("mirrors", component, "--store", cluster.Store);
        Assert.True(table.Code == 0, table.Err);
        output.WriteLine(table.Out);
        Assert.Matches($@"│ {component}\s+│ {owner}\s+│ {mirror}\s+│ {mirror}\s+│ {head.LastSeq}\s+│ {head.LastSeq}\s+│ 0\s+│ \d{{4}}-\d\d-\d\dT[^│]+│ [^│]+│ ok\s+│", table.Out);
        Assert.Contains("1 standby(s) of 1 component(s) on 3 live silo(s): 0 lagging, 0 diverged, 0 not where placement expects", table.Out, StringComparison.Ordinal);

        // All mirrored components: every account has a standby, none on its owner.
        var all = await EventuallyAsync(async () =>
        {
            var doc = JsonDocument.Parse((await AdminFixture.Mw("mirrors", "--store", cluster.Store, "--json")).Out).RootElement;
            var rows = doc.GetProperty("mirrors").EnumerateArray().Where(r => keys.Any(k => r.GetProperty("component").GetString() == $"Account/{k}")).ToList();
            return rows.Count == keys.Length && rows.All(r => r.GetProperty("state").GetString() == "ok") ? doc.Clone() : (JsonElement?)null;
        }, "a caught-up standby of every account");
        Assert.Equal(["store", "live", "noMirror", "standbys", "lagging", "diverged", "misplaced", "withoutMirror", "mirrors", "unanswered"], all.EnumerateObject().Select(p => p.Name));
        Assert.Equal(3, all.GetProperty("live").GetInt32());
        Assert.Equal(JsonValueKind.Null, all.GetProperty("noMirror").ValueKind);
        Assert.Empty(all.GetProperty("unanswered").EnumerateArray());
        foreach (var r in all.GetProperty("mirrors").EnumerateArray()) Assert.NotEqual(r.GetProperty("owner").GetString(), r.GetProperty("mirror").GetString());

        // cluster status: per live silo the standbys it keeps (together at least one per account), the mirrored
        // components it owns, and the lag.
        var status = JsonDocument.Parse((await AdminFixture.Mw("cluster", "status", "--store", cluster.Store, "--json")).Out).RootElement;
        Assert.Equal(JsonValueKind.Null, status.GetProperty("noMirror").ValueKind);
        var loads = status.GetProperty("silos").EnumerateArray().ToDictionary(s => s.GetProperty("siloId").GetString()!, s => s.GetProperty("mirror"));
        Assert.Equal(3, loads.Count);
        foreach (var (silo, load) in loads)
        {
            Assert.True(load.GetProperty("error").ValueKind == JsonValueKind.Null, $"{silo}: {load.GetProperty("error")}");
            Assert.True(load.GetProperty("maxLagRecords").GetInt64() >= 0);
            Assert.True(load.GetProperty("maxLagMs").GetDouble() >= 0);
            Assert.True(load.GetProperty("lastShipLagMs").GetDouble() >= 0);
            Assert.Equal(0, load.GetProperty("diverged").GetInt32());
        }

        Assert.True(loads.Values.Sum(l => l.GetProperty("standbys").GetInt32()) >= keys.Length);
        Assert.True(loads[mirror!].GetProperty("standbys").GetInt32() >= 1);
        Assert.True(loads[owner].GetProperty("mirroredComponents").GetInt32() >= 1);
        var statusTable = await AdminFixture.Mw("cluster", "status", "--store", cluster.Store);
        output.WriteLine(statusTable.Out);
        output.WriteLine((await AdminFixture.Mw("mirrors", "--store", cluster.Store)).Out);
        output.WriteLine(status.ToString());
        output.WriteLine(row.ToString());
        Assert.Contains("standbys kept", statusTable.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("no mirror", statusTable.Out, StringComparison.Ordinal);
        Assert.Matches($@"│ {mirror}\s+│ [1-9]\d*\s+│ \d+\s+│ \d+\s+│ [\d.]+\s+│ [\d.]+\s+│ 0\s+│", statusTable.Out);
    }

    [Fact]
    public async Task With_one_live_silo_mirrors_and_cluster_status_say_there_is_no_mirror()
    {
        await using var cluster = await ClusterFixture.StartAsync(count: 1);
        await using var client = await cluster.ConnectAsync();
        var key = $"one-{Guid.NewGuid():N}"[..12];
        await client.GetComponent<IAccount>(key).Deposit(5);
        var silo = cluster.Silos[0].SiloId;

        var all = await AdminFixture.Mw("mirrors", "--store", cluster.Store);
        Assert.True(all.Code == 0, all.Err);
        Assert.Equal($"No component has a mirror: only one live silo ({silo}); a component has a mirror while two or more silos are live", all.Out.Trim());
        var one = await AdminFixture.Mw("mirrors", $"Account/{key}", "--store", cluster.Store);
        Assert.Equal($"Account/{key} has no mirror: only one live silo ({silo}); a component has a mirror while two or more silos are live", one.Out.Trim());
        var json = JsonDocument.Parse((await AdminFixture.Mw("mirrors", $"Account/{key}", "--store", cluster.Store, "--json")).Out).RootElement;
        Assert.StartsWith("only one live silo", json.GetProperty("noMirror").GetString(), StringComparison.Ordinal);
        Assert.Empty(json.GetProperty("mirrors").EnumerateArray());

        var status = await AdminFixture.Mw("cluster", "status", "--store", cluster.Store);
        output.WriteLine(one.Out);
        output.WriteLine(status.Out);
        Assert.Contains($"no mirror: only one live silo ({silo})", status.Out, StringComparison.Ordinal);
        var doc = JsonDocument.Parse((await AdminFixture.Mw("cluster", "status", "--store", cluster.Store, "--json")).Out).RootElement;
        var load = doc.GetProperty("silos")[0].GetProperty("mirror");
        Assert.Equal(0, load.GetProperty("standbys").GetInt32());
        Assert.True(load.GetProperty("mirroredComponents").GetInt32() >= 1); // it owns the account, which is mirrored by type
        Assert.Equal(JsonValueKind.Null, load.GetProperty("error").ValueKind);
    }

    [Fact]
    public async Task A_divergent_standby_is_shown_as_such_and_mirrors_exits_1()
    {
        var dir = Directory.CreateTempSubdirectory("mw-admin-dice-").FullName;
        try
        {
            var dice = ComponentAssembly.Compile(ComponentAssembly.DiceSource, dir, "Dice.dll");
            await using var cluster = await ClusterFixture.StartAsync(2, null, "--components", $"{SiloProcess.BankAssembly};{dice}");
            await using var connection = await cluster.Silos[0].ConnectAsync();
            // Each turn's reply is a fresh Guid: re-executing it on the mirror cannot reproduce it.
            for (var i = 0; i < 5; i++)
            {
                var reply = await connection.InvokeAsync(new InvokeMessage("Dice", "d1", "Roll", $"roll-{i}-{Guid.NewGuid():N}", null, null, "[]"u8.ToArray()));
                Assert.Equal(ReplyStatus.Ok, reply.Status);
            }

            var row = await EventuallyAsync(async () =>
            {
                var run = await AdminFixture.Mw("mirrors", "Dice/d1", "--store", cluster.Store, "--json");
                var doc = JsonDocument.Parse(run.Out).RootElement;
                if (doc.GetProperty("diverged").GetInt32() == 0) return null;
                Assert.Equal(ExitCodes.Divergence, run.Code);
                return doc.GetProperty("mirrors")[0].Clone();
            }, "the standby of Dice/d1 to diverge");
            Assert.Equal("diverged", row.GetProperty("state").GetString());
            var at = row.GetProperty("divergedAtSeq").GetInt64();
            Assert.True(at >= 1);

            var table = await AdminFixture.Mw("mirrors", "--store", cluster.Store);
            output.WriteLine(table.Out);
            Assert.Equal(ExitCodes.Divergence, table.Code);
            Assert.Contains($"DIVERGED at seq {at}", table.Out, StringComparison.Ordinal);
            Assert.Contains($"DIVERGED: the standby of Dice/d1 on {row.GetProperty("mirror").GetString()} did not reproduce its log at seq {at}", table.Out, StringComparison.Ordinal);
            var status = JsonDocument.Parse((await AdminFixture.Mw("cluster", "status", "--store", cluster.Store, "--json")).Out).RootElement;
            var load = status.GetProperty("silos").EnumerateArray().Single(s => s.GetProperty("siloId").GetString() == row.GetProperty("mirror").GetString()).GetProperty("mirror");
            Assert.True(load.GetProperty("diverged").GetInt32() >= 1);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void The_tools_expected_mirror_is_the_silos_placement()
    {
        var silos = Enumerable.Range(1, 5).Select(i => new SiloEntry($"silo-{i}", $"127.0.0.1:{1000 + i}", null, SiloStatus.Active, TimeSpan.Zero, TimeSpan.FromSeconds(2), 0, default)).ToList();
        for (var n = 1; n <= 5; n++)
        {
            var live = silos.Take(n).ToList();
            for (var i = 0; i < 400; i++)
            {
                var component = $"Account/k{i}";
                var owner = Rendezvous.Pick(component, live)!.SiloId;
                Assert.Equal(MirrorPlacement.MirrorOf(component, live, owner)?.SiloId, MirrorView.ExpectedMirror(component, live, owner)?.SiloId);
            }
        }
    }

    [Fact]
    public async Task Ids_with_control_characters_are_escaped_in_tables_and_messages()
    {
        Assert.Equal(@"a\nb\r\tc\x01\x1b\x7f\x85d", Format.Line("a\nb\r\tc\u0001\u001b\u007f\u0085d"));
        Assert.Equal(@"Account/[[x]]\n", Format.Cell("Account/[x]\n"));
        Assert.Equal("-", Format.Cell(null));

        using var fx = new AdminFixture();
        await using (var store = SqliteLogStore.Open(fx.Db))
            Assert.NotNull((await ((IClusterStore)store).ClaimAsync(new ClaimRequest("Account/evil\nmirror: none\u001b[2J", 0, "silo-x", ClaimMode.RespectLiveSilo))).Claimed);
        var run = await fx.MwOnStore("mirrors", "Account/evil\nmirror: none\u001b[2J");
        Assert.Equal(0, run.Code);
        Assert.Equal(@"Account/evil\nmirror: none\x1b[2J has no mirror: no live silo (mw cluster status lists the silos); a component has a mirror while two or more silos are live", run.Out.Trim());
    }

    private static async Task<JsonElement> EventuallyAsync(Func<Task<JsonElement?>> attempt, string what)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            if (await attempt() is { } found) return found;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Gave up waiting for {what} after {Patience.TotalSeconds:0} s.");
            await Task.Delay(200);
        }
    }

}
