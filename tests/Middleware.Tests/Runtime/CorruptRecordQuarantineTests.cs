using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Middleware.Recovery.Log;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Sqlite;
using Middleware.Tests.Admin;
using Middleware.Tests.Support;

namespace Middleware.Tests.Runtime;

/// <summary>
/// A record whose payload bytes cannot be decoded (damaged on disk, or written by something else) quarantines its
/// component with the cause <c>corrupt</c> at activation: refused at once and not re-read on every request, logged,
/// counted; the other components of the store keep serving. The damage is to the payload bytes themselves, so the test
/// holds whether or not the store also keeps a checksum of each record.
/// </summary>
public sealed class CorruptRecordQuarantineTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mw-corrupt-").FullName;

    private string Db => Path.Combine(_dir, "log.db");

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private static LocalRuntime Runtime(SqliteLogStore store, RecordingLogger? log = null) =>
        new(store, new ComponentRegistry().Add<ITill, Till>(), environment: new RuntimeEnvironment { Logger = log ?? new RecordingLogger() });

    [Fact]
    public async Task An_undecodable_record_quarantines_its_component_with_cause_corrupt_and_the_others_keep_serving()
    {
        await using (var store = SqliteLogStore.Open(Db))
        await using (var rt = Runtime(store))
        {
            for (var i = 1; i <= 3; i++)
            {
                await rt.Call<ITill>("bad", $"bad-{i}").Pay(10);
                await rt.Call<ITill>("good", $"good-{i}").Pay(10);
            }
        }

        // The second record of Till/bad: its bytes no longer form a turn record (an unknown format version, then noise).
        await using (var connection = new SqliteConnection($"Data Source={Db};Pooling=False"))
        {
            await connection.OpenAsync();
            await using var tamper = connection.CreateCommand();
            tamper.CommandText = "UPDATE log SET payload = X'FF00FF00DEADBEEF' WHERE seq = 2 AND cid = (SELECT cid FROM components WHERE id = 'Till/bad')";
            Assert.Equal(1, await tamper.ExecuteNonQueryAsync());
        }

        var log = new RecordingLogger();
        await using (var store = SqliteLogStore.Open(Db))
        await using (var rt = Runtime(store, log))
        {
            var refused = await Assert.ThrowsAsync<ComponentQuarantinedException>(() => rt.Call<ITill>("bad", "bad-4").Pay(10));
            Assert.Contains("Till/bad is quarantined", refused.Message);
            Assert.Contains("corrupt", refused.Message);
            Assert.Contains("mw release Till/bad", refused.Message);
            // Refused again at once, with the same quarantine: the damaged log is not read on every request.
            var again = await Assert.ThrowsAsync<ComponentQuarantinedException>(() => rt.Call<ITill>("bad", "bad-5").Pay(10));
            Assert.Equal(refused.Quarantine, again.Quarantine);

            // The other component of the same store is untouched.
            Assert.Equal(40, await rt.Call<ITill>("good", "good-4").Pay(10));
            Assert.Equal(40, await rt.Call<ITill>("good", "good-4").Pay(10));

            var counts = rt.Counters.Snapshot();
            Assert.Equal(1, counts[(RuntimeCounters.Quarantine, FailureCause.Corrupt)]);
            Assert.Equal(1, counts[(RuntimeCounters.ActivationFailure, FailureCause.Corrupt)]);
            Assert.Equal(["Till/bad"], rt.Quarantined.Select(q => q.Component.ToString()));
        }

        Assert.Single(log.At(LogLevel.Error), m => m.Contains("Till/bad is quarantined"));

        // The quarantine is in the log (after the damaged record), so the next runtime refuses without reading it again.
        await using (var store = SqliteLogStore.Open(Db))
        {
            var records = await store.ReadAsync("Till/bad", 1, long.MaxValue);
            var control = RecordCodec.DecodeControl(Assert.Single(records, r => r.Kind == RecordKind.Control).Payload);
            Assert.Equal(ControlAction.Quarantine, control.Action);
            Assert.Contains("corrupt", control.Reason);
            await using var next = Runtime(store);
            await Assert.ThrowsAsync<ComponentQuarantinedException>(() => next.Call<ITill>("bad", "bad-4").Pay(10));
            Assert.False(next.Counters.Snapshot().ContainsKey((RuntimeCounters.ActivationFailure, FailureCause.Corrupt)));
        }
    }
}
