using Microsoft.Extensions.Logging;
using Middleware.Grains;
using Middleware.Recovery.Log;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;

namespace Middleware.Silo;

/// <summary>
/// Completes the turns in doubt a dead silo left behind, without waiting for a client to retry them: a silo killed
/// together with its client leaves partial records nobody will ever resend. Each sweep lists the components whose log
/// ends in a partial record (one store query) and activates here those this silo should own: the ones it owns already
/// (a restart under the same id), and those whose owner is no live silo and whose rendezvous choice among the live
/// silos is this one, so every silo takes its share and no two race for one. Activation completes the turn before
/// anything else (<see cref="LocalRuntime.CompleteTurnsInDoubtAsync"/>). Sweeps run after the silo joins, whenever
/// the view loses silos, and every <see cref="Period"/> as a safety net; triggers that arrive during a sweep coalesce
/// into one more.
/// </summary>
internal sealed class InDoubtSweeper(LocalRuntime runtime, ClusterMembership membership, ILogger logger) : IAsyncDisposable
{
    /// <summary>The safety-net period between sweeps when nothing triggers one.</summary>
    public static readonly TimeSpan Period = TimeSpan.FromSeconds(30);

    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _wake = new(0, 1);
    private Task? _loop;

    /// <summary>Sweeps completed so far (tests, metrics).</summary>
    public long Sweeps { get; private set; }

    /// <summary>Turns in doubt this silo completed by sweeping.</summary>
    public long Completed { get; private set; }

    /// <summary>Starts the loop with a first sweep at once, and sweeps again whenever silos leave the view.</summary>
    public void Start()
    {
        membership.SilosGone += _ => Trigger();
        _loop = Task.Run(LoopAsync, CancellationToken.None);
        Trigger();
    }

    /// <summary>Asks for a sweep soon (one more after the current one, if a sweep is running).</summary>
    public void Trigger()
    {
        try
        {
            if (_wake.CurrentCount == 0) _wake.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already triggered.
        }
    }

    private async Task LoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await _wake.WaitAsync(Period, _stop.Token).ConfigureAwait(false);
                await SweepAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                logger.LogWarning("Silo {SiloId}: the sweep for turns in doubt failed ({Reason}); it runs again within {Period}", membership.SiloId, e.Message, Period);
            }
        }
    }

    private async Task SweepAsync(CancellationToken cancellationToken)
    {
        var self = membership.SiloId;
        var sweep = await runtime.CompleteTurnsInDoubtAsync(head => ShouldTake(head, self), cancellationToken).ConfigureAwait(false);
        Sweeps++;
        Completed += sweep.Completed;
        if (sweep.Completed > 0 || sweep.StillInDoubt > 0)
        {
            logger.LogInformation("Silo {SiloId}: completed {Completed} turn(s) in doubt left in the log; {Pending} still wait for a back end or callee",
                self, sweep.Completed, sweep.StillInDoubt);
        }

        foreach (var failure in sweep.Failures)
            logger.LogWarning("Silo {SiloId}: a turn in doubt could not be completed: {Failure}", self, failure);
    }

    /// <summary>Owned here already, or owned by no live silo and placed here by rendezvous.</summary>
    private bool ShouldTake(ComponentHead head, string self)
    {
        if (runtime.IsActive(ComponentId.Parse(head.ComponentId))) return false;
        if (head.Owner == self) return true;
        if (head.Owner is { } owner && membership.Find(owner) is not null) return false;
        return Rendezvous.Pick(head.ComponentId, membership.Live)?.SiloId == self;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            try
            {
                await _loop.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Stopped.
            }
        }

        _stop.Dispose();
    }
}
