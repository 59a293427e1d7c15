using Middleware.Grains;
using Middleware.Recovery.Log;

namespace Middleware.Recovery.Runtime;

/// <summary>
/// Components whose activation broke on a store failure (an outage, an uncertain commit): a partial record may now be
/// the last one in their log, and if the client gave up, nobody would ever send the request that completes it. The
/// watch looks at each one again with backoff until the store answers: when its last record is a partial turn, it
/// activates the component (which completes the turn first); otherwise it forgets it. It gives up on a component
/// owned by another live silo (that owner completes it) and after <see cref="GiveUpAfter"/> without a store answer
/// (the silo's in-doubt sweep, or the next request, takes over from there).
/// </summary>
internal sealed class InDoubtWatch(Func<ComponentId, CancellationToken, Task> activate, Func<ComponentId, CancellationToken, Task<bool>> endsInPartial, TimeProvider time, CancellationToken stopping)
{
    private static readonly TimeSpan FirstLook = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan GiveUpAfter = TimeSpan.FromMinutes(10);
    private readonly HashSet<ComponentId> _watched = [];

    /// <summary>Components being watched now (tests, metrics).</summary>
    public int Count
    {
        get
        {
            lock (_watched) return _watched.Count;
        }
    }

    /// <summary>Starts watching <paramref name="id"/> unless it is watched already.</summary>
    public void Note(ComponentId id)
    {
        lock (_watched)
        {
            if (!_watched.Add(id)) return;
        }

        _ = Task.Run(() => WatchAsync(id), CancellationToken.None);
    }

    private async Task WatchAsync(ComponentId id)
    {
        var delay = FirstLook;
        var until = time.GetUtcNow() + GiveUpAfter;
        try
        {
            while (time.GetUtcNow() < until && !stopping.IsCancellationRequested)
            {
                await Task.Delay(delay, time, stopping).ConfigureAwait(false);
                try
                {
                    if (await endsInPartial(id, stopping).ConfigureAwait(false)) await activate(id, stopping).ConfigureAwait(false);
                    return;
                }
                catch (ComponentOwnedElsewhereException)
                {
                    return; // its live owner completes the turn
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // The store (or a back end the turn needs) is still down: look again later.
                    delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxWait.Ticks));
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The runtime is stopping; the partial record stays for the next activation.
        }
        finally
        {
            lock (_watched) _watched.Remove(id);
        }
    }

    /// <summary>True when the last record of <paramref name="componentId"/> in <paramref name="store"/> is a partial turn.</summary>
    public static async Task<bool> EndsInPartialAsync(Storage.ILogStore store, string componentId, CancellationToken cancellationToken)
    {
        var head = await store.GetHeadAsync(componentId, cancellationToken).ConfigureAwait(false);
        if (head is null || head.LastSeq == 0) return false;
        var last = await store.ReadAsync(componentId, head.LastSeq, head.LastSeq, cancellationToken).ConfigureAwait(false);
        return last.Count == 1 && last[0].Kind == RecordKind.PartialTurn;
    }
}
