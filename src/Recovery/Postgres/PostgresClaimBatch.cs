using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;
using Npgsql;
using static Middleware.Recovery.Postgres.PostgresCluster;

namespace Middleware.Recovery.Postgres;

/// <summary>
/// Claims that arrive together decided in one transaction (one commit, one WAL flush) and one round trip for their
/// statements: many components activating at once (a first touch of many keys, reactivations past the activation limit,
/// a takeover) no longer pay a transaction and four round trips each. One batch runs at a time; claims that arrive
/// meanwhile wait for the next. Two claims of the same component never share a batch (the later waits for the next), so
/// each is decided on committed rows as it would be alone.
/// </summary>
/// <remarks>
/// How a batch decides, in component id order (so two batches lock rows in the same order): for a claim that respects live
/// silos, the rule-2 marking once, then one conditional statement per claim: a first claim inserts the row
/// (<see cref="PostgresCluster.ClaimNew"/>: nothing when a row exists), a later one raises the epoch only when the stored
/// epoch is the expected one and the owner is no active silo other than the claimer (<see cref="SiloClaimNext"/>); the
/// server locks the row and re-checks the epoch on its latest version, exactly as the single claim's locked read does. A
/// claim those statements refused is decided again the single claim's way, in the same transaction (locked read, then the
/// same rules), so a refusal names the live owner or is a conflict as before. An epoch-only claim is the single statement
/// of <see cref="PostgresQueries.ClaimAsync"/>. A batch that loses a deadlock (an append batch locking the same rows in
/// another order) decides each claim alone.
/// </remarks>
internal sealed class PostgresClaimBatch(NpgsqlDataSource source)
{
    /// <summary>The most claims in one transaction.</summary>
    private const int MaxBatch = 256;

    /// <summary>The epoch bump of a claim that respects live silos, with the owner check in its WHERE.</summary>
    internal const string SiloClaimNext =
        "UPDATE components c SET epoch = c.epoch + 1, owner = $2, updated_at = now() WHERE c.id = $1 AND c.epoch = $3 " +
        "AND (c.owner IS NULL OR c.owner = $2 OR NOT EXISTS (SELECT 1 FROM silos s WHERE s.silo_id = c.owner AND s.status = 1)) " +
        "RETURNING c.epoch, c.owner, c.last_seq, c.checkpoint_seq";

    private readonly ClaimQueue _claims = new(MaxBatch);

    public Task<ClaimResult> ClaimAsync(ClaimRequest request)
    {
        var result = _claims.Enqueue(request, out var startDrain);
        if (startDrain) _ = Task.Run(DrainAsync);
        return result;
    }

    private async Task DrainAsync()
    {
        while (true)
        {
            var batch = _claims.Take();
            if (batch is null)
            {
                if (!_claims.StopDraining()) return;
                continue;
            }

            try
            {
                ClaimQueue.Complete(batch, await ClaimManyAsync(source, batch.ConvertAll(p => p.Request), CancellationToken.None).ConfigureAwait(false));
            }
            catch (Exception e)
            {
                ClaimQueue.Fail(batch, e);
            }
        }
    }

    /// <summary>Decides <paramref name="requests"/> (distinct components) in one transaction; results in request order.</summary>
    internal static async Task<ClaimResult[]> ClaimManyAsync(NpgsqlDataSource source, IReadOnlyList<ClaimRequest> requests, CancellationToken ct)
    {
        try
        {
            return await ClaimTogetherAsync(source, requests, ct).ConfigureAwait(false);
        }
        catch (PostgresException e) when (e.SqlState is "40P01" or "40001")
        {
            // Lost a deadlock with another writer (nothing of this transaction stands): each claim alone, as before batching.
            var results = new ClaimResult[requests.Count];
            for (var i = 0; i < requests.Count; i++)
            {
                var r = requests[i];
                results[i] = r.RespectsLiveSilo
                    ? await ClaimForSiloAsync(source, r.ComponentId, r.ExpectedEpoch, r.Owner, ct).ConfigureAwait(false)
                    : new ClaimResult(await PostgresQueries.ClaimAsync(source, r.ComponentId, r.ExpectedEpoch, r.Owner, ct).ConfigureAwait(false));
            }

            return results;
        }
    }

    private static async Task<ClaimResult[]> ClaimTogetherAsync(NpgsqlDataSource source, IReadOnlyList<ClaimRequest> requests, CancellationToken ct)
    {
        var order = Enumerable.Range(0, requests.Count).OrderBy(i => requests[i].ComponentId, StringComparer.Ordinal).ToArray();
        var results = new ClaimResult?[requests.Count];
        await using var connection = await source.OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
        if (requests.Any(r => r.RespectsLiveSilo)) await MarkDeadAsync(connection, transaction, ct).ConfigureAwait(false);
        await using (var batch = new NpgsqlBatch(connection, transaction))
        {
            foreach (var i in order)
            {
                var r = requests[i];
                var command = new NpgsqlBatchCommand(r.ExpectedEpoch == 0
                    ? (r.RespectsLiveSilo ? ClaimNew : PostgresQueries.ClaimNew)
                    : (r.RespectsLiveSilo ? SiloClaimNext : PostgresQueries.ClaimNext));
                command.Parameters.Add(Text(r.ComponentId));
                command.Parameters.Add(Text(r.Owner));
                if (r.ExpectedEpoch != 0) command.Parameters.Add(Long(r.ExpectedEpoch));
                batch.BatchCommands.Add(command);
            }

            await using var reader = await batch.ExecuteReaderAsync(ct).ConfigureAwait(false);
            for (var k = 0; k < order.Length; k++)
            {
                if (k > 0) await reader.NextResultAsync(ct).ConfigureAwait(false);
                if (!await reader.ReadAsync(ct).ConfigureAwait(false)) continue;
                var r = requests[order[k]];
                results[order[k]] = new ClaimResult(new ComponentHead(r.ComponentId, reader.GetInt64(0), reader.IsDBNull(1) ? null : reader.GetString(1), reader.GetInt64(2), reader.GetInt64(3)));
            }
        }

        // Refused: an epoch-only claim is a conflict; one that respects live silos is decided again the single claim's way.
        foreach (var i in order)
        {
            if (results[i] is not null) continue;
            var r = requests[i];
            results[i] = r.RespectsLiveSilo ? await DecideAloneAsync(connection, transaction, r, ct).ConfigureAwait(false) : new ClaimResult(null);
        }

        await transaction.CommitAsync(ct).ConfigureAwait(false);
        return results!;
    }

    /// <summary>The single silo claim's decision (<see cref="ClaimForSiloAsync"/>) inside the batch's transaction.</summary>
    private static async Task<ClaimResult> DecideAloneAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, ClaimRequest r, CancellationToken ct)
    {
        (long Epoch, string? Owner, string? LiveAddress)? current = null;
        await using (var lockHead = new NpgsqlCommand(LockHead, connection, transaction))
        {
            lockHead.Parameters.Add(Text(r.ComponentId));
            await using var reader = await lockHead.ExecuteReaderAsync(ct).ConfigureAwait(false);
            if (await reader.ReadAsync(ct).ConfigureAwait(false))
                current = (reader.GetInt64(0), reader.IsDBNull(1) ? null : reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2));
        }

        if (current is null)
        {
            return r.ExpectedEpoch != 0
                ? new ClaimResult(null)
                : new ClaimResult(await HeadAsync(connection, transaction, ClaimNew, r.ComponentId, ct, Text(r.ComponentId), Text(r.Owner)).ConfigureAwait(false));
        }

        if (current.Value.Owner is { } owner && !string.Equals(owner, r.Owner, StringComparison.Ordinal) && current.Value.LiveAddress is { } address)
            return new ClaimResult(null, owner, address);
        if (current.Value.Epoch != r.ExpectedEpoch) return new ClaimResult(null);
        return new ClaimResult(await HeadAsync(connection, transaction, ClaimNext, r.ComponentId, ct, Text(r.ComponentId), Text(r.Owner), Long(r.ExpectedEpoch)).ConfigureAwait(false));
    }
}
