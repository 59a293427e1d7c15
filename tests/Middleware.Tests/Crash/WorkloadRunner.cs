using System.Collections.Concurrent;
using Bank.Demo;

namespace Middleware.Tests.Crash;

/// <summary>
/// When to kill the host: once this many requests are acknowledged, after an extra delay. With
/// <paramref name="Times"/> &gt; 1 the restarted host is killed again the same delay after it got ready,
/// i.e. while it is still recovering and answering the resent requests.
/// </summary>
public sealed record KillPlan(long AfterAcks, TimeSpan ExtraDelay, int Times = 1);

/// <summary>
/// Drives a list of requests through a <see cref="HostSupervisor"/> with a fixed number in flight, kills
/// and restarts the host at the planned points, and keeps every acknowledged reply. Requests that were
/// in flight at a kill are resent with their same id by the supervisor, so when <see cref="RunAsync"/>
/// returns every request has exactly one acknowledged outcome.
/// </summary>
public sealed class WorkloadRunner(HostSupervisor supervisor, int concurrency)
{
    private readonly ConcurrentDictionary<string, Acknowledged> _acknowledged = new(StringComparer.Ordinal);
    private readonly List<Task> _restarts = [];
    private long _acks;
    private int _inFlight;

    /// <summary>
    /// Called after each restart with the number of requests acknowledged when the kill was sent and when
    /// the new host was ready. They differ by the replies the old host had already written to its stdout
    /// pipe before it died: those are genuine acknowledgements and are still delivered.
    /// </summary>
    public Action<RestartInfo, long, long>? OnRestart { get; init; }

    /// <summary>Every acknowledged request by id.</summary>
    public IReadOnlyDictionary<string, Acknowledged> Acknowledged => _acknowledged;

    /// <summary>Requests acknowledged so far.</summary>
    public long AckCount => Interlocked.Read(ref _acks);

    /// <summary>Requests sent and not acknowledged yet.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>Runs <paramref name="requests"/> (unique ids) to completion, killing the host per <paramref name="kills"/>.</summary>
    /// <exception cref="HostDiedException">The host died on its own; the rest of the run is cancelled.</exception>
    public async Task RunAsync(IReadOnlyList<HostRequest> requests, IReadOnlyList<KillPlan> kills, CancellationToken cancellationToken)
    {
        var killAt = kills.ToDictionary(k => k.AfterAcks + AckCount);
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var slots = new SemaphoreSlim(concurrency, concurrency);
        var sends = new List<Task>(requests.Count);
        foreach (var request in requests)
        {
            await slots.WaitAsync(failed.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            if (failed.IsCancellationRequested) break; // a send or restart failed (or time ran out): stop sending
            sends.Add(SendOneAsync(request, killAt, slots, failed));
        }

        // Wait for everything to settle first, then surface the first real failure (cancellations that
        // merely followed it are not reported in its place).
        await Task.WhenAll(sends).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        Task[] restarts;
        lock (_restarts) restarts = [.. _restarts];
        await Task.WhenAll(restarts).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await Task.WhenAll([.. restarts, .. sends]).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
    }

    private async Task SendOneAsync(HostRequest request, Dictionary<long, KillPlan> killAt, SemaphoreSlim slots, CancellationTokenSource failed)
    {
        Interlocked.Increment(ref _inFlight);
        try
        {
            var reply = await supervisor.SendAsync(request, failed.Token).ConfigureAwait(false);
            if (!_acknowledged.TryAdd(request.RequestId, new Acknowledged(request, reply)))
                throw new InvalidOperationException($"Request id {request.RequestId} was sent twice in one workload; ids must be unique.");
            var n = Interlocked.Increment(ref _acks);
            if (killAt.TryGetValue(n, out var plan))
            {
                lock (_restarts) _restarts.Add(KillAsync(plan, failed));
            }
        }
        catch (Exception) when (!failed.IsCancellationRequested)
        {
            await failed.CancelAsync().ConfigureAwait(false);
            throw;
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
            slots.Release();
        }
    }

    private async Task KillAsync(KillPlan plan, CancellationTokenSource failed)
    {
        try
        {
            for (var i = 0; i < plan.Times; i++)
            {
                if (plan.ExtraDelay > TimeSpan.Zero) await Task.Delay(plan.ExtraDelay, failed.Token).ConfigureAwait(false);
                var ackCount = AckCount; // acks keep arriving until the kill lands, so this is the count at the kill
                var info = await supervisor.KillAndRestartAsync().ConfigureAwait(false);
                OnRestart?.Invoke(info, ackCount, AckCount);
            }
        }
        catch (Exception) when (!failed.IsCancellationRequested)
        {
            await failed.CancelAsync().ConfigureAwait(false);
            throw;
        }
    }
}
