using Middleware.Grains;
using Middleware.Recovery.Log;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;
using Middleware.Tests.Admin;
using Middleware.Tests.Support;

namespace Middleware.Tests.Runtime;

/// <summary>
/// A component whose log does not replay with the current code is quarantined with its reason, recorded in its log:
/// it is not replayed again on every request (by this runtime or the next owner) until an operator releases it.
/// </summary>
public sealed class QuarantineTests
{
    private static readonly ComponentId Till = new("Till", "t1");

    private static LocalRuntime Runtime<TGrain>(ILogStore store, RecordingLogger? log = null)
        where TGrain : class, ITill, new() =>
        new(store, new ComponentRegistry().Add<ITill, TGrain>(), environment: new RuntimeEnvironment { Logger = log ?? new RecordingLogger() });

    private static async Task<ILogStore> StoreWithPaymentsAsync()
    {
        var store = new MemoryLogStore();
        await using var rt = Runtime<Till>(store);
        for (var i = 1; i <= 3; i++) await rt.Call<ITill>("t1", $"pay-{i}").Pay(10);
        return store;
    }

    [Fact]
    public async Task A_divergent_log_quarantines_the_component_once_and_its_requests_are_refused_without_replaying()
    {
        var store = await StoreWithPaymentsAsync();
        var log = new RecordingLogger();
        await using (var rt = Runtime<TillWithFee>(store, log))
        {
            var first = await Assert.ThrowsAsync<ComponentQuarantinedException>(() => rt.Call<ITill>("t1", "pay-4").Pay(10));
            Assert.Contains("divergence", first.Message);
            Assert.Contains("mw release Till/t1", first.Message);
            var second = await Assert.ThrowsAsync<ComponentQuarantinedException>(() => rt.Call<ITill>("t1", "pay-5").Pay(10));
            Assert.Equal(first.Quarantine, second.Quarantine);
            Assert.Equal(1, rt.Counters.Snapshot()[(RuntimeCounters.ActivationFailure, FailureCause.Divergence)]);
            Assert.Equal(1, rt.Counters.Snapshot()[(RuntimeCounters.Quarantine, FailureCause.Divergence)]);
            Assert.Equal([Till], rt.Quarantined.Select(q => q.Component));
        }

        Assert.Single(log.At(Microsoft.Extensions.Logging.LogLevel.Error), m => m.Contains("Till/t1 is quarantined"));
        var records = await store.ReadAsync("Till/t1", 1, long.MaxValue);
        var control = RecordCodec.DecodeControl(Assert.Single(records, r => r.Kind == RecordKind.Control).Payload);
        Assert.Equal(ControlAction.Quarantine, control.Action);
        Assert.NotNull(control.CodeVersion);

        // Another runtime with the same code reads the quarantine and refuses before replaying anything.
        await using (var next = Runtime<TillWithFee>(store))
        {
            await Assert.ThrowsAsync<ComponentQuarantinedException>(() => next.Call<ITill>("t1", "pay-4").Pay(10));
            Assert.False(next.Counters.Snapshot().ContainsKey((RuntimeCounters.ActivationFailure, FailureCause.Divergence)));
        }

        // The operator deploys the code that replays the log and releases it: it serves again, exactly once per request.
        await using var fixedRuntime = Runtime<Till>(store);
        await fixedRuntime.ReleaseAsync(Till, "mw@test", "the fee change was reverted");
        Assert.Equal(40, await fixedRuntime.Call<ITill>("t1", "pay-4").Pay(10));
        Assert.Equal(40, await fixedRuntime.Call<ITill>("t1", "pay-4").Pay(10));
    }

    [Fact]
    public async Task An_operator_quarantine_refuses_requests_until_the_release()
    {
        var store = await StoreWithPaymentsAsync();
        await using var rt = Runtime<Till>(store);
        Assert.Equal(40, await rt.Call<ITill>("t1", "pay-4").Pay(10));
        await rt.QuarantineAsync(Till, "mw@test", "investigating a complaint");
        var refused = await Assert.ThrowsAsync<ComponentQuarantinedException>(() => rt.Call<ITill>("t1", "pay-5").Pay(10));
        Assert.Contains("investigating a complaint", refused.Message);
        Assert.Null(refused.Quarantine.CodeVersion);

        await rt.ReleaseAsync(Till, "mw@test", "done");
        Assert.Equal(50, await rt.Call<ITill>("t1", "pay-5").Pay(10));
        var kinds = (await store.ReadAsync("Till/t1", 1, long.MaxValue)).Select(r => r.Kind).ToList();
        Assert.Equal([RecordKind.Turn, RecordKind.Turn, RecordKind.Turn, RecordKind.Turn, RecordKind.Control, RecordKind.Control, RecordKind.Turn], kinds);
    }

    [Fact]
    public async Task A_reset_supersedes_the_records_the_current_code_cannot_replay_and_the_component_serves_again()
    {
        var store = await StoreWithPaymentsAsync();
        await using var rt = Runtime<TillWithFee>(store);
        await Assert.ThrowsAsync<ComponentQuarantinedException>(() => rt.Call<ITill>("t1", "pay-4").Pay(10));

        // The fee changes every reply from seq 1: go back to the start and go on with the new code.
        var reset = await rt.ResetAsync(Till, 0, "mw@test", "the fee applies to every payment");
        Assert.Equal((ControlAction.Reset, 5L, 0L, 3), (reset.Action, reset.RecordSeq, reset.FromSeq, reset.Turns));
        Assert.Empty(rt.Quarantined);
        Assert.Equal(9, await rt.Call<ITill>("t1", "pay-4").Pay(10));
        // A retry of a superseded request is answered with what its caller was told; it does not run again.
        Assert.Equal(10, await rt.Call<ITill>("t1", "pay-1").Pay(10));
        Assert.Equal(9, await rt.Call<ITill>("t1", "pay-4").Pay(10));

        // The audit explains the history: superseded records are read, not replayed; the reset's checkpoint matches.
        var audit = await new Middleware.Inspection.Audit.AuditEngine(store, new ComponentRegistry().Add<ITill, TillWithFee>())
            .RunAsync(await store.ListComponentsAsync(), new Middleware.Inspection.Audit.AuditOptions { Mode = Middleware.Inspection.Audit.AuditMode.FromGenesis });
        Assert.Empty(audit.Divergences);
    }

    [Fact]
    public async Task Accepting_the_new_behaviour_replays_the_turns_with_the_new_code_and_records_how_many_replies_changed()
    {
        var store = await StoreWithPaymentsAsync();
        await using var rt = Runtime<TillWithFee>(store);
        // The fee changes the reply at seq 1 already: an accept from seq 2 would leave seq 1 unexplained.
        var tooLate = await Assert.ThrowsAsync<ReplayDivergenceException>(() => rt.AcceptAsync(Till, 2, "mw@test", "fee from seq 2"));
        Assert.Equal(1, tooLate.Seq);

        var accepted = await rt.AcceptAsync(Till, 1, "mw@test", "every payment carries the fee");
        Assert.Equal((ControlAction.Accept, 1L, 3, 3), (accepted.Action, accepted.FromSeq, accepted.Turns, accepted.ChangedReplies));
        Assert.Equal(36, await rt.Call<ITill>("t1", "pay-4").Pay(10)); // 3 x 9 accepted, then 9 more

        var control = RecordCodec.DecodeControl((await store.ReadAsync("Till/t1", accepted.RecordSeq, accepted.RecordSeq)).Single().Payload);
        Assert.Equal(("mw@test", 1L), (control.By, control.Seq));
        Assert.Contains("3 of 3 replies changed", control.Reason);

        // The audit with the new code accepts seqs 1-3 and checks the rest: clean.
        var audit = await new Middleware.Inspection.Audit.AuditEngine(store, new ComponentRegistry().Add<ITill, TillWithFee>())
            .RunAsync(await store.ListComponentsAsync(), new Middleware.Inspection.Audit.AuditOptions { Mode = Middleware.Inspection.Audit.AuditMode.FromGenesis });
        Assert.Empty(audit.Divergences);
    }
}
