using System.Collections.Concurrent;
using Bank;
using Middleware.Client;

namespace Middleware.Tests.Cluster;

/// <summary>
/// Closed loops of teller transfers between random pairs of accounts (worker w uses teller w mod the tellers), counting
/// per teller the transfers each acknowledged; a refused debit moves nothing and is not counted. A loop stops at the first
/// other failure and keeps it, so a test sees every error a client saw.
/// </summary>
internal sealed class TellerLoad
{
    private readonly ConcurrentDictionary<string, long> _completed = new();
    private readonly ConcurrentQueue<Exception> _failures = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task[] _workers;
    private long _total;

    private TellerLoad(MiddlewareClient client, IReadOnlyList<string> tellers, IReadOnlyList<string> accounts, int maxAmount, int workers) =>
        _workers = Enumerable.Range(0, workers).Select(w => Task.Run(() => WorkerAsync(client, tellers, accounts, maxAmount, w))).ToArray();

    /// <summary>Transfers attempted so far (acknowledged or refused).</summary>
    public long Total => Interlocked.Read(ref _total);

    /// <summary>The failures loops stopped on (empty when every transfer was acknowledged or refused).</summary>
    public IReadOnlyCollection<Exception> Failures => _failures;

    /// <summary>Transfers acknowledged in all.</summary>
    public long Completed => _completed.Values.Sum();

    /// <summary>Starts <paramref name="workers"/> loops of transfers of 1 to <paramref name="maxAmount"/> - 1.</summary>
    public static TellerLoad Start(MiddlewareClient client, IReadOnlyList<string> tellers, IReadOnlyList<string> accounts, int maxAmount, int workers = 8) =>
        new(client, tellers, accounts, maxAmount, workers);

    /// <summary>Transfers <paramref name="teller"/> acknowledged.</summary>
    public long CompletedBy(string teller) => _completed.GetValueOrDefault(teller);

    /// <summary>Stops the loops and waits for them (at most <paramref name="patience"/>).</summary>
    public async Task StopAsync(TimeSpan patience)
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_workers).WaitAsync(patience);
        _stop.Dispose();
    }

    private async Task WorkerAsync(MiddlewareClient client, IReadOnlyList<string> tellers, IReadOnlyList<string> accounts, int maxAmount, int worker)
    {
        var random = new Random(worker);
        var teller = tellers[worker % tellers.Count];
        while (!_stop.IsCancellationRequested)
        {
            var from = random.Next(accounts.Count);
            var to = (from + 1 + random.Next(accounts.Count - 1)) % accounts.Count;
            try
            {
                await client.GetComponent<ITeller>(teller).Transfer(accounts[from], accounts[to], random.Next(1, maxAmount));
                _completed.AddOrUpdate(teller, 1, (_, v) => v + 1);
            }
            catch (InsufficientFundsException)
            {
                // Refused: nothing moved.
            }
            catch (Exception e)
            {
                _failures.Enqueue(e);
                return;
            }

            Interlocked.Increment(ref _total);
        }
    }
}
