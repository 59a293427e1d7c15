using System.Data.Common;
using System.Text;
using Microsoft.Data.Sqlite;
using Middleware.Inspection.Audit;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Recovery.Log;
using Middleware.Recovery.Postgres;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Sqlite;
using Middleware.Recovery.Storage;
using Middleware.Tests.Admin;
using Middleware.Tests.Support;
using Npgsql;

namespace Middleware.Tests.Storage;

/// <summary>
/// Issue 13, "records carry checksums": bytes changed in the store behind the middleware's back (with SQL, as the outside
/// probe did) are refused on every read with the component and seq named, never replayed or served, and an acknowledged
/// request never runs again because of them. Each store runs the same tampering through its own SQL.
/// </summary>
public abstract class RecordChecksumTests
{
    private static readonly ComponentId Till = new("Till", "t1");
    private const string Id = "Till/t1";

    protected abstract Task<ILogStore> OpenStoreAsync();

    /// <summary>A connection to the store's database, for the tampering.</summary>
    protected abstract Task<DbConnection> ConnectAsync();

    /// <summary>The SQL condition that picks rows of the component whose id is the parameter <c>@c</c>.</summary>
    protected abstract string OfComponent { get; }

    /// <summary>SQL that strips the checksum envelope from every payload, reply and state: the store as an older build wrote it.</summary>
    protected abstract string[] StripChecksums { get; }

    private static LocalRuntime Runtime(ILogStore store, int checkpointEvery = 1000, RecordingLogger? log = null) =>
        new(store, new ComponentRegistry().Add<ITill, Till>(), new RuntimeOptions { CheckpointEveryTurns = checkpointEvery, CheckpointSpread = 0 },
            new RuntimeEnvironment { Logger = log ?? new RecordingLogger() });

    private async Task PayAsync(int checkpointEvery, params string[] requests)
    {
        await using var store = await OpenStoreAsync();
        await using var rt = Runtime(store, checkpointEvery);
        foreach (var r in requests) await rt.Call<ITill>("t1", r).Pay(10);
    }

    [Fact]
    public async Task A_request_id_changed_inside_a_logged_turn_quarantines_the_component_and_the_acknowledged_request_never_runs_again()
    {
        await PayAsync(1000, "pay-1", "pay-2");
        var payload = await BytesAsync("log", "payload", "seq = 1");
        await SetBytesAsync("log", "payload", "seq = 1", Replace(payload, "pay-1", "pay-7"));

        await using var store = await OpenStoreAsync();
        var log = new RecordingLogger();
        await using (var rt = Runtime(store, log: log))
        {
            // Without the checksum, replay saw 'pay-7' at seq 1 and ran pay-1 a second time (balance 30).
            var refused = await Assert.ThrowsAsync<ComponentQuarantinedException>(() => rt.Call<ITill>("t1", "pay-1").Pay(10));
            Assert.Contains("corrupt", refused.Message, StringComparison.Ordinal);
            Assert.Contains($"log record of {Id} at seq 1 in {store.Name}", refused.Message, StringComparison.Ordinal);
            await Assert.ThrowsAsync<ComponentQuarantinedException>(() => rt.Call<ITill>("t1", "pay-1").Pay(10));
            Assert.Equal(1, rt.Counters.Snapshot()[(RuntimeCounters.Quarantine, FailureCause.Corrupt)]);
        }

        Assert.Contains(log.At(Microsoft.Extensions.Logging.LogLevel.Error), m => m.Contains($"{Id} is quarantined", StringComparison.Ordinal) && m.Contains("seq 1", StringComparison.Ordinal));
        // Nothing ran: the two turns, then the quarantine. The corrupt record is marked, never decoded.
        var records = await store.ReadCheckedAsync(Id, 1, long.MaxValue);
        Assert.Equal([RecordKind.Turn, RecordKind.Turn, RecordKind.Control], records.Select(r => r.Kind));
        Assert.Equal([ChecksumStatus.Corrupt, ChecksumStatus.Verified, ChecksumStatus.Verified], records.Select(r => r.Checksum));
        var e = await Assert.ThrowsAsync<CorruptRecordException>(() => store.ReadAsync(Id, 1, 2));
        Assert.Equal((Id, 1L), (e.ComponentId, e.Seq));
    }

    [Fact]
    public async Task A_component_quarantined_for_a_corrupt_record_serves_again_after_a_reset_to_a_seq_before_it()
    {
        await PayAsync(1000, "pay-1", "pay-2", "pay-3");
        var payload = await BytesAsync("log", "payload", "seq = 2");
        await SetBytesAsync("log", "payload", "seq = 2", Replace(payload, "pay-2", "pay-8"));

        await using var store = await OpenStoreAsync();
        await using var rt = Runtime(store);
        await Assert.ThrowsAsync<ComponentQuarantinedException>(() => rt.Call<ITill>("t1", "pay-4").Pay(10));

        // The operator goes back to seq 1 (what the message offers when there is no backup): the damage is superseded.
        var reset = await rt.ResetAsync(Till, 1, "mw@test", "seq 2 is corrupt, no backup");
        Assert.Equal(2, reset.Turns);
        Assert.Equal(30, await rt.Call<ITill>("t1", "pay-3").Pay(10)); // an intact superseded turn keeps its reply
        Assert.Equal(20, await rt.Call<ITill>("t1", "pay-4").Pay(10)); // the state went back to seq 1
    }

    [Fact]
    public async Task A_reply_changed_in_the_dedup_table_is_never_served_and_the_request_is_not_run_again()
    {
        await PayAsync(2, "pay-1", "pay-2", "pay-3"); // a checkpoint at seq 2 moves pay-1 and pay-2 to the dedup table
        var reply = await BytesAsync("dedup", "reply", "request_id = 'pay-1'");
        await SetBytesAsync("dedup", "reply", "request_id = 'pay-1'", Replace(reply, "10", "99"));

        await using var store = await OpenStoreAsync();
        var log = new RecordingLogger();
        await using var rt = Runtime(store, 2, log);
        var refused = await Assert.ThrowsAsync<CorruptRecordException>(() => rt.Call<ITill>("t1", "pay-1").Pay(10));
        Assert.Contains($"dedup entry of request 'pay-1' of {Id} at seq 1", refused.Message, StringComparison.Ordinal);
        Assert.IsAssignableFrom<RequestNotAcknowledgedException>(refused); // never the request's final outcome on the wire
        await Assert.ThrowsAsync<CorruptRecordException>(() => rt.GetOutcomeAsync(Till, "pay-1"));

        // pay-1 did not run again, the others are intact, and the component serves on.
        Assert.Equal(20, await rt.Call<ITill>("t1", "pay-2").Pay(10));
        Assert.Equal(40, await rt.Call<ITill>("t1", "pay-4").Pay(10));
        Assert.Equal(2, rt.Counters.Snapshot()[(RuntimeCounters.TurnFailure, FailureCause.Corrupt)]);
        Assert.Contains(log.At(Microsoft.Extensions.Logging.LogLevel.Error), m => m.Contains("pay-1", StringComparison.Ordinal) && m.Contains("corrupt", StringComparison.Ordinal));

        var audit = await AuditAsync(store, AuditMode.FromGenesis);
        var d = Assert.Single(audit.Divergences);
        Assert.Equal((Id, 1L, DivergenceKind.Corrupt, "(dedup)"), (d.Component, d.Seq, d.Kind, d.Method));
    }

    [Fact]
    public async Task A_truncated_record_fails_naming_component_and_seq_with_or_without_a_checksum()
    {
        await PayAsync(1000, "pay-1", "pay-2", "pay-3");
        var payload = await BytesAsync("log", "payload", "seq = 2");
        await SetBytesAsync("log", "payload", "seq = 2", payload[..12]);

        await using (var store = await OpenStoreAsync())
        await using (var rt = Runtime(store))
        {
            var refused = await Assert.ThrowsAsync<ComponentQuarantinedException>(() => rt.Call<ITill>("t1", "pay-4").Pay(10));
            Assert.Contains($"{Id} at seq 2", refused.Message, StringComparison.Ordinal);
        }

        // A record written before checksums, truncated: the decoder's "truncated" now comes with component and seq.
        await SetBytesAsync("log", "payload", "seq = 2", payload);
        var third = await BytesAsync("log", "payload", "seq = 3");
        await SetBytesAsync("log", "payload", "seq = 3", third[RecordChecksum.HeaderLength..^3]);
        await using (var store = await OpenStoreAsync())
        {
            var registry = new ComponentRegistry().Add<ITill, Till>();
            var e = await Assert.ThrowsAsync<InvalidDataException>(() => Replayer.LoadAsync(store, registry.Types.Single(), Till, 3, registry.Json));
            Assert.Contains($"log record of {Id} at seq 3 in {store.Name} cannot be decoded", e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Checkpoint_state_changed_under_its_unchanged_hash_fails_the_audit_and_the_activation_naming_it()
    {
        await PayAsync(3, "pay-1", "pay-2", "pay-3", "pay-4", "pay-5", "pay-6"); // checkpoints at seq 3 and 6
        var state = await BytesAsync("checkpoints", "state", "seq = 3");
        await SetBytesAsync("checkpoints", "state", "seq = 3", Replace(state, "30", "99"));

        await using var store = await OpenStoreAsync();
        var d = Assert.Single((await AuditAsync(store, AuditMode.FromGenesis)).Divergences);
        Assert.Equal((Id, 3L, DivergenceKind.Corrupt, "(checkpoint)"), (d.Component, d.Seq, d.Kind, d.Method));
        Assert.Contains($"checkpoint of {Id} at seq 3", d.Actual, StringComparison.Ordinal);

        // The latest one changed: an activation starting from it is refused and quarantined.
        var latest = await BytesAsync("checkpoints", "state", "seq = 6");
        await SetBytesAsync("checkpoints", "state", "seq = 6", Replace(latest, "60", "66"));
        await using var rt = Runtime(store);
        var refused = await Assert.ThrowsAsync<ComponentQuarantinedException>(() => rt.Call<ITill>("t1", "pay-7").Pay(10));
        Assert.Contains($"checkpoint of {Id} at seq 6", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Records_written_before_checksums_stay_readable_and_are_reported_unverified_never_corrupt()
    {
        await PayAsync(2, "pay-1", "pay-2", "pay-3"); // 3 turns, a checkpoint at seq 2 with 2 dedup entries
        await using (var connection = await ConnectAsync())
        {
            foreach (var sql in StripChecksums) await ExecAsync(connection, sql);
        }

        await using var store = await OpenStoreAsync();
        var old = await AuditAsync(store, AuditMode.FromGenesis);
        Assert.Empty(old.Divergences);
        Assert.Equal((0L, 6L), (old.Verified, old.Unverified));

        await using (var rt = Runtime(store, 2))
        {
            Assert.Equal(10, await rt.Call<ITill>("t1", "pay-1").Pay(10)); // from the unverified dedup entry
            Assert.Equal(40, await rt.Call<ITill>("t1", "pay-4").Pay(10));
        }

        var mixed = await AuditAsync(store, AuditMode.FromGenesis);
        Assert.Empty(mixed.Divergences);
        Assert.Equal(6L, mixed.Unverified);
        Assert.True(mixed.Verified >= 1, "the turn written by this build verifies");
    }

    [Fact]
    public async Task The_audit_cross_checks_dedup_entries_against_the_log_even_when_their_checksum_was_forged()
    {
        await PayAsync(2, "pay-1", "pay-2", "pay-3");
        // Someone who knows the algorithm recomputes the checksum: only the log still tells the truth.
        var forged = RecordChecksum.SealDedup(Id, new DedupEntry("pay-1", 1, StableHash.Of("Pay", "[10]"u8), RecordCodec.EncodeReply(new ComponentReply("99"u8.ToArray()))));
        await SetBytesAsync("dedup", "reply", "request_id = 'pay-1'", forged);

        await using var store = await OpenStoreAsync();
        foreach (var mode in new[] { AuditMode.FromCheckpoint, AuditMode.FromGenesis })
        {
            var result = await AuditAsync(store, mode);
            var d = Assert.Single(result.Divergences);
            Assert.Equal((1L, DivergenceKind.Corrupt, "(dedup)"), (d.Seq, d.Kind, d.Method));
            Assert.Contains("differs from the logged reply 10", d.Actual, StringComparison.Ordinal);
        }
    }

    private static async Task<AuditResult> AuditAsync(ILogStore store, AuditMode mode) =>
        await new AuditEngine(store, new ComponentRegistry().Add<ITill, Till>()).RunAsync(await store.ListComponentsAsync(), new AuditOptions { Mode = mode, Parallelism = 1 });

    private async Task<byte[]> BytesAsync(string table, string column, string where)
    {
        await using var connection = await ConnectAsync();
        await using var command = Command(connection, $"SELECT {column} FROM {table} WHERE {OfComponent} AND {where}");
        return (byte[])(await command.ExecuteScalarAsync() ?? throw new InvalidOperationException($"no {table} row {where}"));
    }

    private async Task SetBytesAsync(string table, string column, string where, byte[] bytes)
    {
        await using var connection = await ConnectAsync();
        await using var command = Command(connection, $"UPDATE {table} SET {column} = @b WHERE {OfComponent} AND {where}");
        var p = command.CreateParameter();
        p.ParameterName = "b";
        p.Value = bytes;
        command.Parameters.Add(p);
        Assert.Equal(1, await command.ExecuteNonQueryAsync());
    }

    private static async Task ExecAsync(DbConnection connection, string sql)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }

    private static DbCommand Command(DbConnection connection, string sql)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        var p = command.CreateParameter();
        p.ParameterName = "c";
        p.Value = Id;
        command.Parameters.Add(p);
        return command;
    }

    /// <summary>The bytes with <paramref name="from"/> replaced (once, after the checksum header) by text of the same length.</summary>
    private static byte[] Replace(byte[] bytes, string from, string to)
    {
        var (f, t) = (Encoding.UTF8.GetBytes(from), Encoding.UTF8.GetBytes(to));
        var at = bytes.AsSpan(RecordChecksum.HeaderLength).IndexOf(f);
        Assert.True(at >= 0, $"'{from}' is not in the stored bytes");
        var copy = bytes.ToArray();
        t.CopyTo(copy.AsSpan(RecordChecksum.HeaderLength + at));
        return copy;
    }
}

/// <summary>The tampering on a SQLite file.</summary>
public sealed class SqliteRecordChecksumTests : RecordChecksumTests, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mw-crc-").FullName;

    private string Db => Path.Combine(_dir, "log.db");

    protected override Task<ILogStore> OpenStoreAsync() => Task.FromResult<ILogStore>(SqliteLogStore.Open(Db));

    protected override async Task<DbConnection> ConnectAsync()
    {
        var connection = new SqliteConnection($"Data Source={Db};Pooling=False");
        await connection.OpenAsync();
        return connection;
    }

    protected override string OfComponent => "cid = (SELECT cid FROM components WHERE id = @c)";

    protected override string[] StripChecksums =>
    [
        "UPDATE log SET payload = substr(payload, 6) WHERE substr(payload, 1, 1) = x'C3'",
        "UPDATE dedup SET reply = substr(reply, 6) WHERE substr(reply, 1, 1) = x'C3'",
        "UPDATE checkpoints SET state = substr(state, 6) WHERE substr(state, 1, 1) = x'C3'",
    ];

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}

/// <summary>The tampering on a fresh database of the throwaway PostgreSQL cluster.</summary>
[RequiresPostgres]
public sealed class PostgresRecordChecksumTests : RecordChecksumTests
{
    private string? _database;

    protected override async Task<ILogStore> OpenStoreAsync() => await PostgresLogStore.OpenAsync(await DatabaseAsync());

    protected override async Task<DbConnection> ConnectAsync()
    {
        var connection = new NpgsqlConnection(await DatabaseAsync());
        await connection.OpenAsync();
        return connection;
    }

    protected override string OfComponent => "component = @c";

    protected override string[] StripChecksums =>
    [
        "UPDATE log SET payload = substring(payload from 6) WHERE get_byte(payload, 0) = 195",
        "UPDATE dedup SET reply = substring(reply from 6) WHERE get_byte(reply, 0) = 195",
        "UPDATE checkpoints SET state = substring(state from 6) WHERE get_byte(state, 0) = 195",
    ];

    private async Task<string> DatabaseAsync() => _database ??= await (await PostgresServer.GetAsync()).CreateDatabaseAsync();
}
