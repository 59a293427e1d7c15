using System.Data.Common;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Middleware.Grains;
using Middleware.Recovery.Procedures;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;
using Middleware.Tests.Support;

namespace Middleware.Tests.Runtime;

/// <summary>
/// Failures of the environment are not outcomes: a back end that is not configured, that cannot be reached or whose
/// table is missing leaves the turn unrecorded (or in doubt), the caller gets a retryable error naming the cause, the
/// operator gets one log line and a counted cause, and once the environment is fixed the request runs exactly once.
/// What the component's own code decides (its exceptions, an idempotent abort) is still recorded.
/// </summary>
public sealed class EnvironmentFailureTests : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);
    private readonly string _dir = Directory.CreateTempSubdirectory("mw-env-").FullName;
    private readonly MemoryLogStore _store = new();
    private readonly RecordingLogger _log = new();

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private DbDataSource Ledger(bool withTable)
    {
        var source = SqliteFactory.Instance.CreateDataSource($"Data Source={Path.Combine(_dir, "ledger.db")};Pooling=False");
        if (withTable) CreateTable(source);
        return source;
    }

    private static void CreateTable(DbDataSource source)
    {
        using var connection = source.OpenConnection();
        using var command = connection.CreateCommand();
        command.CommandText = Poster.Table;
        command.ExecuteNonQuery();
    }

    private LocalRuntime Runtime(DbDataSource? ledger)
    {
        var environment = new RuntimeEnvironment { Logger = _log };
        if (ledger is not null) environment.Backends.Add("ledger", ledger, BackendDialect.Sqlite);
        return new LocalRuntime(_store, new ComponentRegistry().Add<IPoster, Poster>(), environment: environment);
    }

    [Fact]
    public async Task A_back_end_that_is_not_configured_is_not_recorded_and_runs_once_after_it_is()
    {
        await using (var rt = Runtime(ledger: null))
        {
            var e = await Assert.ThrowsAnyAsync<TurnNotDurableException>(() => rt.Call<IPoster>("p", "r1").Post("a", 1));
            Assert.Contains("No back end named 'ledger' is configured", e.Message);
            Assert.Contains("RuntimeEnvironment.Backends.Add(\"ledger\"", e.Message);
            Assert.Equal(1, rt.Counters.Snapshot()[(RuntimeCounters.TurnFailure, FailureCause.Backend)]);
        }

        Assert.Null(await _store.GetHeadAsync("Poster/p") is { LastSeq: > 0 } head ? head : null);
        Assert.Contains(_log.At(LogLevel.Warning), m => m.Contains("Poster/p") && m.Contains("r1") && m.Contains("backend"));

        await using var fixedRuntime = Runtime(Ledger(withTable: true));
        Assert.Equal(1, await fixedRuntime.Call<IPoster>("p", "r1").Post("a", 1));
        Assert.Equal(1, await fixedRuntime.Call<IPoster>("p", "r1").Post("a", 1));
        Assert.Equal(1, await fixedRuntime.Call<IPoster>("p", "read").Posted());
    }

    [Fact]
    public async Task A_missing_table_keeps_the_turn_in_doubt_with_its_cause_until_the_table_exists()
    {
        var ledger = Ledger(withTable: false);
        await using var rt = Runtime(ledger);
        var e = await Assert.ThrowsAsync<ComponentInDoubtException>(() => rt.Call<IPoster>("p", "r1").Post("a", 1).WaitAsync(Deadline));
        Assert.Contains("no such table", e.Message);
        // Retried in the background; each attempt is counted, but the operator reads one warning, not one per attempt.
        var again = await Assert.ThrowsAsync<ComponentInDoubtException>(() => rt.Call<IPoster>("p", "r1").Post("a", 1));
        Assert.Contains("no such table", again.Message);
        Assert.True(rt.Counters.Snapshot()[(RuntimeCounters.TurnFailure, FailureCause.Backend)] >= 2);
        Assert.Single(_log.At(LogLevel.Warning), m => m.Contains("in doubt"));

        CreateTable(ledger);
        var id = new ComponentId("Poster", "p");
        await Eventually.TrueAsync(() => !rt.HasTurnInDoubt(id), "the turn in doubt to be completed once the table existed", Deadline);
        Assert.Equal(1, await rt.Call<IPoster>("p", "r1").Post("a", 1));
        Assert.Contains(_log.At(LogLevel.Information), m => m.Contains("completed after"));
    }

    [Fact]
    public async Task An_exception_of_the_work_itself_is_the_component_s_outcome_and_is_recorded()
    {
        await using var rt = Runtime(Ledger(withTable: true));
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => rt.Call<IPoster>("p", "r1").PostBuggy("a"));
        Assert.Contains("bug in the work", e.Message);
        // Recorded: the retry gets the same error without running anything, and nothing was counted as an outage.
        var again = await Assert.ThrowsAsync<InvalidOperationException>(() => rt.Call<IPoster>("p", "r1").PostBuggy("a"));
        Assert.Equal(e.Message, again.Message);
        Assert.DoesNotContain(rt.Counters.Snapshot().Keys, k => k.Kind == RuntimeCounters.TurnFailure);
        Assert.Equal(0, await rt.Call<IPoster>("p", "read").Posted());
    }
}
