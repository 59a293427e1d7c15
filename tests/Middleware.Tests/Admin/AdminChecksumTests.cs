using System.Text.Json;
using Microsoft.Data.Sqlite;
using Middleware.Recovery.Log;

namespace Middleware.Tests.Admin;

/// <summary>
/// What an operator sees of records changed in the store behind the middleware's back: <c>mw log</c> marks them,
/// <c>mw outcome</c> says the answer is in a corrupt entry, <c>mw audit</c> names component and seq; each exits 1 with no
/// stack trace. A store written before checksums audits clean, its records counted as unverified.
/// </summary>
public sealed class AdminChecksumTests : IDisposable
{
    private const string A0 = "Account/a0"; // requests r0, r3, r6, ... (seq 1, 2, 3, ...); checkpoints every 7 turns
    private readonly AdminFixture _fx = new();

    public void Dispose() => _fx.Dispose();

    [Fact]
    public async Task Mw_log_shows_a_corrupt_record_as_corrupt_and_exits_1()
    {
        await _fx.WriteBankAsync();
        await FlipAsync("log", "payload", "seq = 2");

        var table = await _fx.MwOnStore("log", A0, "--from", "1", "--to", "3");
        Assert.Equal(1, table.Code);
        Assert.Contains("corrupt", table.Out, StringComparison.Ordinal);
        Assert.Matches($@"corrupt: the \w+ record of {A0} at seq 2 \(checksum mismatch", table.Out);
        Assert.DoesNotContain("   at ", table.Out + table.Err, StringComparison.Ordinal);

        var json = await _fx.MwOnStore("log", A0, "--from", "1", "--to", "3", "--json");
        Assert.Equal(1, json.Code);
        var records = JsonDocument.Parse(json.Out).RootElement.GetProperty("records").EnumerateArray().ToList();
        Assert.Equal(["verified", "corrupt", "verified"], records.Select(r => r.GetProperty("checksum").GetString()));
        Assert.Equal("r0", records[0].GetProperty("requestId").GetString());
    }

    [Fact]
    public async Task Mw_outcome_reports_a_changed_dedup_reply_as_corrupt_never_as_the_forged_reply()
    {
        await _fx.WriteBankAsync();
        await FlipAsync("dedup", "reply", "request_id = 'r0'");

        var run = await _fx.MwOnStore("outcome", "r0", "--component", A0);
        Assert.Equal(1, run.Code);
        Assert.Contains("r0 on Account/a0: unknown, a record that holds the answer is corrupt", run.Out, StringComparison.Ordinal);
        Assert.Contains("dedup entry of request 'r0' of Account/a0 at seq 1", run.Out, StringComparison.Ordinal);

        var json = JsonDocument.Parse((await _fx.MwOnStore("outcome", "r0", "--component", A0, "--json")).Out).RootElement;
        Assert.Equal(("corrupt", false), (json.GetProperty("outcome").GetString(), json.GetProperty("committed").GetBoolean()));
        Assert.Equal(JsonValueKind.Null, json.GetProperty("reply").ValueKind);

        // An intact entry still answers.
        Assert.Equal(0, (await _fx.MwOnStore("outcome", "r3", "--component", A0)).Code);
    }

    [Fact]
    public async Task Mw_audit_from_genesis_names_a_checkpoint_whose_state_changed()
    {
        await _fx.WriteBankAsync();
        long first;
        await using (var connection = await ConnectAsync())
        await using (var query = connection.CreateCommand())
        {
            query.CommandText = $"SELECT min(seq) FROM checkpoints WHERE cid = (SELECT cid FROM components WHERE id = '{A0}')";
            first = (long)(await query.ExecuteScalarAsync())!;
        }

        await FlipAsync("checkpoints", "state", $"seq = {first}");

        var run = await _fx.MwOnStore("audit", A0, "--from-genesis", "--components", AdminFixture.BankDll, "--json");
        Assert.Equal(1, run.Code);
        var d = Assert.Single(JsonDocument.Parse(run.Out).RootElement.GetProperty("divergences").EnumerateArray());
        Assert.Equal((A0, first, "corrupt", "(checkpoint)"), (d.GetProperty("component").GetString(), d.GetProperty("seq").GetInt64(), d.GetProperty("kind").GetString(), d.GetProperty("method").GetString()));

        var table = await _fx.MwOnStore("audit", A0, "--from-genesis", "--components", AdminFixture.BankDll);
        Assert.Equal(1, table.Code);
        Assert.Contains("CORRUPT: 1 component(s)", table.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Mw_audit_of_a_store_written_before_checksums_is_clean_and_counts_it_unverified()
    {
        await _fx.WriteBankAsync();
        await using (var connection = await ConnectAsync())
        {
            foreach (var (table, column) in new[] { ("log", "payload"), ("dedup", "reply"), ("checkpoints", "state") })
            {
                await using var strip = connection.CreateCommand();
                strip.CommandText = $"UPDATE {table} SET {column} = substr({column}, 6) WHERE substr({column}, 1, 1) = x'C3'";
                Assert.True(await strip.ExecuteNonQueryAsync() > 0);
            }
        }

        var run = await _fx.MwOnStore("audit", "--all", "--from-genesis", "--components", AdminFixture.BankDll, "--json");
        Assert.Equal(0, run.Code);
        var doc = JsonDocument.Parse(run.Out).RootElement;
        Assert.True(doc.GetProperty("clean").GetBoolean());
        Assert.Equal(0, doc.GetProperty("verified").GetInt64());
        Assert.True(doc.GetProperty("unverified").GetInt64() > 60, "60 turns, their checkpoints and dedup entries");
        Assert.Contains("unverified", (await _fx.MwOnStore("audit", "--all", "--from-genesis", "--components", AdminFixture.BankDll)).Out, StringComparison.Ordinal);

        var log = JsonDocument.Parse((await _fx.MwOnStore("log", A0, "--from", "1", "--to", "1", "--json")).Out).RootElement;
        Assert.Equal("unverified", log.GetProperty("records")[0].GetProperty("checksum").GetString());
    }

    private async Task<SqliteConnection> ConnectAsync()
    {
        var connection = new SqliteConnection($"Data Source={_fx.Db};Pooling=False");
        await connection.OpenAsync();
        return connection;
    }

    /// <summary>Flips one bit of the last byte of a row of Account/a0 (bit rot in the stored bytes, checksum left alone).</summary>
    private async Task FlipAsync(string table, string column, string where)
    {
        await using var connection = await ConnectAsync();
        var of = $"cid = (SELECT cid FROM components WHERE id = '{A0}') AND {where}";
        await using var read = connection.CreateCommand();
        read.CommandText = $"SELECT {column} FROM {table} WHERE {of}";
        var bytes = (byte[])(await read.ExecuteScalarAsync())!;
        Assert.Equal(RecordChecksum.Marker, bytes[0]);
        bytes[^1] ^= 0x01;
        await using var write = connection.CreateCommand();
        write.CommandText = $"UPDATE {table} SET {column} = $b WHERE {of}";
        write.Parameters.AddWithValue("$b", bytes);
        Assert.Equal(1, await write.ExecuteNonQueryAsync());
    }
}
