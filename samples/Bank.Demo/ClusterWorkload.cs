using System.Collections.Concurrent;
using System.Diagnostics;
using Middleware.Client;

namespace Bank.Demo;

/// <summary>
/// Drives the bank workload through the client SDK: <c>concurrency</c> workers, each with one request in flight, every
/// request with a fresh id of the client's session, until the duration has passed. It keeps every outcome the client
/// learned, the requests whose call gave up (cluster unavailable or timed out: to be resolved by an outcome query), and
/// the figures of the client-observed pause.
/// </summary>
public sealed class ClusterWorkload(MiddlewareClient client, BankWorkload workload, int concurrency, int seed)
{
    private readonly ConcurrentQueue<BankOutcome> _outcomes = new();
    private readonly ConcurrentQueue<BankRequest> _unresolved = new();
    private readonly ConcurrentQueue<string> _unexpected = new();
    private readonly long[] _touches = new long[workload.Accounts.Count];
    private readonly Stopwatch _clock = new();
    private long _completed;
    private long _refused;
    private int _inFlight;

    /// <summary>Gaps between successful completions, slowest requests, recovery after kills.</summary>
    public PauseTracker Pauses { get; } = new();

    /// <summary>Time since <see cref="RunAsync"/> started.</summary>
    public TimeSpan Elapsed => _clock.Elapsed;

    /// <summary>Requests answered (OK or a recorded error).</summary>
    public long Completed => Interlocked.Read(ref _completed);

    /// <summary>Requests answered with a recorded error (overdraft).</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Requests waiting for their reply now.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>Every answered request.</summary>
    public IReadOnlyCollection<BankOutcome> Outcomes => _outcomes;

    /// <summary>Requests whose call gave up; their outcome is unknown until queried.</summary>
    public IReadOnlyCollection<BankRequest> Unresolved => _unresolved;

    /// <summary>Failures the demo does not expect (not an overdraft, not unavailability): each makes the run fail.</summary>
    public IReadOnlyCollection<string> Unexpected => _unexpected;

    /// <summary>Answered requests that touched each account so far (by <see cref="BankWorkload.IndexOf"/>).</summary>
    public long TouchesOf(string account) => Interlocked.Read(ref _touches[workload.IndexOf(account)]);

    /// <summary>Runs the workers until <paramref name="duration"/> has passed (requests in flight then are finished).</summary>
    public async Task RunAsync(TimeSpan duration, CancellationToken cancellationToken)
    {
        _clock.Start();
        Pauses.Start(_clock);
        var workers = Enumerable.Range(0, concurrency)
            .Select(w => Task.Run(() => WorkAsync(new Random(unchecked((seed * 7919) + w)), duration, cancellationToken), cancellationToken))
            .ToArray();
        await Task.WhenAll(workers).ConfigureAwait(false);
    }

    private async Task WorkAsync(Random random, TimeSpan duration, CancellationToken cancellationToken)
    {
        while (_clock.Elapsed < duration)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var request = workload.Next(random, client.NextRequestId());
            var started = _clock.Elapsed;
            Interlocked.Increment(ref _inFlight);
            HostReply? reply = null;
            try
            {
                reply = await SendAsync(request).ConfigureAwait(false);
            }
            catch (InsufficientFundsException e)
            {
                // The component refused: a recorded outcome, which a retry of this id would get again.
                reply = new HostReply(request.RequestId, ReplyKind.Error, 0, typeof(InsufficientFundsException).FullName, OneLine(e.Message));
                Interlocked.Increment(ref _refused);
            }
            catch (Exception e) when (e is ClusterUnavailableException or TimeoutException)
            {
                // It may or may not have run: the outcome query after the run decides (and fences it if it did not).
                _unresolved.Enqueue(request);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                _unexpected.Enqueue($"{request}: {e.GetType().Name}: {e.Message}");
                _unresolved.Enqueue(request);
            }
            finally
            {
                Interlocked.Decrement(ref _inFlight);
            }

            if (reply is null) continue;
            var finished = _clock.Elapsed;
            _outcomes.Enqueue(new BankOutcome(request, reply));
            Interlocked.Increment(ref _completed);
            Interlocked.Increment(ref _touches[workload.IndexOf(request.Account)]);
            if (request.To is { } to) Interlocked.Increment(ref _touches[workload.IndexOf(to)]);
            Pauses.Completed(request, started, finished);
        }
    }

    private async Task<HostReply> SendAsync(BankRequest request)
    {
        var id = request.RequestId;
        var result = request.Operation switch
        {
            BankOperation.Deposit => await client.Call<IAccount>(request.Account, id).Deposit(request.Amount).ConfigureAwait(false),
            BankOperation.Withdraw => await client.Call<IAccount>(request.Account, id).Withdraw(request.Amount).ConfigureAwait(false),
            _ => await client.Call<ITeller>(request.Teller!, id).Transfer(request.Account, request.To!, request.Amount).ConfigureAwait(false),
        };
        return new HostReply(id, ReplyKind.Ok, result);
    }

    /// <summary>Messages compare in the one-line form the log verifier uses.</summary>
    internal static string OneLine(string? text) => (text ?? string.Empty).Replace('\r', ' ').Replace('\n', ' ');
}

/// <summary>
/// What the client saw of pauses: the longest gap between two consecutive successful completions (across all workers),
/// the slowest single request, and per kill how long until the first request needing a component of the killed silo
/// was answered.
/// </summary>
public sealed class PauseTracker
{
    private readonly object _gate = new();
    private readonly List<KillWatch> _kills = [];
    private Stopwatch _clock = new();
    private TimeSpan _last;
    private TimeSpan _longestGap;
    private TimeSpan _longestGapEnd;
    private TimeSpan _slowest;
    private BankRequest? _slowestRequest;
    private TimeSpan _slowestEnd;

    /// <summary>The longest gap between consecutive successful completions, and when it ended (run time).</summary>
    public (TimeSpan Gap, TimeSpan EndedAt) LongestGap
    {
        get
        {
            lock (_gate) return (_longestGap, _longestGapEnd);
        }
    }

    /// <summary>The slowest answered request, its latency and when it was answered.</summary>
    public (TimeSpan Latency, BankRequest? Request, TimeSpan EndedAt) Slowest
    {
        get
        {
            lock (_gate) return (_slowest, _slowestRequest, _slowestEnd);
        }
    }

    /// <summary>Time since the last successful completion.</summary>
    public TimeSpan SinceLastCompletion
    {
        get
        {
            lock (_gate) return _clock.Elapsed - _last;
        }
    }

    /// <summary>The kills so far with their recovery figures.</summary>
    public IReadOnlyList<KillWatch> Kills
    {
        get
        {
            lock (_gate) return [.. _kills];
        }
    }

    /// <summary>Binds the tracker to the run's clock.</summary>
    internal void Start(Stopwatch clock)
    {
        lock (_gate)
        {
            _clock = clock;
            _last = clock.Elapsed;
        }
    }

    /// <summary>Starts watching for the first answer that needed one of <paramref name="components"/> (owned by the silo killed at <paramref name="at"/>).</summary>
    public KillWatch Kill(string siloId, IReadOnlySet<string> components, TimeSpan at)
    {
        var watch = new KillWatch(siloId, components, at);
        lock (_gate) _kills.Add(watch);
        return watch;
    }

    /// <summary>Records one answered request that was sent at <paramref name="started"/> and answered at <paramref name="finished"/>.</summary>
    internal void Completed(BankRequest request, TimeSpan started, TimeSpan finished)
    {
        lock (_gate)
        {
            if (finished - _last > _longestGap)
            {
                _longestGap = finished - _last;
                _longestGapEnd = finished;
            }

            if (finished > _last) _last = finished;
            if (finished - started > _slowest)
            {
                _slowest = finished - started;
                _slowestRequest = request;
                _slowestEnd = finished;
            }

            foreach (var kill in _kills)
            {
                if (kill.FirstAnswer is null && started >= kill.At && request.Components().Any(kill.Components.Contains))
                    kill.FirstAnswer = finished - kill.At;
            }
        }
    }
}

/// <summary>One kill: which silo, what it owned, when, and how long until a request needing its components was answered.</summary>
public sealed class KillWatch(string siloId, IReadOnlySet<string> components, TimeSpan at)
{
    /// <summary>The killed silo.</summary>
    public string SiloId { get; } = siloId;

    /// <summary>The component ids it owned at the kill.</summary>
    public IReadOnlySet<string> Components { get; } = components;

    /// <summary>Run time of the kill.</summary>
    public TimeSpan At { get; } = at;

    /// <summary>From the kill until the first answer to a request sent after it that needed one of <see cref="Components"/>; null while none.</summary>
    public TimeSpan? FirstAnswer { get; internal set; }
}
