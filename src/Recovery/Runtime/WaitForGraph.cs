using Middleware.Core;
using Middleware.Grains;

namespace Middleware.Recovery.Runtime;

/// <summary>
/// The wait-for edges of one runtime, for deadlock detection across separate requests (docs/ARCHITECTURE.md, "Call
/// deadlines and deadlocks"). An edge says: component <c>Waiter</c>'s running turn waits on a call to <c>Target</c>.
/// Turns are not reentrant and hold their component while they wait, so the component a call waits on is held by its
/// running turn, and a cycle of edges is a deadlock. (A cycle within one call chain never gets here: the caller refuses
/// it first with <see cref="CallCycleException"/>.)
/// <list type="bullet">
/// <item>Within this runtime, a cycle is checked when an edge is added: the new edge closes it, so its waiter is the
/// youngest, and it is broken at once.</item>
/// <item>When the edges followed from a new edge lead to a component this runtime does not hold, the edge starts a probe
/// (edge chasing, after Chandy-Misra-Haas): the owner of that component follows its edges and asks on along them
/// (<see cref="IComponentCaller.ProbeAsync"/>), and the edges found come back. When they lead back to the waiter, the
/// edges form a cycle; only the youngest edge in it (latest wait start, then waiter id) breaks itself, so every silo
/// that finds the same cycle picks the same victim. A probe repeats while the edge stands.</item>
/// </list>
/// Breaking an edge completes its <see cref="Edge.Deadlock"/>; <see cref="CallDeadlines"/> then fences the call's
/// request id and records the <see cref="DeadlockException"/> as the call's outcome.
/// </summary>
/// <param name="isLocal">Whether the component with this id text is held by this runtime.</param>
/// <param name="time">The runtime's clock.</param>
/// <param name="stopping">Ends the probe sweep.</param>
/// <param name="isLocalId">The same question for an id a call already has (no parse of its text), or null to ask <paramref name="isLocal"/>.</param>
internal sealed class WaitForGraph(Func<string, bool> isLocal, TimeProvider time, CancellationToken stopping, Func<ComponentId, bool>? isLocalId = null)
{
    /// <summary>How long an edge that leaves this runtime waits before its first probe (most calls end sooner).</summary>
    internal static TimeSpan FirstProbeAfter { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>How often a standing edge probes again.</summary>
    internal static TimeSpan ProbeEvery { get; set; } = TimeSpan.FromSeconds(1);

    private const int MaxEdges = 1024;
    private readonly object _sync = new();
    private int _sweeping;
    private readonly Dictionary<string, List<Edge>> _out = new(StringComparer.Ordinal);
    // A waiter's list emptied by Remove, kept for the next waiter (most turns wait on one call at a time, so each call would
    // otherwise make a list and its array); only touched under _sync, and referenced by nothing else once out of _out.
    private List<Edge>? _spare;

    /// <summary>Asks other silos to follow edges (null: this runtime is alone, every component is local).</summary>
    public IComponentCaller? Remote { get; set; }

    /// <summary>Edges standing now (tests, diagnostics).</summary>
    public int Count
    {
        get
        {
            lock (_sync) return _out.Values.Sum(l => l.Count);
        }
    }

    /// <summary>Whether a turn of <paramref name="component"/> waits on a call now.</summary>
    public bool IsWaiting(string component)
    {
        lock (_sync) return _out.ContainsKey(component);
    }

    /// <summary>One standing wait.</summary>
    /// <param name="info">The wait.</param>
    /// <param name="signal">Also told when the wait is broken (the call's own <see cref="CallWait"/>), or null.</param>
    internal sealed class Edge(WaitEdge info, TaskCompletionSource<DeadlockException?>? signal = null)
    {
        // Made when asked for or when broken: a call's wait is told through its signal, so most edges never need one.
        private TaskCompletionSource<DeadlockException>? _deadlock;

        public WaitEdge Info { get; } = info;

        /// <summary>Completes when this wait was chosen to break a deadlock.</summary>
        public Task<DeadlockException> Deadlock => Source.Task;

        private TaskCompletionSource<DeadlockException> Source =>
            _deadlock ?? Interlocked.CompareExchange(ref _deadlock, new(TaskCreationOptions.RunContinuationsAsynchronously), null) ?? _deadlock;

        public bool Removed { get; set; }

        /// <summary>Its waits lead out of this runtime: probed by the sweep.</summary>
        public bool Leaves { get; set; }

        /// <summary>When it was last probed (UTC ticks; 0: never).</summary>
        public long ProbedTicks { get; set; }

        public void Break(IReadOnlyList<WaitEdge> cycle)
        {
            var e = new DeadlockException(cycle.Select(e => e.Waiter).ToList(), Info.RequestId);
            signal?.TrySetResult(e);
            Source.TrySetResult(e);
        }
    }

    /// <summary>
    /// Adds the edge <paramref name="waiter"/> → <paramref name="target"/> and checks for a cycle (see the class summary);
    /// breaking it completes <paramref name="signal"/> too, when given.
    /// </summary>
    public Edge Add(string waiter, string requestId, string target, TaskCompletionSource<DeadlockException?>? signal = null) =>
        Add(waiter, requestId, target, null, signal);

    /// <summary><see cref="Add(string, string, string, TaskCompletionSource{DeadlockException?}?)"/> for a call whose target id is at hand (<paramref name="targetId"/>, whose text is <paramref name="target"/>).</summary>
    public Edge Add(string waiter, string requestId, string target, ComponentId? targetId, TaskCompletionSource<DeadlockException?>? signal)
    {
        var edge = new Edge(new WaitEdge(waiter, requestId, target, time.GetUtcNow().UtcTicks), signal);
        List<WaitEdge>? cycle;
        bool leaves;
        lock (_sync)
        {
            if (!_out.TryGetValue(waiter, out var list))
            {
                _out[waiter] = list = _spare ?? [];
                _spare = null;
            }

            list.Add(edge);
            if (!_out.ContainsKey(target))
            {
                // The usual case: the callee waits on nothing here, so no cycle closes here (no allocation).
                cycle = null;
                leaves = targetId is { } id && isLocalId is not null ? !isLocalId(id) : !isLocal(target);
            }
            else
            {
                var reachable = FollowLocal(target, new HashSet<string>(StringComparer.Ordinal), out leaves);
                cycle = CycleThrough(edge.Info, reachable);
            }

            edge.Leaves = leaves && cycle is null;
        }

        if (cycle is not null) edge.Break(cycle); // all of it here, and this edge closed it: the youngest waiter
        else if (leaves && Remote is not null && Interlocked.Exchange(ref _sweeping, 1) == 0) _ = SweepAsync();
        return edge;
    }

    /// <summary>The wait ended (its call returned, timed out or was broken).</summary>
    public void Remove(Edge edge)
    {
        lock (_sync)
        {
            edge.Removed = true;
            if (!_out.TryGetValue(edge.Info.Waiter, out var list)) return;
            list.Remove(edge);
            if (list.Count == 0)
            {
                _out.Remove(edge.Info.Waiter);
                _spare = list;
            }
        }
    }

    /// <summary>
    /// A probe that reached this runtime: the edges from <paramref name="component"/> on, followed here and asked on at
    /// the owners of the components they lead to (never for <paramref name="component"/> itself, whose owner was asked).
    /// </summary>
    public async Task<IReadOnlyList<WaitEdge>> FollowAsync(string component, IReadOnlyCollection<string> visited, bool askRemoteForStart, CancellationToken cancellationToken)
    {
        // The asker put the component it asks about among the visited ones: follow it here all the same.
        var seen = new HashSet<string>(visited, StringComparer.Ordinal);
        seen.Remove(component);
        var found = new List<WaitEdge>();
        var queue = new Queue<string>();
        queue.Enqueue(component);
        while (queue.Count > 0 && found.Count < MaxEdges)
        {
            var next = queue.Dequeue();
            if (!seen.Add(next)) continue;
            List<WaitEdge> edges;
            lock (_sync) edges = _out.TryGetValue(next, out var list) ? list.Select(e => e.Info).ToList() : [];
            if (edges.Count == 0)
            {
                if (isLocal(next) || Remote is not { } remote || (next == component && !askRemoteForStart)) continue;
                IReadOnlyList<WaitEdge> far;
                try
                {
                    far = await remote.ProbeAsync(ComponentId.Parse(next), seen.ToList(), cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    continue; // the owner cannot be asked now: the next probe tries again, the deadline bounds the wait
                }

                foreach (var edge in far)
                {
                    found.Add(edge);
                    seen.Add(edge.Waiter);
                }

                continue;
            }

            foreach (var edge in edges)
            {
                found.Add(edge);
                queue.Enqueue(edge.Target);
            }
        }

        return found;
    }

    /// <summary>
    /// One loop per runtime, started by the first edge that leaves it: every <see cref="FirstProbeAfter"/>, probes each
    /// leaving edge older than that and not probed for <see cref="ProbeEvery"/> (most calls end before their first probe).
    /// </summary>
    private async Task SweepAsync()
    {
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(FirstProbeAfter, time, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            var now = time.GetUtcNow().UtcTicks;
            List<Edge> due;
            lock (_sync)
            {
                due = _out.Values.SelectMany(l => l).Where(e => e.Leaves && now - e.Info.SinceTicks >= FirstProbeAfter.Ticks && now - e.ProbedTicks >= ProbeEvery.Ticks).ToList();
                foreach (var edge in due) edge.ProbedTicks = now;
            }

            if (due.Count > 0) await Task.WhenAll(due.Select(ProbeAsync)).ConfigureAwait(false);
        }
    }

    /// <summary>Follows <paramref name="edge"/> across runtimes; breaks it when it is the youngest edge of a cycle through it.</summary>
    private async Task ProbeAsync(Edge edge)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
            timeout.CancelAfter(TimeSpan.FromSeconds(5));
            var reachable = await FollowAsync(edge.Info.Target, [edge.Info.Waiter], askRemoteForStart: true, timeout.Token).ConfigureAwait(false);
            if (!edge.Removed && CycleThrough(edge.Info, reachable) is { } cycle && Youngest(cycle) == edge.Info) edge.Break(cycle);
        }
        catch (Exception)
        {
            // A probe that failed proves nothing; the next sweep tries again, and the deadline bounds the wait.
        }
    }

    /// <summary>The local edges reachable from <paramref name="start"/> (caller holds the lock); <paramref name="leaves"/>: one leads to a component not held here.</summary>
    private List<WaitEdge> FollowLocal(string start, HashSet<string> seen, out bool leaves)
    {
        leaves = false;
        var found = new List<WaitEdge>();
        var queue = new Queue<string>();
        queue.Enqueue(start);
        while (queue.Count > 0 && found.Count < MaxEdges)
        {
            var next = queue.Dequeue();
            if (!seen.Add(next)) continue;
            if (!_out.TryGetValue(next, out var list) || list.Count == 0)
            {
                if (!isLocal(next)) leaves = true;
                continue;
            }

            foreach (var edge in list)
            {
                found.Add(edge.Info);
                queue.Enqueue(edge.Info.Target);
            }
        }

        return found;
    }

    /// <summary>A cycle that starts with <paramref name="first"/> and returns to its waiter through <paramref name="edges"/>, in wait order; null when none.</summary>
    internal static List<WaitEdge>? CycleThrough(WaitEdge first, IReadOnlyList<WaitEdge> edges)
    {
        var byWaiter = edges.GroupBy(e => e.Waiter, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);
        var path = new List<WaitEdge> { first };
        var onPath = new HashSet<string>(StringComparer.Ordinal) { first.Waiter };
        return Search(first.Target) ? path : null;

        bool Search(string at)
        {
            if (at == first.Waiter) return true;
            if (!onPath.Add(at)) return false;
            if (byWaiter.TryGetValue(at, out var outs))
            {
                foreach (var edge in outs)
                {
                    path.Add(edge);
                    if (Search(edge.Target)) return true;
                    path.RemoveAt(path.Count - 1);
                }
            }

            return false;
        }
    }

    /// <summary>The victim of a cycle: the edge whose wait started last (ties: the greater waiter id, then request id).</summary>
    internal static WaitEdge Youngest(IReadOnlyList<WaitEdge> cycle) =>
        cycle.OrderByDescending(e => e.SinceTicks).ThenByDescending(e => e.Waiter, StringComparer.Ordinal).ThenByDescending(e => e.RequestId, StringComparer.Ordinal).First();
}
