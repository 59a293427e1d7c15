using System.Collections.Concurrent;
using Middleware.Core;
using Middleware.Grains;

namespace Middleware.TestComponents;

/// <summary>Components that call each other from separate requests: call deadlines and deadlocks.</summary>
public interface IPeer : IRecoverableComponent
{
    /// <summary>
    /// Waits <paramref name="delayMs"/> and the gate <paramref name="gate"/> ("" for none), then calls
    /// <c>Work(<paramref name="workGate"/>)</c> on peer <paramref name="peer"/> with a deadline of
    /// <paramref name="timeoutMs"/> (0: the runtime's); returns and keeps "reply:N", or "TypeName:message" for a call
    /// that passed its deadline or broke a deadlock.
    /// </summary>
    Task<string> CallPeer(string peer, int delayMs, string gate, string workGate, int timeoutMs);

    /// <summary>Waits the gate <paramref name="gate"/> ("" for none), counts one piece of work and returns the count.</summary>
    Task<long> Work(string gate);

    /// <summary>Calls <c>Work(<paramref name="gate"/>)</c> on peer <paramref name="peer"/>: this component waits on a call meanwhile.</summary>
    Task<long> Forward(string peer, string gate);

    /// <summary>The state.</summary>
    [ReadOnlyTurn]
    Task<PeerState> Read();
}

/// <summary>What a peer keeps.</summary>
public sealed class PeerState
{
    /// <summary>Pieces of work done.</summary>
    public long Worked { get; set; }

    /// <summary>The outcomes of <see cref="IPeer.CallPeer"/>, in order.</summary>
    public List<string> Outcomes { get; set; } = [];
}

/// <summary>The peer.</summary>
public sealed class Peer : RecoverableGrain<PeerState>, IPeer
{
    /// <inheritdoc />
    public async Task<string> CallPeer(string peer, int delayMs, string gate, string workGate, int timeoutMs)
    {
        if (delayMs > 0) await Task.Delay(delayMs).ConfigureAwait(false);
        await PeerGates.PassAsync(gate).ConfigureAwait(false);
        var callee = timeoutMs > 0 ? Context.Call<IPeer>(peer, TimeSpan.FromMilliseconds(timeoutMs)) : Context.Call<IPeer>(peer);
        string outcome;
        try
        {
            outcome = "reply:" + await callee.Work(workGate).ConfigureAwait(false);
        }
        catch (Exception e) when (e is CallTimeoutException or DeadlockException)
        {
            outcome = e.GetType().Name + ":" + e.Message;
        }

        State.Outcomes.Add(outcome);
        return outcome;
    }

    /// <inheritdoc />
    public async Task<long> Work(string gate)
    {
        await PeerGates.PassAsync(gate).ConfigureAwait(false);
        return ++State.Worked;
    }

    /// <inheritdoc />
    public Task<long> Forward(string peer, string gate) => Context.Call<IPeer>(peer).Work(gate);

    /// <inheritdoc />
    public Task<PeerState> Read() => Task.FromResult(State);
}

/// <summary>
/// Gates a test opens: a turn waits at one until it is open; replay finds them open. A plain name is a gate in this
/// process. A name <c>file:PATH</c> is a gate a test opens in a silo process: a turn that reaches it creates a file
/// <c>PATH.arrived.*</c> (so the test can see it hold its component) and waits until the file <c>PATH</c> exists; the test
/// keeps PATH's directory until the silos are gone, so a replay finds the gate open too.
/// </summary>
public static class PeerGates
{
    /// <summary>The prefix of a gate shared with another process through a file.</summary>
    public const string FilePrefix = "file:";

    private static readonly ConcurrentDictionary<string, (TaskCompletionSource Open, int Arrived)> Gates = new(StringComparer.Ordinal);
    private static int _fileArrivals;

    /// <summary>Waits until <paramref name="name"/> is open ("" passes at once).</summary>
    public static Task PassAsync(string name)
    {
        if (name.Length == 0) return Task.CompletedTask;
        if (name.StartsWith(FilePrefix, StringComparison.Ordinal)) return PassFileAsync(name[FilePrefix.Length..]);
        var gate = Gates.AddOrUpdate(name, _ => (new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), 1), (_, g) => (g.Open, g.Arrived + 1));
        return gate.Open.Task;
    }

    private static async Task PassFileAsync(string path)
    {
        File.WriteAllText($"{path}.arrived.{Environment.ProcessId}-{Interlocked.Increment(ref _fileArrivals)}", "");
        // Looked for, not watched: an inotify watcher per gate could use up the user's inotify instances on a box running
        // many silos; the test opens the gate once, so a look every 10 ms costs nothing that matters.
        while (!File.Exists(path)) await Task.Delay(10).ConfigureAwait(false);
    }

    /// <summary>How many turns reached <paramref name="name"/>.</summary>
    public static int Arrived(string name) => Gates.TryGetValue(name, out var gate) ? gate.Arrived : 0;

    /// <summary>Opens <paramref name="name"/>: every turn waiting there goes on, and later ones pass.</summary>
    public static void Open(string name) =>
        Gates.AddOrUpdate(name, _ => (new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), 0), (_, g) => g).Open.TrySetResult();
}
