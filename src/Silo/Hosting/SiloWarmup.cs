using System.Diagnostics;
using System.Globalization;
using System.Net;
using Microsoft.Extensions.Logging;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Protocol;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;
using Middleware.Recovery.Stores;

namespace Middleware.Silo;

/// <summary>
/// Runs a silo's request path once before it joins the cluster, so the code a joining silo's first requests and moved
/// components take is compiled before any of them arrive: a started process has compiled little of its own code, and on a
/// small box the JIT of the first activations and turns competed with the silos already serving (bench/README.md,
/// "rebalance"). It runs <see cref="SiloOptions.WarmupTurns"/> turns of an internal component on a scratch runtime over a
/// scratch store of the same kind where that is cheap (a temporary SQLite file for an SQLite silo; the in-memory store
/// otherwise), with claims, the group commit, a checkpoint, a deactivation and an activation from the checkpoint; reads
/// an id that does not exist from the silo's own store (never writes there); and sends one request over the protocol to
/// the silo's own port (handshake, codec, frame handler, router). Nothing of it is visible in the store or to clients.
/// Best effort: a step that fails is logged and the silo joins anyway. The turns are bounded by <see cref="Timeout"/>; the
/// store read and the call to itself by <see cref="StepTimeout"/> each, so turns slowed down by a loaded box do not use up
/// the time of the two short steps (a CI run's turns took 14 s and the call to itself was cancelled before it began).
/// </summary>
internal static class SiloWarmup
{
    /// <summary>The longest a warm-up may delay the join.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    /// <summary>The longest each of the two short steps after the turns (the store read, the call to itself) may take.</summary>
    public static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Scratch components the turns are spread over (the group commit sees concurrent turns).</summary>
    private const int Components = 8;

    /// <summary>What a warm-up did.</summary>
    public sealed record Result(int Turns, double Milliseconds, string? Problem);

    /// <summary>Runs the warm-up (see the class summary); never throws but for cancellation of <paramref name="cancellationToken"/>.</summary>
    public static async Task<Result> RunAsync(SiloOptions options, ILogStore store, IPEndPoint protocol, TimeProvider time, ILogger logger, CancellationToken cancellationToken)
    {
        if (options.WarmupTurns <= 0) return new Result(0, 0, null);
        var started = Stopwatch.GetTimestamp();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Timeout);
        var problems = new List<string>();
        var turns = 0;
        try
        {
            turns = await RunTurnsAsync(options, time, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            problems.Add("turns: " + e.Message);
        }

        try
        {
            using var step = Step(cancellationToken);
            await ReadStoreAsync(options, store, step.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            problems.Add("store read: " + e.Message);
        }

        try
        {
            using var step = Step(cancellationToken);
            await CallSelfAsync(options, protocol, step.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            problems.Add("protocol: " + e.Message);
        }

        var ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        var problem = problems.Count == 0 ? null : string.Join("; ", problems);
        if (problem is null)
            logger.LogInformation("Silo {SiloId}: warmed up before joining ({Turns} turns on a scratch store, {Ms:0} ms)", options.SiloId, turns, ms);
        else
            logger.LogWarning("Silo {SiloId}: the warm-up before joining was partial ({Problem}); joining anyway after {Ms:0} ms", options.SiloId, problem, ms);
        return new Result(turns, ms, problem);
    }

    private static CancellationTokenSource Step(CancellationToken cancellationToken)
    {
        var step = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        step.CancelAfter(StepTimeout);
        return step;
    }

    /// <summary>The turns on a scratch runtime; returns how many ran.</summary>
    private static async Task<int> RunTurnsAsync(SiloOptions options, TimeProvider time, CancellationToken cancellationToken)
    {
        string? file = null;
        var scheme = LogStores.SchemeOf(options.Store);
        if (scheme == "sqlite")
            file = Path.Combine(Path.GetTempPath(), $"middleware-warmup-{Environment.ProcessId}-{Guid.NewGuid():N}.db");
        var scratch = await LogStores.OpenAsync(file is null ? "memory:" : "sqlite:" + file, cancellationToken).ConfigureAwait(false);
        try
        {
            var registry = new ComponentRegistry().Add<IWarmupCounter, WarmupCounter>();
            var runtimeOptions = new RuntimeOptions
            {
                OwnerId = options.SiloId,
                MaxBatchSize = options.Runtime.MaxBatchSize,
            };
            var environment = new RuntimeEnvironment { TimeProvider = time };
            if (scratch is IClusterStore cluster)
            {
                // Claims as a silo makes them (respecting a live owner), so the claim path is the one moves take.
                await cluster.JoinAsync(options.SiloId, "warmup", null, options.DeadAfter, cancellationToken).ConfigureAwait(false);
                environment.Ownership = new ClusterOwnership(cluster, options.SiloId);
            }

            var runtime = new LocalRuntime(scratch, registry, runtimeOptions, environment);
            await using (runtime.ConfigureAwait(false))
            {
                var add = ComponentInterface.Of(typeof(IWarmupCounter)).Methods[nameof(IWarmupCounter.Add)].EncodeArgs([1L], registry.Json);
                var ids = Enumerable.Range(0, Components).Select(i => new ComponentId(ComponentInterface.TypeNameOf(typeof(IWarmupCounter)), "w" + i.ToString(CultureInfo.InvariantCulture))).ToArray();
                var perComponent = Math.Max(1, options.WarmupTurns / (2 * Components));
                var count = 0;

                async Task TurnsAsync(string round)
                {
                    await Task.WhenAll(ids.Select(async id =>
                    {
                        for (var n = 0; n < perComponent; n++)
                        {
                            var reply = await runtime.InvokeAsync(new Invocation(id, $"{round}-{id.Key}-{n}", nameof(IWarmupCounter.Add), add), cancellationToken).ConfigureAwait(false);
                            if (reply.ErrorType is not null) throw new InvalidOperationException($"a warm-up turn failed: {reply.ErrorType}: {reply.ErrorMessage}");
                            Interlocked.Increment(ref count);
                        }
                    })).ConfigureAwait(false);
                }

                await TurnsAsync("a").ConfigureAwait(false);
                // What a handover does at both ends: a checkpoint, a deactivation, then an activation from the checkpoint
                // (claim, read) and turns on top of it.
                foreach (var id in ids)
                {
                    await runtime.CheckpointAsync(id, cancellationToken).ConfigureAwait(false);
                    await runtime.DeactivateAsync(id, cancellationToken).ConfigureAwait(false);
                }

                await Task.WhenAll(ids.Select(id => runtime.ActivateAsync(id, cancellationToken))).ConfigureAwait(false);
                await TurnsAsync("b").ConfigureAwait(false);
                return count;
            }
        }
        finally
        {
            await scratch.DisposeAsync().ConfigureAwait(false);
            if (file is not null)
            {
                foreach (var path in new[] { file, file + "-wal", file + "-shm", file + "-journal" })
                {
                    try
                    {
                        File.Delete(path);
                    }
                    catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                    {
                        // A temporary file left behind is harmless.
                    }
                }
            }
        }
    }

    /// <summary>Reads of a component id that cannot exist in the silo's store: its read queries, never a write.</summary>
    private static async Task ReadStoreAsync(SiloOptions options, ILogStore store, CancellationToken cancellationToken)
    {
        var id = new ComponentId(ComponentInterface.TypeNameOf(typeof(IWarmupCounter)), "$" + options.SiloId).ToString();
        await store.GetHeadAsync(id, cancellationToken).ConfigureAwait(false);
        await store.ReadForActivationAsync(id, cancellationToken).ConfigureAwait(false);
        await store.FindRequestAsync(id, "$warmup", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// One connection to the silo's own protocol port as a peer silo, and a request for a component type no silo has
    /// (answered by the router without touching the store or the runtime's activations).
    /// </summary>
    private static async Task CallSelfAsync(SiloOptions options, IPEndPoint protocol, CancellationToken cancellationToken)
    {
        var address = protocol.Address.Equals(IPAddress.Any) ? IPAddress.Loopback
            : protocol.Address.Equals(IPAddress.IPv6Any) ? IPAddress.IPv6Loopback
            : protocol.Address;
        var connection = await MiddlewareConnection.ConnectAsync(new IPEndPoint(address, protocol.Port), new ConnectionOptions
        {
            SenderId = options.SiloId + "-warmup",
            Role = PeerRole.Silo,
            Key = options.EffectiveSiloKey,
            ConnectTimeout = TimeSpan.FromSeconds(2),
            HandshakeTimeout = TimeSpan.FromSeconds(2),
            RequestTimeout = TimeSpan.FromSeconds(5),
            Tls = options.LoadedTls?.Peers,
        }, cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var args = ComponentInterface.Of(typeof(IWarmupCounter)).Methods[nameof(IWarmupCounter.Add)].EncodeArgs([1L], ComponentJson.Default);
            for (var i = 0; i < 4; i++)
            {
                var request = new InvokeMessage("$warmup", "w" + i.ToString(CultureInfo.InvariantCulture), nameof(IWarmupCounter.Add), "$warmup-" + i.ToString(CultureInfo.InvariantCulture), null, null, args, InvokeFlags.Forwarded);
                await connection.InvokeAsync(request, cancellationToken).ConfigureAwait(false);
            }
        }
    }
}

/// <summary>The warm-up's component (never registered with a silo's components: clients cannot reach it).</summary>
[ComponentType("$warmup.counter")]
internal interface IWarmupCounter : IRecoverableComponent
{
    Task<long> Add(long amount);
}

/// <summary>The state of <see cref="WarmupCounter"/>.</summary>
internal sealed class WarmupCounterState
{
    public long Count { get; set; }
}

/// <summary>A counter: the smallest component that takes the whole turn path (state, log record, reply).</summary>
internal sealed class WarmupCounter : RecoverableGrain<WarmupCounterState>, IWarmupCounter
{
    public Task<long> Add(long amount)
    {
        State.Count += amount;
        return Task.FromResult(State.Count);
    }
}
