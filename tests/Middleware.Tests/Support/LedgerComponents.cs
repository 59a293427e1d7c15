using Middleware.Grains;

namespace Middleware.Tests.Support;

/// <summary>A component that posts to a back-end ledger table through idempotent procedures.</summary>
public interface IPoster : IRecoverableComponent
{
    /// <summary>Posts one ledger row; returns how many rows the ledger had after the insert.</summary>
    Task<long> Post(string account, long amount);

    /// <summary>Draws a random amount first (recorded nondeterminism), then posts it; returns the amount.</summary>
    Task<long> PostRandom(string account);

    /// <summary>Asks the back end to post, but the work aborts.</summary>
    Task<long> PostRefused(string account, long amount);

    /// <summary>Reads the ledger's row count (an exploratory read), then posts a row carrying it.</summary>
    Task<long> PostWithCount(string account);

    /// <summary>Posts through work that throws a bug of its own (not a back-end failure).</summary>
    Task<long> PostBuggy(string account);

    [ReadOnlyTurn]
    Task<long> Posted();
}

public sealed class PosterState
{
    public long Posted { get; set; }
}

public sealed class Poster : RecoverableGrain<PosterState>, IPoster
{
    public const string Table = "CREATE TABLE IF NOT EXISTS ledger (request_id TEXT PRIMARY KEY, account TEXT NOT NULL, amount INTEGER NOT NULL)";

    public async Task<long> Post(string account, long amount)
    {
        var rows = await Context.Backend("ledger").ExecuteAsync("post", new { account, amount }, w => Insert(w, account, amount));
        State.Posted++;
        return rows;
    }

    public async Task<long> PostRandom(string account)
    {
        var amount = Context.Random.Next(1, 1_000_000);
        await Context.Backend("ledger").ExecuteAsync("post", new { account, amount }, w => Insert(w, account, amount));
        State.Posted++;
        return amount;
    }

    public async Task<long> PostRefused(string account, long amount)
    {
        State.Posted += 1000; // must be undone: the turn fails
        return await Context.Backend("ledger").ExecuteAsync<long>("post", new { account, amount }, async w =>
        {
            await Insert(w, account, amount);
            throw new IdempotentAbortException($"ledger refuses {amount} for {account}");
        });
    }

    public async Task<long> PostWithCount(string account)
    {
        var count = await Context.Backend("ledger").ReadAsync(async (connection, ct) =>
        {
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT count(*) FROM ledger";
            return Convert.ToInt64(await command.ExecuteScalarAsync(ct));
        });
        await Context.Backend("ledger").ExecuteAsync("post", new { account, amount = count }, w => Insert(w, account, count));
        State.Posted++;
        return count;
    }

    public async Task<long> PostBuggy(string account)
    {
        State.Posted++; // undone: the turn fails
        return await Context.Backend("ledger").ExecuteAsync<long>("post", new { account }, async w =>
        {
            await Insert(w, account, 1);
            throw new InvalidOperationException("a bug in the work");
        });
    }

    public Task<long> Posted() => Task.FromResult(State.Posted);

    private static async Task<long> Insert(IdempotentWork w, string account, long amount)
    {
        await using (var insert = w.Command("INSERT INTO ledger(request_id, account, amount) VALUES (@id, @account, @amount)", new { id = w.RequestId, account, amount }))
        {
            await insert.ExecuteNonQueryAsync(w.CancellationToken);
        }

        await using var count = w.Command("SELECT count(*) FROM ledger");
        return Convert.ToInt64(await count.ExecuteScalarAsync(w.CancellationToken));
    }
}
