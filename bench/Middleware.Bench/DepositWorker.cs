using System.Diagnostics;
using Bank;
using Middleware.Client;
using Middleware.Core;
using Middleware.Grains;

namespace Middleware.Bench;

/// <summary>One acknowledged deposit: when it was sent and answered (Stopwatch ticks) and which account.</summary>
internal readonly record struct Completion(long Start, long End, int Key);

/// <summary>
/// A closed loop of <c>Deposit(1)</c> on random accounts through the client SDK, keeping every acknowledged deposit
/// (per account in <c>acked</c>, and as a <see cref="Completion"/>) for the gap, latency and lost/duplicated checks of the
/// failover and rebalance scenarios. <see cref="Completions"/> may be read while the loop runs: lock it.
/// </summary>
internal sealed class DepositWorker(int index, int seed) : LoopCounters
{
    private static readonly string AccountType = ComponentInterface.TypeNameOf(typeof(IAccount));

    public List<Completion> Completions { get; } = new(1 << 16);

    public async Task RunAsync(MiddlewareClient client, string[] keys, long[] acked, ReadOnlyMemory<byte> depositArgs, RunControl control)
    {
        var random = new Random(unchecked((seed * 1_000_003) + index));
        while (!control.Stop)
        {
            var k = random.Next(keys.Length);
            var start = Stopwatch.GetTimestamp();
            var ok = false;
            try
            {
                var reply = await client.InvokeAsync(new ComponentId(AccountType, keys[k]), nameof(IAccount.Deposit), depositArgs).ConfigureAwait(false);
                if (reply.IsError) throw new InvalidOperationException($"Deposit on {keys[k]} answered an error: {reply}");
                ok = true;
                Interlocked.Increment(ref acked[k]);
                lock (Completions) Completions.Add(new Completion(start, Stopwatch.GetTimestamp(), k));
            }
            catch (Exception e)
            {
                Failed(e);
            }

            Done(start, ok, control);
        }
    }
}
